"""Sample quality of the zoo generators, measured by the judges rather than eyeballed."""

from __future__ import annotations

from typing import Any

import torch
from tqdm.auto import tqdm

from ..data.scenes import SCENE_FACTORS, render_scenes
from ..data.shapes import FACTORS, render_shapes
from ..files import read_header
from ..limits import MAX_JUDGED, whole
from .judges import decode_scene_factors, judge_path, load_judge, r2_score

CHUNK = 250  # samples rendered and judged per step of the progress bar


def _judged(generator, judge, n: int, seed: int, progress: bool, desc: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` generated images (seeded latents) and the judge's outputs on them, in chunks with a progress bar
    (terminal or notebook) shown once the call takes over 0.5 s."""
    n = whole(n, "n (samples judged)", 1, MAX_JUDGED)
    z = generator.sample_latents(n, seed)
    images, outputs = [], []
    with tqdm(total=n, desc=desc, unit="sample", disable=not progress, delay=0.5) as bar:
        for i in range(0, n, CHUNK):
            chunk = generator.render(z[i:i + CHUNK])
            images.append(chunk)
            outputs.append(judge(chunk))
            bar.update(len(chunk))
    return torch.cat(images), torch.cat(outputs)


@torch.no_grad()
def digit_quality(generator, n: int = 1000, seed: int = 0, confidence: float = 0.9,
                  progress: bool = True) -> dict[str, Any]:
    """Share of ``n`` generated digits the digit judge recognises with probability >= ``confidence``,
    and the class histogram of the recognised ones (all 10 present = no mode collapse)."""
    judge = load_judge("digits", generator.device)
    _, logits = _judged(generator, judge, n, seed, progress, "quality (digits)")
    probs = torch.softmax(logits, dim=1)
    conf, cls = probs.max(1)
    ok = conf >= confidence
    hist = torch.bincount(cls[ok], minlength=10).tolist()
    return {"n": n, "recognised": ok.float().mean().item(), "class_histogram": hist,
            "classes_covered": sum(h > 0 for h in hist), "smallest_class_share": min(hist) / max(1, sum(hist)),
            "judge_heldout_accuracy": read_header(judge_path("digits"))["score"]["heldout_accuracy"]}


@torch.no_grad()
def shapes_quality(generator, n: int = 1000, seed: int = 0, progress: bool = True) -> dict[str, Any]:
    """How well generated shapes are explained by the ground-truth factors.

    The factor judge reads factors f from each generated image; the procedural renderer redraws f.
    ``pixel_r2``: how much of the generated image the redrawn one explains. ``cycle_r2`` per factor: whether
    the judge reads f back from the redrawn image (generated images lie where the judge is reliable).
    ``coverage_w1`` per factor: Wasserstein-1 distance of the read factors from the training prior U[0, 1]
    (0 = the whole range is generated uniformly; 0.25 = a single value only).
    """
    judge = load_judge("factors", generator.device)
    images, factors = _judged(generator, judge, n, seed, progress, "quality (factors)")
    factors = factors.clamp(0, 1)
    redrawn = render_shapes(factors, images.shape[-1])
    pixel_r2 = 1 - ((images - redrawn) ** 2).sum() / ((images - images.mean(0)) ** 2).sum()
    cycle = r2_score(judge(redrawn), factors)
    quantiles = (torch.arange(n, device=factors.device) + 0.5) / n
    w1 = (factors.sort(0).values - quantiles[:, None]).abs().mean(0)
    return {"n": n, "pixel_r2": pixel_r2.item(), "cycle_r2": dict(zip(FACTORS, cycle.tolist())),
            "coverage_w1": dict(zip(FACTORS, w1.tolist())),
            "judge_heldout_r2": read_header(judge_path("factors"))["score"]["heldout_r2"]}


@torch.no_grad()
def scenes_quality(generator, n: int = 1000, seed: int = 0, progress: bool = True) -> dict[str, Any]:
    """``shapes_quality`` for the scenes: the scenes judge reads the 18 factors (object and background) from each
    generated image, the renderer redraws them. ``pixel_r2``: how much of the generated image the redrawn one
    explains; ``mask_share``: the redrawn objects' mean foreground share (real scenes: 0.094); ``coverage_w1``
    per factor as in ``shapes_quality``. Factors a dark background hides (its hues, texture) read poorly and
    matter little to the pixels."""
    judge = load_judge("scenes", generator.device)
    images, outputs = _judged(generator, judge, n, seed, progress, "quality (scenes)")
    factors = decode_scene_factors(outputs)
    redrawn, masks = render_scenes(factors, images.shape[-1])
    pixel_r2 = 1 - ((images - redrawn) ** 2).sum() / ((images - images.mean(0)) ** 2).sum()
    quantiles = (torch.arange(n, device=factors.device) + 0.5) / n
    w1 = (factors.sort(0).values - quantiles[:, None]).abs().mean(0)
    return {"n": n, "pixel_r2": pixel_r2.item(), "mask_share": masks.mean().item(),
            "coverage_w1": dict(zip(SCENE_FACTORS, w1.tolist())),
            "judge_heldout_r2": read_header(judge_path("scenes"))["score"]["heldout_r2"]}
