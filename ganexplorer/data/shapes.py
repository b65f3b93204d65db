"""Procedural "shapes": one coloured ellipse on black, rendered from known ground-truth factors.

Why an ellipse only: a small GAN reliably learns position, size, angle and colour of one shape, but collapses
several shape types into blobs; one shape type keeps every factor learnable and measurable. The rotation range
is less than the ellipse's 180 degree symmetry, so every factor value gives a distinct image.

Factors are returned normalised to [0, 1]; ``FACTOR_RANGES`` maps them to physical units.
"""

from __future__ import annotations

import math

import torch

FACTORS: tuple[str, ...] = ("x", "y", "scale", "rotation", "brightness", "hue")
FACTOR_RANGES: dict[str, tuple[float, float]] = {
    "x": (0.3, 0.7),  # centre, fraction of width
    "y": (0.3, 0.7),  # centre, fraction of height (0 = top)
    "scale": (0.14, 0.26),  # semi-major axis, fraction of the image side
    "rotation": (-math.pi / 3, math.pi / 3),  # radians, counter-clockwise
    "brightness": (0.35, 1.0),  # HSV value
    "hue": (0.0, 0.7),  # HSV hue: red, yellow, green, cyan, blue
}
ASPECT = 0.45  # minor / major axis
SATURATION = 0.85


def sample_factors(n: int, seed: int | None = None, device: str | torch.device = "cpu") -> torch.Tensor:
    """Independent uniform factors in [0, 1], shape (n, len(FACTORS))."""
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    return torch.rand(n, len(FACTORS), generator=gen).to(device)


def _physical(factors: torch.Tensor) -> dict[str, torch.Tensor]:
    out = {}
    for i, name in enumerate(FACTORS):
        lo, hi = FACTOR_RANGES[name]
        out[name] = lo + (hi - lo) * factors[:, i]
    return out


def _hsv_to_rgb(h: torch.Tensor, s: float, v: torch.Tensor) -> torch.Tensor:
    """(N,) hue in [0, 1], value (N,) -> (N, 3) RGB in [0, 1]."""
    n = torch.tensor([5.0, 3.0, 1.0], device=h.device)
    k = (n[None, :] + h[:, None] * 6.0) % 6.0
    ramp = torch.clamp(torch.minimum(k, 4.0 - k), 0.0, 1.0)
    return v[:, None] * (1.0 - s * ramp)


def render_shapes(factors: torch.Tensor, resolution: int = 32) -> torch.Tensor:
    """Anti-aliased images (N, 3, R, R) in [-1, 1] for factors (N, 6) in [0, 1]."""
    if factors.ndim != 2 or factors.shape[1] != len(FACTORS):
        raise ValueError(f"factors must have shape (N, {len(FACTORS)}) for {FACTORS}, got {tuple(factors.shape)}")
    f = _physical(factors.float())
    coords = (torch.arange(resolution, device=factors.device, dtype=torch.float32) + 0.5) / resolution
    dx = coords[None, None, :] - f["x"][:, None, None]
    dy = f["y"][:, None, None] - coords[None, :, None]  # up is positive, so rotation is counter-clockwise
    cos, sin = torch.cos(f["rotation"])[:, None, None], torch.sin(f["rotation"])[:, None, None]
    u, v = dx * cos + dy * sin, -dx * sin + dy * cos
    a = f["scale"][:, None, None]
    b = a * ASPECT
    q = torch.sqrt((u / a) ** 2 + (v / b) ** 2)
    coverage = torch.clamp((1.0 - q) * b * resolution + 0.5, 0.0, 1.0)  # ~ signed distance in pixels
    rgb = _hsv_to_rgb(f["hue"], SATURATION, f["brightness"])
    return coverage[:, None] * rgb[:, :, None, None] * 2.0 - 1.0


def make_shapes(n: int, seed: int | None = None, resolution: int = 32,
                device: str | torch.device = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` images (N, 3, R, R) in [-1, 1] and their factors (N, 6) in [0, 1]."""
    factors = sample_factors(n, seed, device)
    return render_shapes(factors, resolution), factors
