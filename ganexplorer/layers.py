"""Layer ranges of layer-aware (style) generators: "all", "3", "0-1", "2-5,8" -> which per-layer latents.

A style generator reads one latent per layer (W+). SeFa factorises the style weights of the chosen layers,
and a direction restricted to a range moves only those layers' latents, as in the SeFa and GANSpace UIs.
"""

from __future__ import annotations

import torch

from .limits import parse_layers  # the rules of every typed value live in limits

__all__ = ["is_all", "layer_mask", "parse_layers"]


def layer_mask(spec: str | None, num_layers: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """(num_layers,) float mask, 1 on the layers of ``spec``."""
    mask = torch.zeros(num_layers, device=device)
    mask[parse_layers(spec, num_layers)] = 1.0
    return mask


def is_all(spec: str | None) -> bool:
    """True when ``spec`` means every layer."""
    return spec is None or str(spec).strip().lower() in ("", "all")
