"""Traversal grids: directions x shifts x samples, rendered in one batched call and laid out as one image."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from . import limits
from .directions.bank import DirectionBank


def traversal_latents(bank: DirectionBank, z: torch.Tensor, directions: Sequence[int],
                      shifts: Sequence[float]) -> torch.Tensor:
    """Latents ordered (direction, sample, shift), flattened to (K * N * S, ...): see ``bank.traverse_many``."""
    return bank.traverse_many(z, directions, shifts)


def render_traversals(generator, bank: DirectionBank, z: torch.Tensor, directions: Sequence[int],
                      shifts: Sequence[float], batch_size: int | None = None) -> np.ndarray:
    """uint8 frames (K, N, S, H, W, C): one batched render of every direction x sample x shift."""
    bank.check_fits(generator)
    frames = generator.render_uint8(traversal_latents(bank, z, directions, shifts), batch_size=batch_size)
    return frames.reshape(len(directions), len(z), len(shifts), *frames.shape[1:])


def grid_image(frames: np.ndarray, row_labels: Sequence[str], shifts: Sequence[float],
               min_cell: int = 64) -> Image.Image:
    """Lay out (K, N, S, H, W, C) frames: a block of N rows per direction, one column per shift, with labels.
    Small images are upscaled by an integer factor with nearest neighbour so pixels stay crisp."""
    k, n, s, h, w, c = frames.shape
    scale = max(1, -(-min_cell // max(h, w)))
    ch, cw, pad = h * scale, w * scale, 2
    font = ImageFont.load_default(size=max(11, min(16, ch // 5)))
    label_w, head_h = 150, 20
    out = Image.new("RGB", (label_w + s * (cw + pad), head_h + k * (n * (ch + pad) + pad * 3)), "white")
    draw = ImageDraw.Draw(out)
    for j, shift in enumerate(shifts):
        draw.text((label_w + j * (cw + pad) + cw // 2, 4), f"{shift:+.3g}", fill="black", font=font, anchor="mt")
    y = head_h
    for i in range(k):
        draw.text((4, y + (n * (ch + pad)) // 2), str(row_labels[i])[:22], fill="black", font=font, anchor="lm")
        for r in range(n):
            for j in range(s):
                cell = frames[i, r, j]
                tile = Image.fromarray(cell[..., 0] if c == 1 else cell, "L" if c == 1 else "RGB")
                out.paste(tile.resize((cw, ch), Image.NEAREST), (label_w + j * (cw + pad), y))
            y += ch + pad
        y += pad * 3
    return out


def traversal_grid(generator, bank: DirectionBank, directions: Sequence[int] | None = None,
                   shifts: Sequence[float] | None = None, samples: int = 3, seed: int = 0,
                   z: torch.Tensor | None = None) -> Image.Image:
    """A labelled traversal grid PNG-ready image of ``directions`` (default: up to 8) of ``bank``; the counts and
    the size of the grid are checked (``ganexplorer.limits``) before anything is rendered."""
    if directions is None:
        directions = list(range(min(8, len(bank))))
    elif len(directions) > limits.MAX_INDICES:
        raise limits.Refused(f"{len(directions)} directions are more than a grid shows ({limits.MAX_INDICES})")
    else:
        directions = [bank._index(i) for i in directions]
    if not directions:
        raise limits.Refused("a traversal grid needs at least one direction, got none")
    if shifts is None:
        r = max(bank.shift_range[i] for i in directions)
        shifts = np.linspace(-r, r, 7).tolist()
    elif len(shifts) > limits.MAX_SHIFTS:
        raise limits.Refused(f"{len(shifts)} shifts are more than a grid shows ({limits.MAX_SHIFTS})")
    if z is None:
        samples = limits.whole(samples, "samples", 1, limits.MAX_SAMPLES)
        seed = limits.whole(seed, "seed", 0, limits.MAX_SEED)
    else:
        z = generator.check_latents(z)
        if not len(z):
            raise limits.Refused("there are no latents to traverse (0 given): give at least one")
    limits.check_grid(len(directions), samples if z is None else len(z), len(shifts), generator.image_shape)
    if z is None:
        z = generator.sample_latents(samples, seed)
    frames = render_traversals(generator, bank, z, directions, shifts)
    return grid_image(frames, [f"{i}: {bank.labels[i]}" for i in directions], shifts)
