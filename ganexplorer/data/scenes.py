"""Procedural "scenes": a bright ellipse in front of a background that varies on its own, with the true mask.

Why this design: the discovery paper's saliency application needs a generator in which a latent direction can
remove the background while the object keeps its appearance. In photographs (BigGAN on ImageNet) backgrounds vary
in brightness, colour and texture independently of the object, down to plain dark ones; the scenes imitate that.
The background's brightness spans near-black (value 0.02) to bright (0.8) and its texture (stripes at a random
angle and frequency, a two-colour gradient) fades with its brightness, so a dark background is also a plain one.
The object is the shapes ellipse, larger and rounder than in ``shapes`` (so a 32x32 mask has a real interior),
fully saturated and bright (value 0.75-1), independent of every background factor.

``make_scenes`` returns images, the true (anti-aliased) foreground masks, and the factors.
"""

from __future__ import annotations

import math

import torch

from .shapes import FACTORS, _hsv_to_rgb

BACKGROUND_FACTORS: tuple[str, ...] = ("bg_value", "bg_hue_a", "bg_hue_b", "bg_saturation", "gradient_angle",
                                       "gradient", "texture", "texture_angle", "texture_frequency", "light_x",
                                       "light_y", "light")
SCENE_FACTORS: tuple[str, ...] = FACTORS + BACKGROUND_FACTORS
OBJECT_RANGES: dict[str, tuple[float, float]] = {
    "x": (0.32, 0.68), "y": (0.32, 0.68),  # centre, fraction of the side (0 = top for y)
    "scale": (0.17, 0.27),  # semi-major axis, fraction of the side
    "rotation": (-math.pi / 2, math.pi / 2),
    "brightness": (0.75, 1.0),  # HSV value of the object: always bright
    "hue": (0.0, 1.0),  # any colour
}
ASPECT = 0.6  # minor / major axis
BG_VALUE = (0.02, 0.85)  # background brightness: near-black to bright; it scales every background pattern
TEXTURE = 0.6  # stripe amplitude at full texture, relative to the background's brightness
LIGHT = 1.2  # a soft light spot adds up to this much relative brightness


def _object(factors: torch.Tensor) -> dict[str, torch.Tensor]:
    return {name: lo + (hi - lo) * factors[:, i] for i, (name, (lo, hi)) in enumerate(OBJECT_RANGES.items())}


def _coverage(f: dict[str, torch.Tensor], resolution: int) -> torch.Tensor:
    """Anti-aliased ellipse coverage (N, R, R) in [0, 1] (about one pixel of soft edge)."""
    coords = (torch.arange(resolution, device=f["x"].device, dtype=torch.float32) + 0.5) / resolution
    dx = coords[None, None, :] - f["x"][:, None, None]
    dy = f["y"][:, None, None] - coords[None, :, None]
    cos, sin = torch.cos(f["rotation"])[:, None, None], torch.sin(f["rotation"])[:, None, None]
    u, v = dx * cos + dy * sin, -dx * sin + dy * cos
    a = f["scale"][:, None, None]
    q = torch.sqrt((u / a) ** 2 + (v / (a * ASPECT)) ** 2)
    return torch.clamp((1.0 - q) * a * ASPECT * resolution + 0.5, 0.0, 1.0)


def _rgb(hue: torch.Tensor, saturation: torch.Tensor) -> torch.Tensor:
    """(N, 3) colours of HSV value 1."""
    full = _hsv_to_rgb(hue, 1.0, torch.ones_like(hue))
    return 1 + saturation[:, None] * (full - 1)


def render_background(bg: torch.Tensor, resolution: int = 32) -> torch.Tensor:
    """Backgrounds (N, 3, R, R) in [0, 1] from background factors (N, 12) in [0, 1] (``BACKGROUND_FACTORS``):
    a two-colour gradient, stripes and a soft light spot, all scaled by the background's brightness, so a dark
    background is also a plain one, as in photographs."""
    value = BG_VALUE[0] + (BG_VALUE[1] - BG_VALUE[0]) * bg[:, 0]
    color_a, color_b = _rgb(bg[:, 1], bg[:, 3]), _rgb(bg[:, 2], bg[:, 3])
    coords = (torch.arange(resolution, device=bg.device, dtype=torch.float32) + 0.5) / resolution - 0.5
    xs, ys = coords[None, None, :], coords[None, :, None]
    angle = bg[:, 4] * 2 * math.pi
    along = xs * torch.cos(angle)[:, None, None] + ys * torch.sin(angle)[:, None, None]
    t = ((along + 0.71) / 1.42)[:, None]  # 0..1 across the image
    dim = 1 - 0.7 * bg[:, 5]  # the far end of the gradient is up to 70% darker
    pattern = color_a[:, :, None, None] * (1 - t) + (color_b * dim[:, None])[:, :, None, None] * t
    tex_angle = bg[:, 7] * math.pi
    across = xs * torch.cos(tex_angle)[:, None, None] + ys * torch.sin(tex_angle)[:, None, None]
    frequency = 2 + 4 * bg[:, 8]  # stripes per image side
    stripes = torch.sin(2 * math.pi * frequency[:, None, None] * across)
    pattern = pattern * (1 + TEXTURE * bg[:, 6][:, None, None, None] * stripes[:, None])
    r2 = (xs - (bg[:, 9] - 0.5)[:, None, None]) ** 2 + (ys - (bg[:, 10] - 0.5)[:, None, None]) ** 2
    spot = LIGHT * bg[:, 11][:, None, None] * torch.exp(-r2 / (2 * 0.15**2))
    return (value[:, None, None, None] * pattern * (1 + spot[:, None])).clamp(0, 1)


def render_scenes(factors: torch.Tensor, resolution: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N, 3, R, R) in [-1, 1] and true masks (N, R, R) in [0, 1] from factors (N, 18) in [0, 1]:
    the six object factors (``FACTORS``, mapped by ``OBJECT_RANGES``), then ``BACKGROUND_FACTORS``."""
    if factors.ndim != 2 or factors.shape[1] != len(SCENE_FACTORS):
        raise ValueError(f"factors must have shape (N, {len(SCENE_FACTORS)}) for {SCENE_FACTORS}, "
                         f"got {tuple(factors.shape)}")
    factors = factors.float()
    n_obj = len(FACTORS)
    f = _object(factors[:, :n_obj])
    mask = _coverage(f, resolution)
    obj = _hsv_to_rgb(f["hue"], 1.0, f["brightness"])
    background = render_background(factors[:, n_obj:], resolution)
    image = background * (1 - mask[:, None]) + obj[:, :, None, None] * mask[:, None]
    return image * 2 - 1, mask


def make_scenes(n: int, seed: int | None = None, resolution: int = 32,
                device: str | torch.device = "cpu") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``n`` scenes with independent uniform factors: images (N, 3, R, R) in [-1, 1], true foreground masks
    (N, R, R) in [0, 1], factors (N, 18) in [0, 1]."""
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    factors = torch.rand(n, len(SCENE_FACTORS), generator=gen).to(device)
    images, masks = render_scenes(factors, resolution)
    return images, masks, factors


class SceneRenderer(torch.nn.Module):
    """The renderer as a generator with a known answer: z (N, 18) ~ N(0, I) -> scenes, each factor the normal
    CDF of one latent coordinate. Coordinate ``len(FACTORS)`` (``bg_value``) is an exact background-brightness
    direction; the first six move only the object. Used to check the saliency pipeline where the truth is known."""

    latent_dim = len(SCENE_FACTORS)

    def __init__(self, resolution: int = 32):
        super().__init__()
        self.resolution = resolution

    def factors(self, z: torch.Tensor) -> torch.Tensor:
        return 0.5 * (1 + torch.erf(z / math.sqrt(2)))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return render_scenes(self.factors(z), self.resolution)[0]
