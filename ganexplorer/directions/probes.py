"""Probes: interpretable scalars per image, vectorised in torch on the images' device.

Every probe takes images (N, C, H, W) in [-1, 1] and returns (N,). The foreground is what differs from the
background colour, estimated from the image border, so probes work on dark-on-light and light-on-dark images.
Coordinates: x grows to the right, y grows *downwards* (as on screen), angles are counter-clockwise as seen.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

# probe name -> (words for an increase, words for a decrease, period for circular probes or None)
PROBE_WORDS: dict[str, tuple[str, str, float | None]] = {
    "brightness": ("brighter", "darker", None),
    "contrast": ("more contrast", "less contrast", None),
    "saturation": ("more colourful", "greyer", None),
    "hue": ("hue shifts (red→yellow→green→blue)", "hue shifts (blue→green→yellow→red)", 1.0),
    "area": ("bigger / more ink", "smaller / less ink", None),
    "centroid_x": ("moves right", "moves left", None),
    "centroid_y": ("moves down", "moves up", None),
    "angle": ("rotates counter-clockwise", "rotates clockwise", math.pi),
    "thickness": ("thicker strokes", "thinner strokes", None),
    "sharpness": ("sharper", "blurrier", None),
}


def luminance(images: torch.Tensor) -> torch.Tensor:
    """(N, H, W) in [0, 1]."""
    x = (images.float() + 1) / 2
    if x.shape[1] == 3:
        return 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]
    return x[:, 0]


def foreground(images: torch.Tensor) -> torch.Tensor:
    """Soft foreground mask (N, H, W) in [0, 1]: pixels whose colour differs from the border's median by
    0.1..0.3 (of the full range) ramp from 0 to 1; the background counts exactly 0, so it cannot bias moments."""
    x = (images.float() + 1) / 2
    border = torch.cat([x[..., 0, :], x[..., -1, :], x[..., :, 0], x[..., :, -1]], dim=-1)  # (N, C, 4W)
    background = border.median(dim=-1).values[..., None, None]  # (N, C, 1, 1)
    distance = (x - background).abs().amax(dim=1)
    return ((distance - 0.1) / 0.2).clamp(0, 1)


def _moments(mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
    n, h, w = mask.shape
    ys = (torch.arange(h, device=mask.device, dtype=torch.float32) + 0.5) / h
    xs = (torch.arange(w, device=mask.device, dtype=torch.float32) + 0.5) / w
    mass = mask.sum((1, 2)).clamp_min(1e-6)
    cx = (mask.sum(1) * xs).sum(1) / mass
    cy = (mask.sum(2) * ys).sum(1) / mass
    dx, dy = xs[None, None, :] - cx[:, None, None], ys[None, :, None] - cy[:, None, None]
    mu20 = (mask * dx * dx).sum((1, 2)) / mass
    mu02 = (mask * dy * dy).sum((1, 2)) / mass
    mu11 = (mask * dx * dy).sum((1, 2)) / mass
    return mass, cx, cy, mu20, mu02, mu11


def brightness(images: torch.Tensor) -> torch.Tensor:
    return luminance(images).mean((1, 2))


def contrast(images: torch.Tensor) -> torch.Tensor:
    return luminance(images).flatten(1).std(1)


def _hsv(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    x = (images.float() + 1) / 2
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    value, _ = x.max(1)
    delta = value - x.min(1).values
    sat = delta / value.clamp_min(1e-6)
    d = delta.clamp_min(1e-6)
    hue = torch.where(value == r, ((g - b) / d) % 6, torch.where(value == g, (b - r) / d + 2, (r - g) / d + 4)) / 6
    return hue, sat, value


def saturation(images: torch.Tensor) -> torch.Tensor:
    _, sat, value = _hsv(images)
    return (sat * value).sum((1, 2)) / value.sum((1, 2)).clamp_min(1e-6)


def hue(images: torch.Tensor) -> torch.Tensor:
    """Circular mean hue in [0, 1), weighted by saturation x value (grey pixels have no say)."""
    h, sat, value = _hsv(images)
    weight = sat * value
    angle = h * 2 * math.pi
    mean = torch.atan2((weight * torch.sin(angle)).sum((1, 2)), (weight * torch.cos(angle)).sum((1, 2)))
    return (mean / (2 * math.pi)) % 1.0


def area(images: torch.Tensor) -> torch.Tensor:
    """Foreground (ink) fraction of the image."""
    return foreground(images).mean((1, 2))


def centroid_x(images: torch.Tensor) -> torch.Tensor:
    return _moments(foreground(images))[1]


def centroid_y(images: torch.Tensor) -> torch.Tensor:
    return _moments(foreground(images))[2]


def angle(images: torch.Tensor) -> torch.Tensor:
    """Principal-axis angle of the foreground in (-pi/2, pi/2], counter-clockwise as seen (y flipped)."""
    _, _, _, mu20, mu02, mu11 = _moments(foreground(images))
    return 0.5 * torch.atan2(-2 * mu11, mu20 - mu02)


def thickness(images: torch.Tensor) -> torch.Tensor:
    """Stroke width proxy in pixels: 2 * area / perimeter of the soft foreground mask."""
    mask = foreground(images)
    gy = (mask[:, 1:, :] - mask[:, :-1, :]).abs().sum((1, 2))
    gx = (mask[:, :, 1:] - mask[:, :, :-1]).abs().sum((1, 2))
    return 2 * mask.sum((1, 2)) / (gx + gy).clamp_min(1e-6)


def sharpness(images: torch.Tensor) -> torch.Tensor:
    """Mean absolute Laplacian of the luminance."""
    lap = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]], device=images.device)
    return F.conv2d(luminance(images)[:, None], lap[None, None]).abs().mean((1, 2, 3))


PROBES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "brightness": brightness, "contrast": contrast, "saturation": saturation, "hue": hue, "area": area,
    "centroid_x": centroid_x, "centroid_y": centroid_y, "angle": angle, "thickness": thickness,
    "sharpness": sharpness,
}


def measure(images: torch.Tensor, probes: list[str] | None = None) -> torch.Tensor:
    """All probes at once: (N, P) in the order of ``probes`` (default: every probe)."""
    with torch.no_grad():
        names = probes or list(PROBES)
        unknown = [p for p in names if p not in PROBES]
        if unknown:
            raise ValueError(f"unknown probes {unknown}: choose from {list(PROBES)}")
        return torch.stack([PROBES[p](images) for p in names], dim=1)
