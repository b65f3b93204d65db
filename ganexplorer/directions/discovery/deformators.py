"""Deformators: the direction matrix A (K directions in a d-dim latent) and the constraint it keeps.

- ``linear``: A is free (shift = eps * A e_k; directions may change length).
- ``unit-norm``: every column has unit length, shift = eps * A e_k / |A e_k| (norm |eps|, symmetric in the sign of
  eps, so every direction is one fixed vector, which is what a bank stores and a slider moves along).
- ``proj``: the reference's "proj" deformator, kept for faithfulness: a linear layer *with a bias*, weight
  initialised 0.1 * N(0, 1), and the output rescaled to norm |eps|: shift = |eps| (eps a_k + b) / |eps a_k + b|.
  Because of the bias, a shift by -eps is not the mirror of +eps and a small shift leans towards b; the bank
  stores the large-|eps| limit a_k / |a_k|. ``unit-norm`` is the same constraint without that ambiguity.
- ``ortho``: orthonormal columns for any K <= d, via torch's ``parametrizations.orthogonal`` with the matrix
  exponential map (the reference's expm(L - L^T), which needs K = d; torch embeds a d x K matrix in a d x d one).
  It is also faster than torch's default for non-square matrices (Householder products): 1.5 vs 2.1 ms per
  step for d = 64, K = 32 on one CPU thread. ``torch.matrix_exp`` picks its degree on the host (a device-to-host
  copy), which a CUDA graph cannot capture; ``capture_safe()`` switches the same parametrization (same parameter,
  same state dict, same directions to float rounding) to ``expm_fixed``, whose whole schedule runs on the device.
- ``random`` / ``coordinate``: fixed baselines (a random orthonormal A; the latent axes), never trained.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrizations, parametrize

DEFORMATORS = ("linear", "unit-norm", "proj", "ortho", "random", "coordinate")
FIXED = ("random", "coordinate")


def random_orthonormal(latent_dim: int, k: int, seed: int | None = None) -> torch.Tensor:
    """(k, latent_dim) rows that are orthonormal, drawn uniformly (QR of a Gaussian matrix)."""
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    q, r = torch.linalg.qr(torch.randn(latent_dim, k, generator=gen))
    return (q * torch.sign(torch.diagonal(r))).T.contiguous()


#: Taylor degree and the norm the skew matrix is scaled below before it (error <= 0.5^9 / 9! ~ 5e-9, under float32's
#: rounding); up to ``EXPM_MAX_SQUARINGS`` squarings undo the scaling, so norms up to 0.5 * 2^16 are exact.
EXPM_DEGREE, EXPM_THETA, EXPM_MAX_SQUARINGS = 8, 0.5, 16


def expm_fixed(a: torch.Tensor) -> torch.Tensor:
    """exp(a) by scaling and squaring with a fixed schedule: every decision is a device tensor, no host sync, so a
    CUDA graph can capture it (and autograd differentiates it). The scaling s = ceil(log2(|a|_F / theta)) is a
    tensor; all ``EXPM_MAX_SQUARINGS`` squarings are computed and the ones past s are masked out. It runs in
    float64 (float32 squarings would double the rounding error each time) and returns ``a``'s dtype."""
    dtype, a = a.dtype, a.double()
    norm = torch.linalg.matrix_norm(a.detach())
    s = torch.ceil(torch.log2(norm / EXPM_THETA)).clamp(0, EXPM_MAX_SQUARINGS)
    x = a * torch.exp2(-s)
    eye = torch.eye(a.shape[-1], dtype=a.dtype, device=a.device)
    p = eye + x / EXPM_DEGREE
    for j in range(EXPM_DEGREE - 1, 0, -1):  # Horner: I + x/1 (I + x/2 (I + ... (I + x/m)))
        p = eye + (x @ p) / j
    for i in range(EXPM_MAX_SQUARINGS):
        p = torch.where(s > i, p @ p, p)
    return p.to(dtype)


class _Orthogonal(parametrizations._Orthogonal):
    """torch's orthogonal parametrization (matrix_exp map, trivialization: the same parameter, state dict and
    initialisation as ``parametrizations.orthogonal``) whose exponential can be ``expm_fixed``."""

    fixed_schedule = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.fixed_schedule:
            return super().forward(x)
        n, k = x.shape[-2:]  # (d, K), d >= K: torch's tall case, written out with the device-only exp
        x = torch.cat([x.tril(), x.new_zeros(n, n - k)], dim=-1) if n != k else x.tril()
        return self.base @ expm_fixed(x - x.mT)[..., :k]


def _orthogonal_module(linear: nn.Linear) -> nn.Module:
    return linear.parametrizations.weight[0]


class Deformator(nn.Module):
    """Maps (direction index k, shift eps) batches to latent shifts eps * A e_k."""

    def __init__(self, latent_dim: int, k: int, kind: str = "ortho", seed: int | None = None):
        super().__init__()
        if kind not in DEFORMATORS:
            raise ValueError(f"unknown deformator {kind!r}: choose one of {DEFORMATORS}")
        if not 1 <= k <= latent_dim and kind in ("ortho", "random", "coordinate"):
            raise ValueError(f"a {kind} deformator needs 1 <= k <= latent size {latent_dim} "
                             f"(orthonormal directions cannot outnumber dimensions), got k={k}")
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        self.kind, self.latent_dim, self.k = kind, latent_dim, k
        if k <= latent_dim:
            init = random_orthonormal(latent_dim, k, seed)  # (k, d)
        else:  # a free A may hold more directions than dimensions: random unit rows
            gen = torch.Generator().manual_seed(seed) if seed is not None else None
            init = nn.functional.normalize(torch.randn(k, latent_dim, generator=gen), dim=1)
        if kind == "coordinate":
            self.register_buffer("fixed", torch.eye(latent_dim)[:k].clone())
        elif kind == "random":
            self.register_buffer("fixed", init)
        elif kind == "proj":  # the reference's initialisation: 0.1 N(0, 1) weight, torch's default bias
            gen = torch.Generator().manual_seed(seed) if seed is not None else None
            self.linear = nn.Linear(k, latent_dim, bias=True)
            with torch.no_grad():
                self.linear.weight.copy_(0.1 * torch.randn(latent_dim, k, generator=gen))
                # torch's default bias, U(-1/sqrt(k), 1/sqrt(k)), drawn from the seed too: a seeded run repeats
                self.linear.bias.uniform_(-k ** -0.5, k ** -0.5, generator=gen)
        else:
            self.linear = nn.Linear(k, latent_dim, bias=False)  # weight (d, k): columns are directions
            if kind == "ortho":
                # torch's parametrizations.orthogonal(..., orthogonal_map="matrix_exp"), with our subclass
                parametrize.register_parametrization(self.linear, "weight", _Orthogonal(
                    self.linear.weight, parametrizations._OrthMaps.matrix_exp), unsafe=True)
                self.linear.weight = init.T
            else:
                with torch.no_grad():
                    self.linear.weight.copy_(init.T)

    def capture_safe(self, on: bool = True) -> Deformator:
        """For CUDA graphs: the ortho map computes exp with ``expm_fixed`` (device-only schedule) instead of
        ``torch.matrix_exp``; other kinds are capture-safe as they are. Same parameter, same result."""
        if self.kind == "ortho":
            _orthogonal_module(self.linear).fixed_schedule = bool(on)
        return self

    @property
    def trainable(self) -> bool:
        return self.kind not in FIXED

    def directions(self) -> torch.Tensor:
        """The K directions as rows (K, d), with the constraint applied."""
        if not self.trainable:
            return self.fixed
        rows = self.linear.weight.T
        return nn.functional.normalize(rows, dim=1) if self.kind in ("unit-norm", "proj") else rows

    def forward(self, index: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
        """Latent shifts (B, d) for direction indices (B,) and shifts (B,): a gather, no one-hot loop."""
        if self.kind == "proj":
            out = self.linear.weight.T[index] * shift[:, None] + self.linear.bias
            return out * (shift.abs() / out.norm(dim=1).clamp_min(1e-12))[:, None]
        return self.directions()[index] * shift[:, None]
