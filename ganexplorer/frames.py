"""Frames as people see them: samples laid out as a grid, and encoded for the browser."""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image


def grid_columns(n: int) -> int:
    """Up to 3 samples in a row, more as a near-square grid (16 -> 4 x 4)."""
    return n if n <= 3 else math.ceil(math.sqrt(n))


def grid_tile(frames: np.ndarray, columns: int | None = None) -> np.ndarray:
    """(N, H, W, C) uint8 -> one (rows*H + gaps, cols*W + gaps, 3) RGB image, samples in a grid on white."""
    n, h, w, c = frames.shape
    rgb = np.repeat(frames, 3, axis=-1) if c == 1 else frames
    cols = columns or grid_columns(n)
    rows = math.ceil(n / cols)
    gap = max(1, w // 16)
    out = np.full((rows * h + (rows - 1) * gap, cols * w + (cols - 1) * gap, 3), 255, np.uint8)
    for i in range(n):
        r, q = divmod(i, cols)
        out[r * (h + gap): r * (h + gap) + h, q * (w + gap): q * (w + gap) + w] = rgb[i]
    return out


def encode(image: np.ndarray, fmt: str, quality: int = 85) -> tuple[str, bytes]:
    """('raw' | 'jpeg' | 'png', bytes) for an (H, W, 3) uint8 image; 'auto' = raw up to 128x128 pixels, else JPEG
    (small on the wire at any size; raw is lossless and the fastest path for small frames)."""
    if fmt == "auto":
        fmt = "raw" if image.shape[0] * image.shape[1] <= 128 * 128 else "jpeg"
    if fmt == "raw":
        return "raw", np.ascontiguousarray(image).tobytes()
    if fmt in ("jpeg", "png"):
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, format=fmt.upper(), **({"quality": quality} if fmt == "jpeg" else {}))
        return fmt, buf.getvalue()
    raise ValueError(f"unknown frame format {fmt!r}: use 'auto', 'jpeg', 'png' or 'raw'")


def png_bytes(image: Image.Image | np.ndarray) -> bytes:
    image = Image.fromarray(image) if isinstance(image, np.ndarray) else image
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()

