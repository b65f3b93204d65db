"""The DCGAN-style architecture of the built-in zoo generators (and their discriminator for training).

The first layer is a plain ``nn.Linear`` from the latent, which is the affine map SeFa factorises.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


def _num_upsamplings(resolution: int) -> int:
    n = int(math.log2(resolution / 4))
    if resolution < 8 or 4 * 2**n != resolution:
        raise ValueError(f"resolution must be a power of two >= 8, got {resolution}")
    return n


class DCGANGenerator(nn.Module):
    """z (N, latent_dim) -> images (N, channels, resolution, resolution) in [-1, 1]."""

    pca_layer = "head"  # PCA (GANSpace-style) of the first block's activations, after BatchNorm and ReLU

    def __init__(self, latent_dim: int = 64, channels: int = 1, width: int = 32, resolution: int = 32):
        super().__init__()
        self.latent_dim, self.channels, self.width, self.resolution = latent_dim, channels, width, resolution
        n_up = _num_upsamplings(resolution)
        c = width * 2 ** (n_up - 1)
        self.fc = nn.Linear(latent_dim, c * 16)
        self.head = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(inplace=True))
        blocks: list[nn.Module] = []
        for _ in range(n_up - 1):
            blocks += [nn.ConvTranspose2d(c, c // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(c // 2),
                       nn.ReLU(inplace=True)]
            c //= 2
        blocks += [nn.ConvTranspose2d(c, channels, 4, 2, 1), nn.Tanh()]
        self.body = nn.Sequential(*blocks)

    def config(self) -> dict[str, int]:
        return {"latent_dim": self.latent_dim, "channels": self.channels, "width": self.width,
                "resolution": self.resolution}

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.fc(z).view(z.shape[0], -1, 4, 4)
        return self.body(self.head(x))


class MinibatchStd(nn.Module):
    """Appends the batch's mean feature std as a channel, so D can see a collapsed batch (ProGAN's trick)."""

    def __init__(self, group: int = 4):
        super().__init__()
        self.group = group

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = min(self.group, n)
        if n % g:
            g = 1
        y = x.view(g, -1, c, h, w) if g > 1 else x.unsqueeze(0)
        std = y.var(0, unbiased=False).add(1e-8).sqrt().mean(dim=(1, 2, 3))  # (n/g,)
        std = std.repeat(g).view(n, 1, 1, 1).expand(n, 1, h, w)
        return torch.cat([x, std], dim=1)


class DCGANDiscriminator(nn.Module):
    """Spectrally normalised conv net; images (N, C, R, R) -> logits (N,)."""

    def __init__(self, channels: int = 1, width: int = 32, resolution: int = 32):
        super().__init__()
        n_down = _num_upsamplings(resolution)
        layers: list[nn.Module] = []
        c_in, c = channels, width
        for _ in range(n_down):
            layers += [spectral_norm(nn.Conv2d(c_in, c, 4, 2, 1)), nn.LeakyReLU(0.2, inplace=True)]
            c_in, c = c, c * 2
        self.features = nn.Sequential(*layers)
        self.mbstd = MinibatchStd()
        self.out = nn.Sequential(
            spectral_norm(nn.Conv2d(c_in + 1, c_in, 3, 1, 1)), nn.LeakyReLU(0.2, inplace=True),
            nn.Flatten(), spectral_norm(nn.Linear(c_in * 16, 1)),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.mbstd(self.features(x))).squeeze(1)
