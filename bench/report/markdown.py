"""Render a Document to Markdown (GitHub flavour; tables via pandas/tabulate)."""

from __future__ import annotations

from bench.report.doc import Bullets, Document, Figure, Gallery, Table, Text


def render_markdown(doc: Document) -> str:
    out = [f"# {doc.title}", "", doc.subtitle, "", "Contents:", ""]
    out += [f"- [{s.title}](#{s.anchor})" for s in doc.sections]
    for section in doc.sections:
        out += ["", f"## {section.title}", ""]
        for block in section.blocks:
            out += [*render_block(block), ""]
    return "\n".join(out).rstrip() + "\n"


def render_block(block) -> list[str]:
    if isinstance(block, Text):
        return [block.text]
    if isinstance(block, Bullets):
        return [f"- {item}" for item in block.items]
    if isinstance(block, Table):
        head = [f"*{block.caption}*", ""] if block.caption else []
        cells = block.df.map(lambda v: " ".join(str(v).split()).replace("|", "\\|"))
        return [*head, cells.to_markdown(index=False, disable_numparse=True)]
    if isinstance(block, Figure):
        return [f"![{block.caption}]({block.path})", "", f"*{block.caption}*"]
    if isinstance(block, Gallery):
        labels = [label for label, _ in block.items]
        cells = [f"![{label}]({path})" if path else "no grid" for label, path in block.items]
        return [
            f"**{block.title}**",
            "",
            "| " + " | ".join(labels) + " |",
            "|" + "---|" * len(labels),
            "| " + " | ".join(cells) + " |",
        ]
    raise TypeError(f"unknown block {type(block).__name__}")
