"""The live canvas: frames go to the browser as binary buffers with a sequence number (stale ones dropped).

JPEG by default (small on the wire at any size); raw RGB for small frames, where it is both lossless and the
fastest path measured here (no encode, no decode).
"""

from __future__ import annotations

import io
from pathlib import Path

import anywidget
import numpy as np
import traitlets
from PIL import Image


def _esm_source() -> str:
    here = Path(__file__).parent
    for candidate in (here / "canvas.js", here.parent.parent / "js" / "canvas.js"):  # wheel, then checkout
        if candidate.exists():
            return candidate.read_text()
    raise FileNotFoundError("the widget front-end canvas.js is missing: reinstall ganexplorer")


def tile(frames: np.ndarray) -> np.ndarray:
    """(N, H, W, C) uint8 -> one (H, N*W + gaps, 3) RGB strip, samples side by side."""
    n, h, w, c = frames.shape
    rgb = np.repeat(frames, 3, axis=-1) if c == 1 else frames
    gap = max(1, w // 16)
    strip = np.full((h, n * w + (n - 1) * gap, 3), 255, np.uint8)
    for i in range(n):
        strip[:, i * (w + gap): i * (w + gap) + w] = rgb[i]
    return strip


def encode(strip: np.ndarray, fmt: str, quality: int = 85) -> tuple[str, bytes]:
    """('raw' | 'jpeg', bytes) for an (H, W, 3) uint8 image; 'auto' = raw up to 128x128 pixels."""
    if fmt == "auto":
        fmt = "raw" if strip.shape[0] * strip.shape[1] <= 128 * 128 else "jpeg"
    if fmt == "raw":
        return "raw", np.ascontiguousarray(strip).tobytes()
    if fmt == "jpeg":
        buf = io.BytesIO()
        Image.fromarray(strip).save(buf, format="JPEG", quality=quality)
        return "jpeg", buf.getvalue()
    raise ValueError(f"unknown frame format {fmt!r}: use 'auto', 'jpeg' or 'raw'")


class LiveCanvas(anywidget.AnyWidget):
    """Shows the latest frame; ``show(strip)`` sends one. ``scale`` is the nearest-neighbour display zoom."""

    _esm = _esm_source()
    scale = traitlets.Int(4).tag(sync=True)

    def __init__(self, fmt: str = "auto", **kwargs):
        super().__init__(**kwargs)
        self.fmt = fmt
        self.seq = 0
        self._last: tuple[dict, bytes] | None = None
        self.on_msg(self._on_view_message)

    def show(self, strip: np.ndarray) -> None:
        fmt, data = encode(strip, self.fmt)
        self.seq += 1
        msg = {"type": "frame", "seq": self.seq, "format": fmt, "width": strip.shape[1], "height": strip.shape[0]}
        self._last = (msg, data)
        self.send(msg, buffers=[data])

    def _on_view_message(self, _widget, content, _buffers) -> None:
        if content.get("type") == "ready" and self._last is not None:
            self.send(self._last[0], buffers=[self._last[1]])
        elif content.get("type") == "ping":
            self.send({"type": "pong", "id": content.get("id")})
