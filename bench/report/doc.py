"""A small document model: sections of blocks, rendered once to Markdown and once to HTML.

Building the content once keeps the two outputs identical in numbers and wording.
Text uses a tiny Markdown subset that both renderers understand: `code` and **bold**.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pandas as pd


@dataclass
class Text:
    text: str


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Table:
    df: pd.DataFrame  # already formatted as text
    caption: str = ""


@dataclass
class Figure:
    path: str  # relative to the report directory
    caption: str


@dataclass
class Gallery:
    """Images side by side with a label each (e.g. PyTorch | TensorFlow); path None: missing."""

    title: str
    items: list[tuple[str, str | None]]


Block = Text | Bullets | Table | Figure | Gallery


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)

    @property
    def anchor(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-")


@dataclass
class Document:
    title: str
    subtitle: str
    sections: list[Section]

    def figures(self) -> list[str]:
        """Every image path the document references, figures and gallery images alike."""
        out = []
        for s in self.sections:
            for b in s.blocks:
                out += (
                    [b.path]
                    if isinstance(b, Figure)
                    else [p for _, p in b.items if p]
                    if isinstance(b, Gallery)
                    else []
                )
        return out
