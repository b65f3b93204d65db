"""Previews: a cheaper image while a person drags, for generators that can stop synthesis early.

A module opts in with ``preview_resolutions`` (sizes it can stop at) and ``forward(latents, resolution=s)``;
StyleGAN2's skip architecture has an RGB image at every block, so a 256 px preview of a 1024 px generator skips
the two costliest blocks. Which size is affordable is measured, never assumed: ``PreviewPlanner`` times each
size once and picks the largest one that fits the frame-time budget.
"""

from __future__ import annotations

import time

import numpy as np
import torch


def preview_resolutions(generator) -> list[int]:
    """The sizes ``generator`` can preview at (empty: it can only render full frames)."""
    return [int(r) for r in getattr(generator.module, "preview_resolutions", [])]


def render_preview(generator, latents: torch.Tensor, resolution: int) -> np.ndarray:
    """uint8 frames (N, r, r, C) of the synthesis stopped at ``resolution``."""
    if resolution not in preview_resolutions(generator):
        raise ValueError(f"{generator.name} cannot preview at {resolution}: it can at {preview_resolutions(generator)}")
    z = generator.check_latents(latents)
    g = generator
    with torch.inference_mode(), torch.autocast(g.device.type, g.dtype, g.dtype != torch.float32):
        images = g.module(z, resolution=resolution).float()
    return g.to_uint8(images).cpu().numpy()


class PreviewPlanner:
    """Decides, from measured times, whether a frame should be a preview and at which size.

    ``full_seconds`` follows the full renders (an average of the last few); while it exceeds ``budget`` a moving
    input gets a preview at the largest size whose own measured time fits the budget."""

    def __init__(self, generator, budget: float = 0.2):
        self.generator, self.budget = generator, budget
        self.sizes = preview_resolutions(generator)
        self.full_seconds: float | None = None
        self.seconds: dict[int, float] = {}

    def record_full(self, seconds: float) -> None:
        self.full_seconds = seconds if self.full_seconds is None else 0.5 * self.full_seconds + 0.5 * seconds

    def wanted(self, samples: int = 1) -> bool:
        """Previews pay only where full frames are slower than the budget, and the module can stop early or
        there are several samples (then the first one alone is rendered while the input moves)."""
        return (bool(self.sizes) or samples > 1) and self.full_seconds is not None and self.full_seconds > self.budget

    def render(self, latents: torch.Tensor) -> tuple[np.ndarray, int | None]:
        """A preview at the largest affordable size, timing sizes not measured yet (smallest first). A module
        that cannot stop early gets the full image of the first latent only (size None): a reduced batch."""
        if not self.sizes:
            return self.generator.render_uint8(latents[:1]), None
        size = self.sizes[0]
        for s in self.sizes:
            if s not in self.seconds:  # measure each size once, smallest first, until one is too slow
                start = time.perf_counter()
                render_preview(self.generator, latents, s)
                self.seconds[s] = time.perf_counter() - start
            if self.seconds[s] > self.budget:
                break
            size = s
        start = time.perf_counter()
        frames = render_preview(self.generator, latents, size)
        self.seconds[size] = 0.5 * self.seconds.get(size, 0.0) + 0.5 * (time.perf_counter() - start)
        return frames, size
