"""The documentation site builds with every warning an error (a broken link or anchor, a page missing
from the navigation, a reference to a symbol that no longer exists), and it can fail."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def build(root: Path, site: Path) -> subprocess.CompletedProcess:
    """`mkdocs build --strict` of the site configured in `root/mkdocs.yml`, into `site`."""
    cmd = [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(root / "mkdocs.yml"),
           "--site-dir", str(site)]  # fmt: skip
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # the theme's end-of-life banner
    return subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=300, env=env)


def test_the_site_builds_strictly(tmp_path):
    p = build(REPO, tmp_path / "site")
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert (tmp_path / "site" / "index.html").is_file()


def test_a_broken_link_fails_the_build(tmp_path):
    """The same site with a link to a page that does not exist and one to a heading that does not."""
    shutil.copy(REPO / "mkdocs.yml", tmp_path / "mkdocs.yml")
    shutil.copytree(REPO / "docs", tmp_path / "docs")
    for package in ("bench", "impls_torch", "impls_tf", "impls_jax"):  # what the API reference reads
        (tmp_path / package).symlink_to(REPO / package)
    index = tmp_path / "docs" / "index.md"
    index.write_text(index.read_text() + "\nSee [a page](no-such-page.md) and [a heading](usage.md#no-such-one).\n")
    p = build(tmp_path, tmp_path / "site")
    assert p.returncode != 0
    assert "no-such-page.md" in p.stdout + p.stderr and "no-such-one" in p.stdout + p.stderr
