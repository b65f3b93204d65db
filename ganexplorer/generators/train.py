"""Training of the built-in zoo generators (``ganexplorer train-gan``), on data available offline.

Recipe: DCGAN generator, spectrally normalised discriminator with a minibatch-std channel, non-saturating
logistic loss, Adam(2e-4, 0.5, 0.99), and an exponential moving average of the generator weights (the EMA is
what ships: it gives visibly cleaner samples than the raw weights). After training, the EMA's BatchNorm
statistics are re-estimated from many batches so that eval mode renders like training mode.

``arch="stylegan2"`` trains our StyleGAN2 instead (same discriminator and loss), with the paper's style mixing
(90% of batches switch to a second w at a random layer), which is what makes its layers control different
things, so that layer ranges have something to show; the EMA's w_avg is estimated at the end.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..device import resolve_device
from ..limits import MAX_STEPS, whole
from .dcgan import DCGANDiscriminator, DCGANGenerator
from .stylegan2 import StyleGAN2Generator
from .zoo import save_generator

DATASETS = ("mnist", "shapes", "scenes")
ARCHS = ("dcgan", "stylegan2")
STYLE_MIXING = 0.9
G_LR_STYLEGAN2 = 2e-3  # equalised-lr layers take the paper's larger steps (Adam betas 0, 0.99)


def _real_batches(dataset: str, batch_size: int, device: torch.device, seed: int) -> Callable[[], torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    if dataset == "mnist":
        from ..data.mnist import load_mnist5k

        images = load_mnist5k()[0].to(device)
        return lambda: images[torch.randint(len(images), (batch_size,), generator=gen).to(device)]
    if dataset == "shapes":
        from ..data.shapes import FACTORS, render_shapes

        return lambda: render_shapes(torch.rand(batch_size, len(FACTORS), generator=gen).to(device))
    if dataset == "scenes":
        from ..data.scenes import BACKGROUND_FACTORS, render_scenes
        from ..data.shapes import FACTORS

        k = len(FACTORS) + len(BACKGROUND_FACTORS)
        return lambda: render_scenes(torch.rand(batch_size, k, generator=gen).to(device))[0]
    raise ValueError(f"unknown dataset {dataset!r}: choose one of {DATASETS}")


@torch.no_grad()
def _recalibrate_batchnorm(g: DCGANGenerator, latent_dim: int, device: torch.device, batches: int = 100) -> None:
    """Replace running BN statistics by exact averages over ``batches`` x 256 samples."""
    bns = [m for m in g.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    g.train()
    for _ in range(batches):
        g(torch.randn(256, latent_dim, device=device))
    for m in bns:
        m.momentum = 0.1
    g.eval()


def _fakes(g: torch.nn.Module, n: int, latent_dim: int, device: torch.device) -> torch.Tensor:
    """A batch of generated images; for StyleGAN2 with style mixing (a second w from a random layer on)."""
    z = torch.randn(n, latent_dim, device=device)
    if not isinstance(g, StyleGAN2Generator):
        return g(z)
    w = g.map(z)[:, None].expand(-1, g.num_layers, -1)
    w2 = g.map(torch.randn(n, latent_dim, device=device))[:, None]
    cut = torch.randint(1, g.num_layers, (n, 1), device=device)
    mixed = (torch.arange(g.num_layers, device=device)[None] >= cut) & (torch.rand(n, 1, device=device) < STYLE_MIXING)
    return g(torch.where(mixed[..., None], w2, w))


def train_gan(dataset: str, out: str | Path, steps: int = 20000, batch_size: int = 64, latent_dim: int = 64,
              width: int = 32, lr: float = 2e-4, ema_decay: float = 0.999, seed: int = 0,
              device: str = "auto", snapshot_every: int = 2000, progress: bool = True,
              arch: str = "dcgan") -> torch.nn.Module:
    """Train a zoo generator on ``dataset`` and save the EMA generator as fp16 safetensors at ``out``."""
    steps = whole(steps, "steps", 1, MAX_STEPS)
    batch_size = whole(batch_size, "batch_size", 1, 4096)
    latent_dim = whole(latent_dim, "latent_dim", 1, 4096)
    width = whole(width, "width", 1, 1024)
    if arch not in ARCHS:
        raise ValueError(f"unknown architecture {arch!r}: choose one of {ARCHS}")
    dev = resolve_device(device)
    torch.manual_seed(seed)
    channels = 1 if dataset == "mnist" else 3
    real_batch = _real_batches(dataset, batch_size, dev, seed)
    if arch == "dcgan":
        g = DCGANGenerator(latent_dim, channels, width, 32).to(dev)
    else:  # the DCGAN's widths per resolution (4 * width at 4x4 and 8x8, then halving), space w for mixing
        g = StyleGAN2Generator(32, latent_dim, n_mlp=4, channels=[4 * width, 4 * width, 2 * width, width],
                               img_channels=channels, space="w").to(dev)
    d = DCGANDiscriminator(channels, width, 32).to(dev)
    g_ema = copy.deepcopy(g).eval().requires_grad_(False)
    g_lr, g_betas = (lr, (0.5, 0.99)) if arch == "dcgan" else (G_LR_STYLEGAN2, (0.0, 0.99))
    opt_g = torch.optim.Adam(g.parameters(), lr=g_lr, betas=g_betas)
    opt_d = torch.optim.Adam(d.parameters(), lr=lr, betas=(0.5, 0.99))
    meta = {"dataset": dataset, "arch": arch, "batch_size": batch_size, "lr": lr, "seed": seed,
            "ema_decay": ema_decay}

    def snapshot(done: int) -> None:
        final = copy.deepcopy(g_ema)
        if arch == "dcgan":
            _recalibrate_batchnorm(final, latent_dim, dev)
        else:
            final.estimate_w_avg()
        save_generator(final, out, {**meta, "steps": done, "train_seconds": round(time.time() - start)})

    start = time.time()
    bar = tqdm(range(1, steps + 1), disable=not progress, desc=f"train-gan {dataset} ({arch})", unit="step")
    for step in bar:
        real = real_batch()
        fake = _fakes(g, batch_size, latent_dim, dev)
        d_loss = F.softplus(d(fake.detach())).mean() + F.softplus(-d(real)).mean()
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        g_loss = F.softplus(-d(fake)).mean()
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        with torch.no_grad():
            torch._foreach_lerp_(list(g_ema.parameters()), list(g.parameters()), 1.0 - ema_decay)
            for b_ema, b in zip(g_ema.buffers(), g.buffers()):
                b_ema.copy_(b)
        if step % 100 == 0:
            bar.set_postfix(d=f"{d_loss.item():.3f}", g=f"{g_loss.item():.3f}")
        if snapshot_every and step % snapshot_every == 0 and step < steps:
            snapshot(step)
    snapshot(steps)
    return g_ema
