"""SeFa (Shen & Zhou, 2021): closed-form directions from the generator's first affine weights.

The first step of a generator is y = W z + b; the unit directions n that change y most maximise ||W n||, i.e. the
top eigenvectors of W^T W. As in the reference, each row of W (one output unit) is normalised to unit length
first. Unlike the reference (numpy ``eig``, unordered), we use the symmetric solver on the device and sort.

An eigenvector's sign is arbitrary: solvers on different devices and libraries return n or -n for the same W.
``canonical_sign`` fixes it (the largest component is positive), so the same weights give the same bank, and
"+3 on direction 0" shows the same change, on a laptop and on a GPU.
"""

from __future__ import annotations

import torch
from torch import nn

from ..limits import whole
from .bank import DirectionBank


def first_affine_weight(module: nn.Module, latent_dim: int) -> torch.Tensor:
    """The first Linear / ConvTranspose2d that reads the latent, as a (out_units, latent_dim) matrix."""
    for layer in module.modules():
        if isinstance(layer, nn.Linear) and layer.in_features == latent_dim:
            return layer.weight.detach()
        if isinstance(layer, nn.ConvTranspose2d) and layer.in_channels == latent_dim:
            # (d, C, kh, kw) from a 1x1 input: each (C, kh, kw) output position is one unit (reference: PGGAN)
            return layer.weight.detach().flip(2, 3).permute(1, 2, 3, 0).reshape(-1, latent_dim)
    raise ValueError(
        f"SeFa found no Linear or ConvTranspose2d layer taking the {latent_dim}-d latent in "
        f"{type(module).__name__}: pass the first affine weight yourself, sefa(G, weight=W) with W of shape "
        f"(out_units, {latent_dim})")


def shift_ranges(generator, directions: torch.Tensor, latents: torch.Tensor | None = None) -> list[float]:
    """Slider range per direction: 3 standard deviations of the generator's latents along it (``latents``, or
    2048 sampled). That is 3 for N(0, I) latents; StyleGAN's W or BigGAN's truncated z are spread differently,
    so their ranges follow."""
    with torch.no_grad():
        if not hasattr(generator.module, "latents_from_noise"):
            return [3.0] * len(directions)
        latents = (generator.sample_latents(2048, seed=0) if latents is None else latents).flatten(0, -2)
        return (3 * (latents @ directions.to(latents.device).T).std(0)).clamp_min(1e-3).tolist()


def canonical_sign(rows: torch.Tensor) -> torch.Tensor:
    """``rows`` (n, d) each flipped so that its component of largest magnitude is positive (the first such
    component on an exact tie): the sign convention of scikit-learn's ``svd_flip``, independent of the solver."""
    largest = rows.gather(1, rows.abs().argmax(dim=1, keepdim=True))
    return rows * torch.where(largest < 0, -1.0, 1.0).to(rows.dtype)


def factorize(weight: torch.Tensor, k: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k (directions (k, d), eigenvalues (k,)) of W^T W for W (out_units, d) with unit-norm rows; each
    direction's sign by ``canonical_sign``. In float64: a float32 solver's error (~1e-7 / eigen-gap) differs
    between devices and libraries, float64's stays far below float32's rounding of the result."""
    w = weight.double()
    w = w / w.norm(dim=1, keepdim=True).clamp_min(1e-12)
    values, vectors = torch.linalg.eigh(w.T @ w)  # ascending
    order = torch.argsort(values, descending=True)[: k or w.shape[1]]
    return canonical_sign(vectors[:, order].T).float().contiguous(), values[order].float()


def sefa(generator, layers: str = "all", k: int | None = None, weight: torch.Tensor | None = None) -> DirectionBank:
    """Closed-form directions of ``generator`` (a ``Generator``) as a bank sorted by eigenvalue (the scores).

    ``layers`` ("all", "0-1", "2-5", ...) selects which layers' weights are factorised for layer-aware (style)
    generators, and the directions then move only those layers' latents; modules that expose
    ``sefa_weight(layers)`` say which weight that is; other generators have one first layer and accept only
    ``"all"``.
    """
    d = generator.latent_dim
    if k is not None:  # a whole number (True is not 1), checked by the rules the CLI and the widget use
        k = whole(k, "k (between 1 and the latent size)", 1, d)
    if weight is None:
        module = generator.module
        if hasattr(module, "sefa_weight"):
            weight = module.sefa_weight(layers)
        elif layers != "all":
            raise ValueError(f"{generator.name} is not layer-aware (no style layers): use layers='all'")
        else:
            weight = first_affine_weight(module, d)
    weight = torch.as_tensor(weight, device=generator.device)
    if weight.ndim != 2 or weight.shape[1] != d:
        raise ValueError(f"SeFa weight must have shape (out_units, {d}), got {tuple(weight.shape)}")
    directions, values = factorize(weight, k)
    return DirectionBank(directions, scores=values, source="sefa", layers=layers,
                         shift_range=shift_ranges(generator, directions),
                         num_layers=generator.num_layers,
                         labels=[f"sefa {i}" for i in range(len(values))], generator=generator.name,
                         info={"method": "sefa", "layers": layers, "weight_shape": list(weight.shape)})
