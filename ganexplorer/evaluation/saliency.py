"""The discovery paper's application in miniature: a latent direction that changes the background but not the
object turns generated images into foreground masks, and a segmentation net trained on them is scored on real
procedural scenes whose true masks are known.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..directions.bank import DirectionBank


@torch.no_grad()
def masks_from_direction(generator, direction: torch.Tensor, z: torch.Tensor, shift: float,
                         threshold: float = 0.25) -> tuple[torch.Tensor, torch.Tensor]:
    """Images G(z) and masks (N, H, W): pixels that stay (max channel change < threshold, in [-1, 1] units)
    when z moves by +-shift along ``direction`` are foreground."""
    d = direction.to(generator.device)
    images = generator.render(z)
    changed = torch.zeros(images.shape[0], *images.shape[2:], device=images.device)
    for sign in (-1.0, 1.0):
        moved = generator.render(z + sign * shift * d)
        changed = torch.maximum(changed, (moved - images).abs().amax(1))
    return images, (changed < threshold).float()


@torch.no_grad()
def background_candidates(generator, bank: DirectionBank, shift: float = 3.0, n: int = 32,
                          seed: int = 0) -> list[dict[str, Any]]:
    """Per direction: the share of pixels that stay when shifting (``kept``), the share of samples where that
    is object-sized (2-25% of the image: ``object_sized``), and how much of it survives a morphological
    opening (one blob rather than scattered pixels: ``compact``); best first by object_sized x compact.
    A direction with object_sized >= 0.5 behaves like a background direction on most samples."""
    z = generator.sample_latents(n, seed)
    rows = []
    for k in range(len(bank)):
        _, masks = masks_from_direction(generator, bank.directions[k], z, shift)
        kept = masks.mean((1, 2))
        eroded = -F.max_pool2d(-masks[:, None], 3, 1, 1)
        opened = F.max_pool2d(eroded, 3, 1, 1)[:, 0]  # opening drops scattered pixels, keeps blobs
        compact = opened.sum((1, 2)) / masks.sum((1, 2)).clamp_min(1)
        object_sized = ((kept > 0.02) & (kept < 0.25)).float().mean()
        rows.append({"direction": k, "kept": round(float(kept.mean()), 4), "compact": round(float(compact.mean()), 3),
                     "object_sized": round(float(object_sized), 3),
                     "score": round(float(object_sized * compact.mean()), 4)})
    return sorted(rows, key=lambda r: -r["score"])


class SaliencyNet(nn.Module):
    """A small fully convolutional net: image (N, 3, H, W) in [-1, 1] -> foreground logits (N, H, W)."""

    def __init__(self, width: int = 16):
        super().__init__()
        self.down = nn.Sequential(nn.Conv2d(3, width, 3, 1, 1), nn.ReLU(inplace=True),
                                  nn.Conv2d(width, width, 3, 2, 1), nn.ReLU(inplace=True),
                                  nn.Conv2d(width, 2 * width, 3, 1, 1), nn.ReLU(inplace=True))
        self.up = nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(2 * width, width, 3, 1, 1),
                                nn.ReLU(inplace=True), nn.Conv2d(width, 1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(self.down(x))[:, 0]


def train_saliency(images: torch.Tensor, masks: torch.Tensor, steps: int = 1000, batch_size: int = 64,
                   seed: int = 0) -> SaliencyNet:
    """Fit a ``SaliencyNet`` to (image, mask) pairs."""
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
def saliency_scores(pred: torch.Tensor, true: torch.Tensor, beta2: float = 0.3) -> dict[str, float]:
    """IoU and F-beta (beta^2 = 0.3, the saliency literature's choice) of masks thresholded at 0.5, and MAE of
    the soft masks; ``pred`` and ``true`` (N, H, W) in [0, 1]."""
    p, t = pred > 0.5, true > 0.5
    inter = (p & t).sum().float()
    union = (p | t).sum().float().clamp_min(1)
    precision = inter / p.sum().float().clamp_min(1)
    recall = inter / t.sum().float().clamp_min(1)
    f_beta = (1 + beta2) * precision * recall / (beta2 * precision + recall).clamp_min(1e-9)
    return {"iou": float(inter / union), "f_beta": float(f_beta), "mae": float((pred - true).abs().mean())}
