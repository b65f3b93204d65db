"""Reconstructors: from an image pair (G(z), G(z + eps A e_k)), channel-concatenated, predict k and eps.

``lenet`` (as in the reference for small images) suits 32-64 px generators; ``resnet`` is a ResNet-18-like net
with a 2C-channel input for larger ones. ``auto`` picks by resolution.
"""

from __future__ import annotations

import torch
from torch import nn

RECONSTRUCTORS = ("auto", "lenet", "resnet")


class _Heads(nn.Module):
    def __init__(self, features: int, k: int):
        super().__init__()
        self.logits = nn.Linear(features, k)
        self.shift = nn.Linear(features, 1)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.logits(h), self.shift(h).squeeze(1)


class LeNetReconstructor(nn.Module):
    """Three strided conv blocks, global average pooling, two heads (logits over K, shift)."""

    def __init__(self, channels: int, k: int, width: int = 32):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 2 * channels
        for c in (width, 2 * width, 4 * width):
            layers += [nn.Conv2d(c_in, c, 5, 2, 2), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
            c_in = c
        self.features = nn.Sequential(*layers, nn.Conv2d(c_in, 8 * width, 3, 1, 1), nn.BatchNorm2d(8 * width),
                                      nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.heads = _Heads(8 * width, k)

    def forward(self, pair: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.heads(self.features(pair))


class _Block(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out))
        self.skip = nn.Identity() if stride == 1 and c_in == c_out else nn.Sequential(
            nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.skip(x))


class ResNetReconstructor(nn.Module):
    """ResNet-18 layout (2-2-2-2 basic blocks, 64-512 channels) on a 2C-channel input."""

    def __init__(self, channels: int, k: int, width: int = 64):
        super().__init__()
        stages: list[nn.Module] = []
        c_in = width
        for i, c in enumerate((width, 2 * width, 4 * width, 8 * width)):
            stages += [_Block(c_in, c, 1 if i == 0 else 2), _Block(c, c, 1)]
            c_in = c
        self.features = nn.Sequential(
            nn.Conv2d(2 * channels, width, 7, 2, 3, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, 1), *stages, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.heads = _Heads(c_in, k)

    def forward(self, pair: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.heads(self.features(pair))


def make_reconstructor(kind: str, channels: int, resolution: int, k: int) -> nn.Module:
    """``auto``: LeNet-like up to 64 px, ResNet-18-like above."""
    if kind == "auto":
        kind = "lenet" if resolution <= 64 else "resnet"
    if kind == "lenet":
        return LeNetReconstructor(channels, k)
    if kind == "resnet":
        return ResNetReconstructor(channels, k)
    raise ValueError(f"unknown reconstructor {kind!r}: choose one of {RECONSTRUCTORS}")
