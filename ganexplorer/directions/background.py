"""Background-removal directions and the saliency masks they give (Voynov & Babenko's application).

Shifted along a background direction, a generated image keeps its object while the background goes dark and
uniform; thresholding the brightness of the *shifted* image then gives a foreground mask for the *unshifted*
image, and masks of implausible size are discarded. Candidates are ranked with the generator alone (no true
masks): how much the background changes, minus how much the object (the mask) changes, on the share of samples
whose mask passes the size filter. Both signs of each direction are tried; the better one is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from .bank import DirectionBank

THRESHOLD = 0.5  # brightness (max channel, in [0, 1]) above which a pixel of the shifted image is foreground
AREA = (0.02, 0.5)  # plausible foreground share of the image; masks outside it are discarded
SHIFT_SD = 5.0  # default shift: this many standard deviations of the latents along the direction


def default_shift(bank: DirectionBank, k: int) -> float:
    """``SHIFT_SD`` standard deviations of the latents along direction k (its ``shift_range`` is three)."""
    return SHIFT_SD * float(bank.shift_range[k]) / 3.0


@dataclass
class BackgroundMasks:
    """Generated images (N, C, H, W) in [-1, 1], their shifted versions, binary masks (N, H, W) and ``keep``
    (N,) bool: whether each mask passed the size filter."""

    images: torch.Tensor
    shifted: torch.Tensor
    masks: torch.Tensor
    keep: torch.Tensor


def _check(threshold: float, area: tuple[float, float]) -> None:
    if not 0 < threshold < 1:
        raise ValueError(f"threshold is a brightness in (0, 1), got {threshold}")
    if not (len(area) == 2 and 0 <= area[0] < area[1] <= 1):
        raise ValueError(f"area must be (min, max) foreground shares with 0 <= min < max <= 1, got {area}")


def brightness(images: torch.Tensor) -> torch.Tensor:
    """HSV value (max over channels) in [0, 1] of images (N, C, H, W) in [-1, 1]: (N, H, W)."""
    return ((images.amax(1) + 1) / 2).clamp(0, 1)


@torch.no_grad()
def background_masks(generator, direction: torch.Tensor, z: torch.Tensor, shift: float,
                     threshold: float = THRESHOLD, area: tuple[float, float] = AREA,
                     batch_size: int = 512) -> BackgroundMasks:
    """Masks for G(z) from a background direction: pixels of G(z + shift * direction) brighter than
    ``threshold`` are foreground; ``keep`` marks masks whose foreground share lies in ``area``.
    ``shift`` carries the sign that darkens the background (see ``rank_background_directions``)."""
    _check(threshold, area)
    d = torch.as_tensor(direction, dtype=torch.float32).to(generator.device).reshape(-1)
    if d.numel() != generator.latent_dim:
        raise ValueError(f"direction has {d.numel()} entries but the generator's latent has {generator.latent_dim}")
    z = z.to(generator.device)
    images = generator.render(z, batch_size)
    shifted = generator.render(z + shift * d, batch_size)
    masks = (brightness(shifted) > threshold).float()
    share = masks.mean((1, 2))
    return BackgroundMasks(images, shifted, masks, (share >= area[0]) & (share <= area[1]))


def _change(images: torch.Tensor, shifted: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean absolute change (in [0, 1] units) per sample on the background and on the foreground."""
    diff = ((shifted - images).abs() / 2).mean(1)
    fg = masks.sum((1, 2))
    bg = (1 - masks).sum((1, 2))
    on_bg = (diff * (1 - masks)).sum((1, 2)) / bg.clamp_min(1)
    on_fg = (diff * masks).sum((1, 2)) / fg.clamp_min(1)
    return on_bg, on_fg


@torch.no_grad()
def rank_background_directions(generator, bank: DirectionBank, shift: float | None = None, n: int = 64, seed: int = 0,
                               threshold: float = THRESHOLD,
                               area: tuple[float, float] = AREA) -> list[dict[str, Any]]:
    """Rank every direction of ``bank`` (each sign) as a background-removal candidate, best first.

    Each direction is shifted by ``shift`` latent units (default: ``default_shift``, 5 standard deviations of
    the latents along it). Per direction and sign, on ``n`` seeded samples: ``plausible`` (share of masks
    passing the size filter), ``bg_change`` and ``fg_change`` (mean |change| in [0, 1] units on background
    and foreground pixels of the kept samples), ``bg_left`` (mean brightness left in the shifted background:
    near 0 when it goes dark), ``score = plausible * (bg_change - fg_change)`` and ``shift`` (signed: the
    better sign). Uses the generator only, never true masks.
    """
    _check(threshold, area)
    if len(bank) == 0:
        raise ValueError("the bank has no directions to rank")
    z = generator.sample_latents(n, seed)
    rows = []
    for k in range(len(bank)):
        best = None
        size = default_shift(bank, k) if shift is None else shift
        for sign in (1.0, -1.0):
            out = background_masks(generator, bank.directions[k], z, sign * size, threshold, area)
            keep = out.keep
            plausible = float(keep.float().mean())
            if keep.any():
                on_bg, on_fg = _change(out.images[keep], out.shifted[keep], out.masks[keep])
                left = brightness(out.shifted[keep]) * (1 - out.masks[keep])
                bg_left = float(left.sum() / (1 - out.masks[keep]).sum().clamp_min(1))
                bg_change, fg_change = float(on_bg.mean()), float(on_fg.mean())
            else:
                bg_change = fg_change = 0.0
                bg_left = 1.0
            row = {"direction": k, "label": bank.labels[k], "source": bank.source[k], "shift": round(sign * size, 4),
                   "plausible": round(plausible, 3), "bg_change": round(bg_change, 4),
                   "fg_change": round(fg_change, 4), "bg_left": round(bg_left, 4),
                   "score": round(plausible * max(0.0, bg_change - fg_change), 4)}
            if best is None or row["score"] > best["score"]:
                best = row
        rows.append(best)
    return sorted(rows, key=lambda r: -r["score"])


def best_per_source(ranking: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The best-ranked candidate of each method (discovery, sefa, pca, ...), in ranking order."""
    out: dict[str, dict[str, Any]] = {}
    for row in ranking:
        out.setdefault(row["source"], row)
    return out
