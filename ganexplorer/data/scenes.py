"""Procedural "scenes": the shapes ellipse in front of a varied background, with its exact foreground mask.

For the discovery paper's application (a direction that changes the background but not the object turns
generated images into saliency masks), the background must vary on its own: a two-colour gradient at a random
angle with soft stripes of random frequency and strength. The object is the shapes ellipse, fully saturated
and bright so that it stands out. ``make_scenes`` returns images, the true masks, and the factors.
"""

from __future__ import annotations

import math

import torch

from .shapes import ASPECT, FACTORS, _hsv_to_rgb, _physical

BACKGROUND_FACTORS: tuple[str, ...] = ("bg_hue_a", "bg_hue_b", "bg_value", "gradient_angle", "stripes")

def _coverage(f: dict[str, torch.Tensor], resolution: int) -> torch.Tensor:
    coords = (torch.arange(resolution, device=f["x"].device, dtype=torch.float32) + 0.5) / resolution
    dx = coords[None, None, :] - f["x"][:, None, None]
    dy = f["y"][:, None, None] - coords[None, :, None]
    cos, sin = torch.cos(f["rotation"])[:, None, None], torch.sin(f["rotation"])[:, None, None]
    u, v = dx * cos + dy * sin, -dx * sin + dy * cos
    a = f["scale"][:, None, None]
    q = torch.sqrt((u / a) ** 2 + (v / (a * ASPECT)) ** 2)
    return torch.clamp((1.0 - q) * a * ASPECT * resolution + 0.5, 0.0, 1.0)

def render_scenes(factors: torch.Tensor, resolution: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N, 3, R, R) in [-1, 1] and masks (N, R, R) in [0, 1] from factors (N, 11) in [0, 1]:
    the six shapes factors, then ``BACKGROUND_FACTORS``."""
    n_obj = len(FACTORS)
    if factors.ndim != 2 or factors.shape[1] != n_obj + len(BACKGROUND_FACTORS):
        raise ValueError(f"factors must have shape (N, {n_obj + len(BACKGROUND_FACTORS)}), got {tuple(factors.shape)}")
    f = _physical(factors[:, :n_obj].float())
    bg = factors[:, n_obj:].float()
    mask = _coverage(f, resolution)
    obj = _hsv_to_rgb(f["hue"], 1.0, 0.75 + 0.25 * factors[:, FACTORS.index("brightness")])
    value = 0.25 + 0.45 * bg[:, 2]
    color_a = _hsv_to_rgb(bg[:, 0], 0.5, value)
    color_b = _hsv_to_rgb(bg[:, 1], 0.5, value * 0.7)
    coords = (torch.arange(resolution, device=factors.device, dtype=torch.float32) + 0.5) / resolution - 0.5
    angle = bg[:, 3] * 2 * math.pi
    cos, sin = torch.cos(angle)[:, None, None], torch.sin(angle)[:, None, None]
    along = coords[None, None, :] * cos + coords[None, :, None] * sin
    t = (along + 0.71) / 1.42  # 0..1 across the image
    stripes = 0.12 * bg[:, 4][:, None, None] * torch.sin(2 * math.pi * 3 * (along + bg[:, 0][:, None, None]))
    background = color_a[:, :, None, None] * (1 - t[:, None]) + color_b[:, :, None, None] * t[:, None]
    background = (background + stripes[:, None]).clamp(0, 1)
    image = background * (1 - mask[:, None]) + obj[:, :, None, None] * mask[:, None]
    return image * 2 - 1, mask

def make_scenes(n: int, seed: int | None = None, resolution: int = 32,
                device: str | torch.device = "cpu") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``n`` scenes: images (N, 3, R, R) in [-1, 1], true foreground masks (N, R, R), factors (N, 11)."""
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    factors = torch.rand(n, len(FACTORS) + len(BACKGROUND_FACTORS), generator=gen).to(device)
    images, masks = render_scenes(factors, resolution)
    return images, masks, factors
