"""Baseline directions every method should beat: random orthonormal directions and the latent axes."""

from __future__ import annotations

from .bank import DirectionBank
from .discovery.deformators import random_orthonormal


def random_directions(generator, k: int | None = None, seed: int = 0) -> DirectionBank:
    """``k`` random orthonormal directions (default: as many as the latent size)."""
    k = k or generator.latent_dim
    if not 1 <= k <= generator.latent_dim:
        raise ValueError(f"k must be between 1 and the latent size {generator.latent_dim}, got {k}")
    return DirectionBank(random_orthonormal(generator.latent_dim, k, seed).to(generator.device), source="random",
                         labels=[f"random {i}" for i in range(k)], generator=generator.name,
                         info={"method": "random", "seed": seed})


def coordinate_directions(generator, k: int | None = None) -> DirectionBank:
    """The first ``k`` axes of the latent space."""
    import torch

    k = k or generator.latent_dim
    if not 1 <= k <= generator.latent_dim:
        raise ValueError(f"k must be between 1 and the latent size {generator.latent_dim}, got {k}")
    return DirectionBank(torch.eye(generator.latent_dim, device=generator.device)[:k], source="coordinate",
                         labels=[f"axis {i}" for i in range(k)], generator=generator.name,
                         info={"method": "coordinate"})
