"""The discovery paper's saliency application, scored: a segmentation net trained on (G(z), mask) pairs from a
background direction (``directions.background``) is evaluated on held-out procedural scenes (rendered by
``data.scenes``, not generated) whose true masks are known, next to the empty mask, two classical baselines
(colour contrast to the image border with an Otsu threshold; per-image k-means of the colours, keeping the
cluster that touches the border least) and the oracle (the same net trained on rendered scenes with their true
masks).

The net uses leaky ReLUs: with plain ReLUs a third of its units died in the first Adam steps and every run
passed through a phase predicting no foreground at all (class imbalance: 9 % foreground), from which it escaped
or not depending on rounding; that is how one process scored IoU 0.000 where others scored 0.67-0.69.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..directions.background import AREA, background_masks, otsu_threshold


class SaliencyNet(nn.Module):
    """A small fully convolutional net: image (N, 3, H, W) in [-1, 1] -> foreground logits (N, H, W)."""

    def __init__(self, width: int = 16):
        super().__init__()
        self.down = nn.Sequential(nn.Conv2d(3, width, 3, 1, 1), nn.LeakyReLU(0.2, inplace=True),
                                  nn.Conv2d(width, width, 3, 2, 1), nn.LeakyReLU(0.2, inplace=True),
                                  nn.Conv2d(width, 2 * width, 3, 1, 1), nn.LeakyReLU(0.2, inplace=True))
        self.up = nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(2 * width, width, 3, 1, 1),
                                nn.LeakyReLU(0.2, inplace=True), nn.Conv2d(width, 1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(self.down(x))[:, 0]


def train_saliency(images: torch.Tensor, masks: torch.Tensor, steps: int = 1000, batch_size: int = 64,
                   seed: int = 0) -> SaliencyNet:
    """Fit a ``SaliencyNet`` to (image, mask) pairs (binary cross-entropy, Adam)."""
    if images.ndim != 4 or masks.shape != (images.shape[0], *images.shape[2:]):
        raise ValueError(f"need images (N, C, H, W) and masks (N, H, W), got {tuple(images.shape)} and "
                         f"{tuple(masks.shape)}")
    if len(images) == 0:
        raise ValueError("no (image, mask) pairs to train on: the size filter may have discarded every mask")
    torch.manual_seed(seed)
    net = SaliencyNet().to(images.device)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    for _ in range(steps):
        idx = torch.randint(len(images), (batch_size,), device=images.device)
        loss = F.binary_cross_entropy_with_logits(net(images[idx]), masks[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return net.eval()


@torch.no_grad()
def predict(net: nn.Module, images: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Soft masks (N, H, W) in [0, 1] from a saliency net."""
    return torch.cat([torch.sigmoid(net(images[i:i + batch_size])) for i in range(0, len(images), batch_size)])


@torch.no_grad()
def saliency_scores(pred: torch.Tensor, true: torch.Tensor, beta2: float = 0.3) -> dict[str, float]:
    """IoU and F-beta (beta^2 = 0.3, the saliency literature's choice) of masks thresholded at 0.5, pooled over
    all pixels, and MAE of the soft masks; ``pred`` and ``true`` (N, H, W) in [0, 1]."""
    if pred.shape != true.shape:
        raise ValueError(f"pred and true masks differ in shape: {tuple(pred.shape)} vs {tuple(true.shape)}")
    p, t = pred > 0.5, true > 0.5
    inter = (p & t).sum().float()
    union = (p | t).sum().float().clamp_min(1)
    precision = inter / p.sum().float().clamp_min(1)
    recall = inter / t.sum().float().clamp_min(1)
    f_beta = (1 + beta2) * precision * recall / (beta2 * precision + recall).clamp_min(1e-9)
    return {"iou": float(inter / union), "f_beta": float(f_beta), "mae": float((pred - true).abs().mean())}


@torch.no_grad()
def border_contrast_masks(images: torch.Tensor) -> torch.Tensor:
    """The classical baseline: colour distance of each pixel to the median colour of the image border,
    thresholded per image by Otsu. Binary masks (N, H, W)."""
    n, c, h, w = images.shape
    border = torch.cat([images[:, :, 0], images[:, :, -1], images[:, :, 1:-1, 0], images[:, :, 1:-1, -1]], 2)
    ref = border.median(2).values  # (N, C)
    contrast = (images - ref[:, :, None, None]).norm(dim=1).reshape(n, -1)
    return (contrast > otsu_threshold(contrast)).float().reshape(n, h, w)


@torch.no_grad()
def kmeans_masks(images: torch.Tensor, k: int, iters: int = 20, restarts: int = 4) -> torch.Tensor:
    """A stronger classical baseline: cluster each image's pixel colours into ``k`` groups (k-means; the first
    start from ``k`` brightness quantiles, the others from seeded random pixels; per image the start with the
    lowest inertia is kept) and keep, as the foreground, the non-empty cluster with the smallest share of its
    pixels on the image border. Deterministic. Binary masks (N, H, W)."""
    if k < 2:
        raise ValueError(f"k-means needs k >= 2 clusters, got {k}")
    n, c, h, w = images.shape
    x = images.flatten(2).transpose(1, 2).float()  # (N, P, C)
    gen = torch.Generator().manual_seed(0)
    best_inertia, assign = None, None
    for r in range(restarts):
        if r == 0:  # pixels at brightness quantiles
            picks = x.mean(2).argsort(1)[:, torch.linspace(0, h * w - 1, k).round().long()]
        else:
            picks = torch.randint(h * w, (n, k), generator=gen).to(images.device)
        centres = x.gather(1, picks[:, :, None].expand(-1, -1, c))  # (N, k, C)
        for _ in range(iters):
            dist = torch.cdist(x, centres)  # (N, P, k)
            a = dist.argmin(2)
            onehot = F.one_hot(a, k).float()
            count = onehot.sum(1)  # (N, k)
            sums = onehot.transpose(1, 2) @ x
            centres = torch.where(count[:, :, None] > 0, sums / count.clamp_min(1)[:, :, None], centres)
        inertia = dist.min(2).values.pow(2).sum(1)
        if best_inertia is None:
            best_inertia, assign = inertia, a
        else:
            better = inertia < best_inertia
            best_inertia, assign = torch.where(better, inertia, best_inertia), torch.where(better[:, None], a, assign)
    onehot = F.one_hot(assign, k).float()
    count = onehot.sum(1)
    border = torch.zeros(h, w, dtype=torch.bool, device=images.device)
    border[0], border[-1], border[:, 0], border[:, -1] = True, True, True, True
    share = onehot[:, border.flatten()].sum(1) / count.clamp_min(1)  # (N, k): share of each cluster on the border
    fg = (share + (count == 0) * 2.0).argmin(1)  # empty clusters never
    return (assign == fg[:, None]).float().reshape(n, h, w)


def choose_k(images: torch.Tensor, true_masks: torch.Tensor, ks: tuple[int, ...] = (2, 3, 4, 5, 6)
             ) -> tuple[int, dict[int, float]]:
    """The k of ``kmeans_masks`` with the best IoU on validation scenes (never the test scenes): (k, {k: IoU})."""
    ious = {k: saliency_scores(kmeans_masks(images, k), true_masks)["iou"] for k in ks}
    return max(ious, key=ious.get), ious


def saliency_experiment(generator, direction: torch.Tensor, shift: float, real: torch.Tensor,
                        true_masks: torch.Tensor, n_pairs: int = 4096, steps: int = 1500, seed: int = 0,
                        threshold: float | str = "otsu", area: tuple[float, float] = AREA,
                        oracle: tuple[torch.Tensor, torch.Tensor] | None = None,
                        rule: str = "ratio", kmeans_k: int | None = None) -> dict[str, Any]:
    """The whole application: ``n_pairs`` generated pairs from a background direction (signed ``shift``),
    masks by ``rule`` and ``threshold`` (see ``directions.background.masks_from_renders``; default: the share of
    brightness kept, cut per image by Otsu, whose masks trained the best net in notebook 05), the size filter, a
    ``SaliencyNet`` trained on the kept pairs for ``steps``, scored on held-out scenes ``real`` (rendered,
    not generated) with ``true_masks``; next to the empty mask, the border-contrast baseline and, when
    ``oracle`` (rendered training images, their true masks) is given, the same net trained on true masks;
    when ``kmeans_k`` is given (choose it on validation scenes with ``choose_k``), the k-means baseline.
    Returns {"scores": {name: {iou, f_beta, mae}}, "kept": share of masks kept, "masks": the generated
    ``BackgroundMasks``, "net": the trained net}."""
    z = generator.sample_latents(n_pairs, seed)
    gen = background_masks(generator, direction, z, shift, threshold, area, rule=rule)
    net = train_saliency(gen.images[gen.keep].cpu(), gen.masks[gen.keep].cpu(), steps=steps, seed=seed)
    scores = {"generated masks": saliency_scores(predict(net, real), true_masks),
              "border contrast": saliency_scores(border_contrast_masks(real), true_masks),
              "empty mask": saliency_scores(torch.zeros_like(true_masks), true_masks)}
    if kmeans_k is not None:
        scores["k-means"] = saliency_scores(kmeans_masks(real, kmeans_k), true_masks)
    if oracle is not None:
        upper = train_saliency(oracle[0], oracle[1], steps=steps, seed=seed)
        scores["oracle (true masks)"] = saliency_scores(predict(upper, real), true_masks)
    return {"scores": scores, "kept": float(gen.keep.float().mean()), "masks": gen, "net": net}
