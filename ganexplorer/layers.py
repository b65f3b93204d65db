"""Layer ranges of layer-aware (style) generators: "all", "3", "0-1", "2-5,8" -> which per-layer latents.

A style generator reads one latent per layer (W+). SeFa factorises the style weights of the chosen layers,
and a direction restricted to a range moves only those layers' latents, as in the SeFa and GANSpace UIs.
"""

from __future__ import annotations

import torch

MAX_SPEC_CHARS = 1000


def parse_layers(spec: str | None, num_layers: int) -> list[int]:
    """Sorted layer indices of ``spec`` ("all" or None: every layer; "2-5"; "0-1,8"), checked against
    ``num_layers`` (each bound before any range is expanded); a ValueError says what is allowed."""
    if spec is None or str(spec).strip().lower() in ("", "all"):
        return list(range(num_layers))
    text = str(spec)
    allowed = f"layers 0..{num_layers - 1}"
    if len(text) > MAX_SPEC_CHARS:
        raise ValueError(f"layer range of {len(text)} characters is not understood: use 'all', 'N', 'A-B' or a "
                         f"comma list such as '0-1,8' ({allowed})")
    chosen: set[int] = set()
    for part in text.replace(" ", "").split(","):
        lo, dash, hi = part.partition("-")
        if not (lo.isdecimal() and lo.isascii() and (not dash or (hi.isdecimal() and hi.isascii()))):
            raise ValueError(f"layer range {spec!r} is not understood: use 'all', 'N', 'A-B' or a comma list "
                             f"such as '0-1,8' ({allowed})")
        lo_i, hi_i = int(lo), int(hi) if dash else int(lo)
        if lo_i > hi_i:
            raise ValueError(f"layer range {spec!r} is not understood: in 'A-B' A must not exceed B ({allowed})")
        if hi_i >= num_layers:
            raise ValueError(f"layer range {spec!r} goes past the last layer: this generator has {num_layers} "
                             f"layers (0..{num_layers - 1})")
        chosen.update(range(lo_i, hi_i + 1))
    return sorted(chosen)


def layer_mask(spec: str | None, num_layers: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """(num_layers,) float mask, 1 on the layers of ``spec``."""
    mask = torch.zeros(num_layers, device=device)
    mask[parse_layers(spec, num_layers)] = 1.0
    return mask


def is_all(spec: str | None) -> bool:
    """True when ``spec`` means every layer."""
    return spec is None or str(spec).strip().lower() in ("", "all")
