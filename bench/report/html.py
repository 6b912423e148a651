"""Render a Document to one self-contained HTML page: embedded CSS, no script, images by relative path.

The page opens straight from disk (file://); the PNG files sit next to it in figures/ and grids/.
"""

from __future__ import annotations

import html
import re

from bench.report.doc import Bullets, Document, Figure, Gallery, Table, Text

CSS = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222;
       max-width: 1200px; margin: 2em auto; padding: 0 1.5em; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 2px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }
.subtitle { color: #555; margin-top: 0; }
nav ul { columns: 2; font-size: 14px; }
table.report { border-collapse: collapse; margin: 0.6em 0 1.2em; font-size: 13px; }
table.report th { background: #f2f2f2; text-align: left; }
table.report th, table.report td { border: 1px solid #ddd; padding: 3px 8px; vertical-align: top; }
table.report tr:nth-child(even) td { background: #fafafa; }
.caption { font-style: italic; color: #444; margin: 0.8em 0 0.2em; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 13px; color: #555; }
.gallery { display: flex; gap: 1.5em; flex-wrap: wrap; align-items: flex-start; }
.gallery figure { margin: 0.3em 0; } .gallery img { width: 300px; image-rendering: pixelated; }
.missing { width: 300px; height: 120px; display: flex; align-items: center; justify-content: center;
           background: #f4f4f4; color: #888; }
code { background: #f2f2f2; padding: 0 3px; border-radius: 3px; }
"""


def inline(text: str) -> str:
    """Escape, then turn `code` and **bold** into tags (the Markdown subset Text blocks use)."""
    out = html.escape(text)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", out)


def render_block(block) -> str:
    if isinstance(block, Text):
        return f"<p>{inline(block.text)}</p>"
    if isinstance(block, Bullets):
        return "<ul>" + "".join(f"<li>{inline(item)}</li>" for item in block.items) + "</ul>"
    if isinstance(block, Table):
        caption = f'<p class="caption">{inline(block.caption)}</p>' if block.caption else ""
        return caption + block.df.to_html(index=False, border=0, classes="report", escape=True, na_rep="—")
    if isinstance(block, Figure):
        src, cap = html.escape(block.path), html.escape(block.caption)
        return f'<figure><img src="{src}" alt="{cap}"><figcaption>{cap}</figcaption></figure>'
    if isinstance(block, Gallery):
        return (
            f"<h3>{html.escape(block.title)}</h3>"
            + '<div class="gallery">'
            + "".join(map(gallery_item, block.items))
            + "</div>"
        )
    raise TypeError(f"unknown block {type(block).__name__}")


def gallery_item(item: tuple[str, str | None]) -> str:
    label, path = html.escape(item[0]), item[1]
    image = f'<img src="{html.escape(path)}" alt="{label}">' if path else '<div class="missing">no grid</div>'
    return f"<figure>{image}<figcaption>{label}</figcaption></figure>"


def render_html(doc: Document) -> str:
    nav = "".join(f'<li><a href="#{s.anchor}">{html.escape(s.title)}</a></li>' for s in doc.sections)
    body = []
    for s in doc.sections:
        body.append(f'<section id="{s.anchor}"><h2>{html.escape(s.title)}</h2>')
        body += [render_block(b) for b in s.blocks]
        body.append("</section>")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(doc.title)}</title><style>{CSS}</style></head><body>"
        f'<h1>{html.escape(doc.title)}</h1><p class="subtitle">{inline(doc.subtitle)}</p>'
        f"<nav><ul>{nav}</ul></nav>\n" + "\n".join(body) + "\n</body></html>\n"
    )
