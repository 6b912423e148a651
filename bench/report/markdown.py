"""Render a Document to Markdown (GitHub flavour; tables via pandas/tabulate)."""

from __future__ import annotations

import html
import re

from bench.report.doc import Bullets, Document, Figure, Gallery, Table, Text


def escaped(text: str) -> str:
    """`text` with <, > and & as HTML entities outside `code` spans, as the HTML report escapes them: a
    value from input (a suite name, a dataset folder) must not become markup where Markdown is rendered.
    Code spans show their text literally already."""
    parts = re.split(r"(`[^`]*`)", str(text))
    return "".join(p if p.startswith("`") and p.endswith("`") and len(p) > 1 else html.escape(p, quote=False)
                   for p in parts)  # fmt: skip


def render_markdown(doc: Document) -> str:
    out = [f"# {escaped(doc.title)}", "", escaped(doc.subtitle), "", "Contents:", ""]
    out += [f"- [{escaped(s.title)}](#{s.anchor})" for s in doc.sections]
    for section in doc.sections:
        out += ["", f"## {escaped(section.title)}", ""]
        for block in section.blocks:
            out += [*render_block(block), ""]
    return "\n".join(out).rstrip() + "\n"


def render_block(block) -> list[str]:
    if isinstance(block, Text):
        return [escaped(block.text)]
    if isinstance(block, Bullets):
        return [f"- {escaped(item)}" for item in block.items]
    if isinstance(block, Table):
        head = [f"*{escaped(block.caption)}*", ""] if block.caption else []
        cells = block.df.map(lambda v: escaped(" ".join(str(v).split())).replace("|", "\\|"))
        return [*head, cells.to_markdown(index=False, disable_numparse=True)]
    if isinstance(block, Figure):
        return [f"![{escaped(block.caption)}]({block.path})", "", f"*{escaped(block.caption)}*"]
    if isinstance(block, Gallery):
        labels = [escaped(label) for label, _ in block.items]
        cells = [f"![{escaped(label)}]({path})" if path else "no grid" for label, path in block.items]
        return [
            f"**{escaped(block.title)}**",
            "",
            "| " + " | ".join(labels) + " |",
            "|" + "---|" * len(labels),
            "| " + " | ".join(cells) + " |",
        ]
    raise TypeError(f"unknown block {type(block).__name__}")
