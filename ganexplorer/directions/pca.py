"""GANSpace-style PCA directions (Härkönen et al., 2020) for z-space generators.

PCA of N(0, I) latents is meaningless (isotropic), so, as GANSpace does for BigGAN, we take PCA of early
*activations* y = G_1(z) and carry each principal component back to the latent by least squares: find U with
U x ~ z where x are the PCA coordinates of y. Rows of U (normalised) are the latent directions.
For StyleGAN in W, as GANSpace does, the "activations" are the latents w themselves (``layer="latents"``,
the default of modules whose ``pca_layer`` says so).
"""

from __future__ import annotations

import torch
from torch import nn
from tqdm.auto import tqdm

from ..limits import MAX_PCA_SAMPLES, whole
from .bank import DirectionBank
from .sefa import canonical_sign, first_affine_weight, shift_ranges


class _Captured(Exception):
    pass


def _feature_layer(module: nn.Module, latent_dim: int, layer: str | None) -> nn.Module:
    name = layer or getattr(module, "pca_layer", None)
    if name:
        modules = dict(module.named_modules())
        if name not in modules:
            raise ValueError(f"no layer named {name!r}; layers: {', '.join(n for n in modules if n)[:400]}")
        return modules[name]
    weight = first_affine_weight(module, latent_dim)  # raises a clear error when there is none
    for m in module.modules():
        if getattr(m, "weight", None) is not None and m.weight.data_ptr() == weight.data_ptr():
            return m
    for m in module.modules():  # ConvTranspose2d: first_affine_weight returned a reshaped copy
        if isinstance(m, nn.ConvTranspose2d) and m.in_channels == latent_dim:
            return m
    raise ValueError("could not find the first layer's module: pass pca(G, layer='name')")


@torch.no_grad()
def pca(generator, k: int = 20, n_samples: int = 20000, layer: str | None = None, seed: int = 0,
        batch_size: int = 1000, progress: bool = True) -> DirectionBank:
    """Top-``k`` principal directions of the activations of ``layer`` (default: the generator's ``pca_layer``
    or its first affine layer), mapped to the latent. Scores are explained-variance ratios; each direction's sign
    follows ``sefa.canonical_sign`` (its largest component positive).
    20,000 samples take about a second on a laptop CPU for the zoo (GANSpace uses 1e6 on GPU).
    ``progress``: a progress bar (terminal or notebook) over the samples, shown once a call takes over 0.5 s."""
    d = generator.latent_dim
    k = whole(k, "k (between 1 and the latent size)", 1, d)
    n_samples = whole(n_samples, f"n_samples (at least 2*k = {2 * k})", 2 * k, MAX_PCA_SAMPLES)
    z = generator.sample_latents(n_samples, seed)
    name = layer or getattr(generator.module, "pca_layer", None)
    y = z.flatten(1).float() if name == "latents" else _activations(generator, z, _feature_layer(
        generator.module, d, layer), batch_size, progress)
    centered = y - y.mean(0)
    # pca_lowrank draws a random start: seed it from `seed`, and leave the caller's global RNG as it was
    with torch.random.fork_rng(devices=[centered.device] if centered.device.type == "cuda" else []):
        torch.manual_seed(seed)
        _, s, v = torch.pca_lowrank(centered, q=min(k + 10, *centered.shape), center=False, niter=6)
    coords = centered @ v[:, :k]
    u = torch.linalg.lstsq(coords, z).solution  # (k, d): the latent direction of each component
    explained = (s[:k] ** 2 / centered.pow(2).sum()).tolist()
    directions = canonical_sign(nn.functional.normalize(u, dim=1))  # a component's sign is arbitrary
    return DirectionBank(directions, scores=explained, num_layers=generator.num_layers,
                         shift_range=shift_ranges(generator, directions, z),
                         source="pca", labels=[f"pc {i}" for i in range(k)], generator=generator.name,
                         info={"method": "pca", "layer": name, "n_samples": n_samples, "seed": seed})


def _activations(generator, z: torch.Tensor, target: nn.Module, batch_size: int,
                 progress: bool = False) -> torch.Tensor:
    """The flattened outputs of ``target`` for latents z, stopping each forward there."""
    captured: list[torch.Tensor] = []

    def grab(_module, _inputs, output):
        captured.append(output.flatten(1).float())
        raise _Captured  # the rest of the generator is not needed

    hook = target.register_forward_hook(grab)
    bar = tqdm(total=len(z), desc="pca", unit="sample", disable=not progress, delay=0.5)
    try:
        for i in range(0, len(z), batch_size):
            try:
                generator.module(z[i:i + batch_size])
            except _Captured:
                pass
            bar.update(len(z[i:i + batch_size]))
    finally:
        hook.remove()
        bar.close()
    return torch.cat(captured)
