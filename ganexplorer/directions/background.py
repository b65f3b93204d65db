"""Background-removal directions and the saliency masks they give (Voynov & Babenko's application).

Shifted along a background direction, a generated image keeps its object while the background goes dark and
uniform; thresholding the *shifted* image then gives a foreground mask for the *unshifted* image, and masks of
implausible size are discarded. Mask rules: ``"brightness"`` (the shifted image's brightness
above a threshold) and ``"ratio"`` (the share of each pixel's brightness that the shift leaves, thresholded per
image by Otsu: the background collapses towards zero while the object keeps most of its brightness, even where
the direction dims the object too, which a fixed brightness threshold turns into a lost rim). The ratio compares
the shifted image with the original, as the follow-up paper (Voynov, Morozov & Babenko 2021, "Big GANs Are
Watching You") does with its "brighter than before" rule, for directions that dim the object a little as well.
Candidates are ranked with the generator alone (no true masks): how much the background changes, minus how much
the object (the mask) changes, on the share of samples whose mask passes the size filter. Both signs and a few
shift sizes of each direction are tried; the best is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from .bank import DirectionBank

THRESHOLD = 0.5  # brightness (max channel, in [0, 1]) above which a pixel of the shifted image is foreground
AREA = (0.02, 0.5)  # plausible foreground share of the image; masks outside it are discarded
OTSU_FLOOR = 0.15  # an Otsu threshold below this would split a background that did not go dark
RULES = ("brightness", "ratio", "reference", "reference-dark")  # what is thresholded (see masks_from_renders)
REFERENCE_THRESHOLD = 0.95  # the reference code's rule (segmentation/ in anvoynov/GANLatentDiscovery): foreground
REFERENCE_AREA = (0.05, 0.5)  # where the shifted image's mean intensity is below 0.95, masks covering 5-50 % kept
RATIO_FLOOR = 0.05  # original brightness below this counts as this much in the ratio (near-black pixels are noise)
SHIFT_SDS = (2.0, 3.0, 4.0, 5.0)  # shifts tried by default, in standard deviations of the latents along a direction


def default_shifts(bank: DirectionBank, k: int) -> list[float]:
    """``SHIFT_SDS`` standard deviations of the latents along direction k (its ``shift_range`` is three)."""
    return [sd * float(bank.shift_range[k]) / 3.0 for sd in SHIFT_SDS]


@dataclass
class BackgroundMasks:
    """Generated images (N, C, H, W) in [-1, 1], their shifted versions, binary masks (N, H, W) and ``keep``
    (N,) bool: whether each mask passed the size filter."""

    images: torch.Tensor
    shifted: torch.Tensor
    masks: torch.Tensor
    keep: torch.Tensor


def _check(threshold: float | str, area: tuple[float, float], rule: str = "brightness") -> None:
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    if threshold != "otsu" and not (isinstance(threshold, (int, float)) and 0 < threshold < 1):
        raise ValueError(f"threshold is a brightness in (0, 1) or 'otsu', got {threshold!r}")
    if not (len(area) == 2 and 0 <= area[0] < area[1] <= 1):
        raise ValueError(f"area must be (min, max) foreground shares with 0 <= min < max <= 1, got {area}")


def brightness(images: torch.Tensor) -> torch.Tensor:
    """HSV value (max over channels) in [0, 1] of images (N, C, H, W) in [-1, 1]: (N, H, W)."""
    return ((images.amax(1) + 1) / 2).clamp(0, 1)


def otsu_threshold(values: torch.Tensor, levels: int = 64) -> torch.Tensor:
    """Per-row Otsu threshold (N, 1) of values (N, P): the level that maximises the between-class variance."""
    lo, hi = values.amin(1, keepdim=True), values.amax(1, keepdim=True)
    cuts = lo + (hi - lo) * torch.linspace(0, 1, levels + 2, device=values.device)[1:-1]  # (N, L)
    above = values[:, None, :] > cuts[:, :, None]  # (N, L, P)
    n_above = above.sum(2).float()
    w1 = n_above / values.shape[1]
    s = values[:, None, :]
    m1 = (s * above).sum(2) / n_above.clamp_min(1)
    m0 = (s * ~above).sum(2) / (values.shape[1] - n_above).clamp_min(1)
    between = w1 * (1 - w1) * (m1 - m0) ** 2
    return cuts.gather(1, between.argmax(1, keepdim=True))


def kept_brightness(images: torch.Tensor, shifted: torch.Tensor) -> torch.Tensor:
    """The share of each pixel's brightness that the shift leaves (N, H, W): brightness(shifted) over
    brightness(images), the latter at least ``RATIO_FLOOR``. Near 0 where the background went dark, near 1 (or
    above) where the object kept its appearance."""
    return brightness(shifted) / brightness(images).clamp_min(RATIO_FLOOR)


def masks_from_renders(images: torch.Tensor, shifted: torch.Tensor, threshold: float | str = THRESHOLD,
                       area: tuple[float, float] = AREA, rule: str = "brightness") -> BackgroundMasks:
    """Masks for ``images`` from their ``shifted`` renders (both (N, C, H, W) in [-1, 1]): pixels whose value
    exceeds ``threshold`` are foreground, the value being the shifted image's brightness (``rule="brightness"``)
    or ``kept_brightness`` (``rule="ratio"``); ``threshold="otsu"``: each image's Otsu threshold of that value,
    at least ``OTSU_FLOOR``. ``rule="reference"`` is the reference code's rule, for a direction that turns the
    background *white*: pixels whose shifted mean intensity (over channels, in [0, 1]) is *below* ``threshold``
    are foreground (use ``REFERENCE_THRESHOLD`` and ``REFERENCE_AREA``); ``rule="reference-dark"`` mirrors it
    for a direction that turns the background *black*: intensity above ``1 - threshold``. ``keep`` marks masks
    whose foreground share is in ``area``."""
    _check(threshold, area, rule)
    if images.shape != shifted.shape:
        raise ValueError(f"images and shifted images differ in shape: {tuple(images.shape)} vs {tuple(shifted.shape)}")
    if rule in ("reference", "reference-dark"):
        if threshold == "otsu":
            raise ValueError("the reference rule takes a fixed threshold (0.95 in the reference), not 'otsu'")
        intensity = (shifted.mean(1) + 1) / 2
        masks = (intensity < threshold if rule == "reference" else intensity > 1 - threshold).float()
        share = masks.mean((1, 2))
        return BackgroundMasks(images, shifted, masks, (share >= area[0]) & (share <= area[1]))
    value = brightness(shifted) if rule == "brightness" else kept_brightness(images, shifted)
    if threshold == "otsu":  # per image, between the darkened background and the object; never below OTSU_FLOOR
        cut = otsu_threshold(value.flatten(1)).clamp_min(OTSU_FLOOR)[:, :, None]
    else:
        cut = torch.tensor(float(threshold))
    masks = (value > cut).float()
    share = masks.mean((1, 2))
    return BackgroundMasks(images, shifted, masks, (share >= area[0]) & (share <= area[1]))


@torch.no_grad()
def background_masks(generator, direction: torch.Tensor, z: torch.Tensor, shift: float,
                     threshold: float | str = THRESHOLD, area: tuple[float, float] = AREA,
                     batch_size: int = 512, rule: str = "brightness") -> BackgroundMasks:
    """Masks for G(z) from a background direction (a latent vector): the renders of z + shift * direction go
    through ``masks_from_renders``. ``shift`` carries the sign that darkens the background (see
    ``rank_background_directions``)."""
    _check(threshold, area, rule)
    d = torch.as_tensor(direction, dtype=torch.float32).to(generator.device).reshape(-1)
    if d.numel() != generator.latent_dim:
        raise ValueError(f"direction has {d.numel()} entries but the generator's latent has {generator.latent_dim}")
    z = z.to(generator.device)
    return masks_from_renders(generator.render(z, batch_size), generator.render(z + shift * d, batch_size),
                              threshold, area, rule)


def mask_stats(out: BackgroundMasks) -> dict[str, float]:
    """How much a shift looks like background removal: ``plausible`` (share of masks passing the size filter),
    ``bg_change`` / ``fg_change`` (mean |change| in [0, 1] units on background / foreground pixels of the kept
    samples), ``bg_left`` (mean brightness left in their shifted background) and
    ``score = plausible * max(0, bg_change - fg_change)``."""
    keep = out.keep
    plausible = float(keep.float().mean())
    if not keep.any():
        return {"plausible": 0.0, "bg_change": 0.0, "fg_change": 0.0, "bg_left": 1.0, "score": 0.0}
    images, shifted, masks = out.images[keep], out.shifted[keep], out.masks[keep]
    diff = ((shifted - images).abs() / 2).mean(1)
    fg, bg = masks, 1 - masks
    bg_change = float((diff * bg).sum() / bg.sum().clamp_min(1))
    fg_change = float((diff * fg).sum() / fg.sum().clamp_min(1))
    bg_left = float((brightness(shifted) * bg).sum() / bg.sum().clamp_min(1))
    return {"plausible": round(plausible, 3), "bg_change": round(bg_change, 4), "fg_change": round(fg_change, 4),
            "bg_left": round(bg_left, 4), "score": round(plausible * max(0.0, bg_change - fg_change), 4)}


@torch.no_grad()
def best_shift(generator, bank: DirectionBank, k: int, z: torch.Tensor, shift: float | None = None,
               threshold: float | str = THRESHOLD, area: tuple[float, float] = AREA,
               rule: str = "brightness") -> tuple[BackgroundMasks, dict[str, Any]]:
    """Direction k of ``bank`` shifted both ways from latents z by ``shift`` (default: each of
    ``default_shifts``): the masks and ``mask_stats`` (with the signed ``shift``) of the shift that scores
    highest. Too small a shift leaves the background; too large a one darkens the object too, so the size is
    chosen like the sign, from the generator alone. Works for layer-restricted directions of style generators
    (the bank composes the shifted latents)."""
    _check(threshold, area, rule)
    sizes = default_shifts(bank, k) if shift is None else [abs(float(shift))]
    images = generator.render(z)
    best = None
    for size in sizes:
        for sign in (1.0, -1.0):
            out = masks_from_renders(images, generator.render(bank.traverse(z, k, [sign * size])), threshold, area,
                                     rule)
            stats = {"shift": round(sign * size, 4), **mask_stats(out)}
            if best is None or stats["score"] > best[1]["score"]:
                best = (out, stats)
    return best


@torch.no_grad()
def rank_background_directions(generator, bank: DirectionBank, shift: float | None = None, n: int = 64, seed: int = 0,
                               threshold: float | str = THRESHOLD, area: tuple[float, float] = AREA,
                               rule: str = "brightness") -> list[dict[str, Any]]:
    """Rank every direction of ``bank`` as a background-removal candidate, best first, using the generator
    only (never true masks): each direction is shifted both ways by ``shift`` latent units (default: each of
    ``default_shifts``, 2 to 5 standard deviations of the latents along it) on ``n`` seeded samples, and the
    best shift's ``mask_stats`` are kept with the signed ``shift``; masks by ``rule`` and ``threshold`` (see
    ``masks_from_renders``)."""
    _check(threshold, area, rule)
    if len(bank) == 0:
        raise ValueError("the bank has no directions to rank")
    z = generator.sample_latents(n, seed)
    rows = []
    for k in range(len(bank)):
        _, stats = best_shift(generator, bank, k, z, shift, threshold, area, rule)
        rows.append({"direction": k, "label": bank.labels[k], "source": bank.source[k], **stats})
    return sorted(rows, key=lambda r: -r["score"])


def best_per_source(ranking: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The best-ranked candidate of each method (discovery, sefa, pca, ...), in ranking order."""
    out: dict[str, dict[str, Any]] = {}
    for row in ranking:
        out.setdefault(row["source"], row)
    return out
