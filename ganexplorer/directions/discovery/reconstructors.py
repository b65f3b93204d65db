"""Reconstructors: from an image pair (G(z), G(z + eps A e_k)), channel-concatenated, predict k and eps.

- ``lenet`` (the default up to 64 px): the reference's MNIST reconstructor, a LeNet of width ``w = 2``: 5x5 convs
  with 3w = 6 and 8w = 16 channels, each followed by batch norm, ReLU and 2x2 max-pooling; a third 5x5 conv with
  60w = 120 channels (LeNet's C5, a 120w fully connected layer on a 32 px input), averaged over space; two heads
  (direction logits; shift), each Linear(120w, 42w = 84) + batch norm + ReLU + Linear. About 75k parameters and
  0.55M multiply-adds per pair at K = 32 on 1-channel 32 px images.
- ``resnet`` (the default above 64 px): ResNet-18 (2-2-2-2 basic blocks, 64-512 channels) with a 2C-channel
  input, global average pooling and two linear heads, as the reference uses for large generators.
- ``wide``: a wider conv net (four convs 32/64/128/256 channels, global pooling; ~560k parameters, ~12M
  multiply-adds per pair on 32 px) that earlier versions used as "lenet". It is kept for comparison only: it is
  strong enough to tell even fixed random directions apart, which hides the learned-vs-random contrast.

``auto`` picks ``lenet`` for 32-64 px and ``resnet`` above, as the reference does (and ``wide`` below 32 px,
where the LeNet's three 5x5 convs do not fit).
"""

from __future__ import annotations

import torch
from torch import nn

RECONSTRUCTORS = ("auto", "lenet", "resnet", "wide")


class _Heads(nn.Module):
    def __init__(self, features: int, k: int):
        super().__init__()
        self.logits = nn.Linear(features, k)
        self.shift = nn.Linear(features, 1)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.logits(h), self.shift(h).squeeze(1)


class LeNetReconstructor(nn.Module):
    """The reference's LeNet of width ``width`` (see the module docstring); any input size >= 32 px works
    (the last conv's map is averaged over space)."""

    def __init__(self, channels: int, k: int, width: int = 2):
        super().__init__()
        w = width
        self.features = nn.Sequential(
            nn.Conv2d(2 * channels, 3 * w, 5), nn.BatchNorm2d(3 * w), nn.ReLU(inplace=True), nn.MaxPool2d(2, 2),
            nn.Conv2d(3 * w, 8 * w, 5), nn.BatchNorm2d(8 * w), nn.ReLU(inplace=True), nn.MaxPool2d(2, 2),
            nn.Conv2d(8 * w, 60 * w, 5), nn.BatchNorm2d(60 * w), nn.ReLU(inplace=True))
        self.logits = nn.Sequential(nn.Linear(60 * w, 42 * w), nn.BatchNorm1d(42 * w), nn.ReLU(inplace=True),
                                    nn.Linear(42 * w, k))
        self.shift = nn.Sequential(nn.Linear(60 * w, 42 * w), nn.BatchNorm1d(42 * w), nn.ReLU(inplace=True),
                                   nn.Linear(42 * w, 1))

    def forward(self, pair: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.features(pair).mean(dim=(2, 3))
        return self.logits(h), self.shift(h).squeeze(1)


class WideConvReconstructor(nn.Module):
    """Three strided 5x5 conv blocks (32/64/128 channels), a 3x3 conv to 256, global average pooling, two
    linear heads. Much stronger than the reference's LeNet; kept for comparison (``reconstructor="wide"``)."""

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
    """ResNet-18 layout (7x7 stem, max-pool, 2-2-2-2 basic blocks, 64-512 channels) on a 2C-channel input,
    global average pooling, linear heads for the logits and the shift (the reference's large-image R)."""

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
    """``auto``: the reference's LeNet for 32-64 px, ResNet-18 above, the wide net below 32 px."""
    if kind == "auto":
        kind = "wide" if resolution < 32 else "lenet" if resolution <= 64 else "resnet"
    if kind == "lenet":
        if resolution < 32:
            raise ValueError(f"the LeNet reconstructor needs images of at least 32 px (three 5x5 convs and two "
                             f"poolings), got {resolution} px: use reconstructor='wide' for smaller images")
        return LeNetReconstructor(channels, k)
    if kind == "resnet":
        return ResNetReconstructor(channels, k)
    if kind == "wide":
        return WideConvReconstructor(channels, k)
    raise ValueError(f"unknown reconstructor {kind!r}: choose one of {RECONSTRUCTORS}")
