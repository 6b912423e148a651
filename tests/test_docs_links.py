"""The README and docs/ stay a self-contained guide: every Markdown link stays inside the repository, points at
a file that exists and, with an `#anchor`, at a heading of that file (GitHub's slug rule). The README stays short
and starts with the two copy-paste commands that CI runs. Pure Python: no framework is imported."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
MAX_README_LINES = 150

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")
# [text](target) and ![alt](target); the target may be <...> and may carry a "title".
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*(<[^>]*>|[^\s)]*)(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)")
REFERENCE_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)")
HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def markdown_files() -> list[Path]:
    return [README, *sorted((REPO / "docs").rglob("*.md"))]


def prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) for every line outside fenced code blocks."""
    out, fence = [], None
    for number, line in enumerate(text.splitlines(), start=1):
        m = FENCE.match(line)
        if fence is None:
            if m:
                fence = m.group(1)
                continue
            out.append((number, line))
        elif m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) and not line[m.end() :].strip():
            fence = None
    return out


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text lowercased, punctuation but '-' and '_' dropped, spaces to '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading keeps its text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading's slug in a Markdown file, with GitHub's -1, -2 ... suffixes for repeated headings."""
    seen: dict[str, int] = {}
    for _, line in prose_lines(path.read_text(encoding="utf-8")):
        m = HEADING.match(line)
        if not m:
            continue
        base = slug(m.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        if count:
            seen.setdefault(f"{base}-{count}", 1)
    return set(seen)


def links(path: Path) -> list[tuple[int, str]]:
    """(line number, target) of every inline link, image and reference definition outside code."""
    found = []
    for number, line in prose_lines(path.read_text(encoding="utf-8")):
        prose = CODE_SPAN.sub("", line)
        targets = [m.group(1) for m in INLINE_LINK.finditer(prose)]
        if m := REFERENCE_DEF.match(prose):
            targets.append(m.group(1))
        found += [(number, t[1:-1] if t.startswith("<") else t) for t in targets]
    return found


def problem(source: Path, target: str) -> str | None:
    """Why a link from `source` to `target` is bad, or None when it is fine."""
    if not target:
        return "empty target"
    if SCHEME.match(target) or target.startswith("//"):
        return "leaves the repository (URL): name it in words instead"
    if target.startswith("/"):
        return "absolute path"
    file_part, _, anchor = target.partition("#")
    dest = (source.parent / file_part).resolve() if file_part else source
    if dest != REPO and REPO not in dest.parents:
        return "resolves outside the repository"
    if not dest.exists():
        return "no such file"
    if anchor:
        if dest.is_dir() or dest.suffix.lower() != ".md":
            return "anchor into a file that is not Markdown"
        if anchor not in anchors(dest):
            return f"no heading with anchor #{anchor} in {dest.relative_to(REPO)}"
    return None


def test_links_stay_in_the_repository_and_resolve():
    bad = []
    for path in markdown_files():
        for number, target in links(path):
            why = problem(path, target)
            if why:
                bad.append(f"{path.relative_to(REPO)}:{number} {target} ({why})")
    assert not bad, "bad links:\n" + "\n".join(bad)


def test_readme_is_short_and_starts_with_the_two_commands():
    text = README.read_text(encoding="utf-8")
    lines = text.count("\n")  # as wc -l counts
    assert lines <= MAX_README_LINES, f"README.md has {lines} lines, at most {MAX_README_LINES}"
    blocks, current, fence = [], [], None
    for line in text.splitlines():
        m = FENCE.match(line)
        if fence is None and m:
            fence, current = m.group(1), []
        elif fence is not None and m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence):
            blocks.append("\n".join(current))
            fence = None
        elif fence is not None:
            current.append(line)
    assert len(blocks) >= 2, "README.md needs the two fenced commands at its start"
    assert "python -m bench run --suite all" in blocks[0], "first fenced block: the main job"
    assert "python -m pytest" in blocks[1], "second fenced block: the tests"
    ci = [line for line in text.splitlines() if re.match(r"^python3 -m venv .* python -m pytest", line)]
    assert ci, "CI greps README.md for the line starting with `python3 -m venv` that runs `python -m pytest`"


def test_slug_rule():
    assert slug("Long runs: checkpoints, resume, FID along training") == (
        "long-runs-checkpoints-resume-fid-along-training"
    )
    assert slug("Options of `run`") == "options-of-run"
    assert slug("Speed regression checks (pytest-benchmark)") == "speed-regression-checks-pytest-benchmark"
    assert slug("snake_case and [a link](x.md)") == "snake_case-and-a-link"


def subcommands() -> list[str]:
    """Every `python -m bench` subcommand: the parser's own and the delegated ones."""
    from bench.cli import DELEGATED, build_parser

    parser = build_parser()
    choices = next(a.choices for a in parser._actions if getattr(a, "choices", None) and a.dest == "command")
    return sorted({*choices, *DELEGATED})


def test_every_subcommand_is_in_the_readme_and_the_usage_page():
    readme = README.read_text(encoding="utf-8")
    usage = (REPO / "docs" / "usage.md").read_text(encoding="utf-8")
    names = subcommands()
    assert {"run", "report", "compare", "parity", "fid", "list", "download"} <= set(names)
    for name in names:
        assert f"python -m bench {name}" in readme, f"README.md: no `python -m bench {name}` in the command list"
        assert f"python -m bench {name}" in usage, f"docs/usage.md: no `python -m bench {name}`"
