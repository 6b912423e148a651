"""Sample grids as PNG files (numpy + Pillow; no plotting library needed in a worker)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image


def tile(images: np.ndarray, cols: int = 0, pad: int = 2) -> np.ndarray:
    """(N, H, W, C) uint8 -> one (rows*H, cols*W, C) image with `pad` pixels of grey between tiles."""
    n, h, w, c = images.shape
    cols = cols or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    out = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, c), 128, np.uint8)
    for i, img in enumerate(images):
        r, k = divmod(i, cols)
        out[pad + r * (h + pad) : pad + r * (h + pad) + h, pad + k * (w + pad) : pad + k * (w + pad) + w] = img
    return out


def save_grid(images: np.ndarray, path: Path, scale: int = 0) -> None:
    """Write a grid PNG; small images are enlarged (nearest) so digits stay legible."""
    grid = tile(images)
    scale = scale or max(1, 512 // grid.shape[1])
    img = Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
