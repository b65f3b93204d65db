"""Ground-truth scoring on the shapes generator: which factor does each direction move, and how purely?

The factor judge (trained on procedural images, whose factors are known) reads the factors of every image of
a traversal. A direction's *change* of factor f is |slope| x traversal span, in fractions of f's range; its
*purity* is the share of its total change that goes to its top factor. Per method we summarise with a
MIG-style gap: for each factor, the share of the best direction minus the share of the runner-up (1 = one
direction owns the factor alone, 0 = two directions move it equally), averaged over factors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..data.shapes import FACTORS
from ..directions.bank import DirectionBank
from ..directions.describe import line_fits
from ..traversal import traversal_latents
from .judges import load_judge


@torch.no_grad()
def factor_changes(generator, bank: DirectionBank, n: int = 16, shifts: Sequence[float] | None = None,
                   seed: int = 0) -> np.ndarray:
    """(K, F) mean |change| of each factor over a full traversal, in fractions of the factor's range."""
    bank.check_fits(generator)
    judge = load_judge("factors", generator.device)
    r = max(bank.shift_range)
    shifts = list(shifts) if shifts is not None else np.linspace(-r, r, 7).tolist()
    s = torch.as_tensor(shifts, dtype=torch.float32, device=generator.device)
    z = generator.sample_latents(n, seed)
    out = []
    for k in range(len(bank)):
        images = generator.render(traversal_latents(bank, z, [k], shifts))
        f = judge(images).view(n, len(shifts), len(FACTORS))
        slope, _ = line_fits(s, f)  # (N, F)
        out.append(slope.abs().mean(0) * float(max(shifts) - min(shifts)))
    return torch.stack(out).cpu().numpy()


def factor_table(generator, bank: DirectionBank, **options) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Per-direction rows (top factor, purity, change) and a per-method summary (MIG-style gap, best direction
    per factor with its purity)."""
    change = factor_changes(generator, bank, **options)
    totals = change.sum(1, keepdims=True).clip(1e-9)
    purity = (change / totals).max(1)
    top = change.argmax(1)
    rows = [{"direction": k, "label": bank.labels[k], "factor": FACTORS[top[k]], "purity": round(float(purity[k]), 3),
             "change": round(float(change[k, top[k]]), 3),
             **{f: round(float(change[k, j]), 3) for j, f in enumerate(FACTORS)}} for k in range(len(bank))]
    share = change / change.sum(0, keepdims=True).clip(1e-9)  # (K, F): who owns each factor
    ordered = np.sort(share, axis=0)[::-1]
    gaps = ordered[0] - (ordered[1] if len(bank) > 1 else 0)
    best = share.argmax(0)
    summary = {"mig_gap": round(float(gaps.mean()), 3),
               "per_factor": {f: {"direction": int(best[j]), "gap": round(float(gaps[j]), 3),
                                  "purity": round(float(purity[best[j]]), 3),
                                  "change": round(float(change[best[j], j]), 3)} for j, f in enumerate(FACTORS)}}
    return rows, summary
