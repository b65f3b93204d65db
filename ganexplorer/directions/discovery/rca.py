"""Reconstructor classification accuracy (RCA): the discovery paper's measure of how distinguishable a set of
directions is, on fresh pairs; plus its main table, learned vs random vs coordinate directions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn


@torch.no_grad()
def rca(generator, bank, reconstructor: nn.Module | Any, n: int = 2048, shift_scale: float | None = None,
        min_shift: float | None = None, seed: int = 0, batch_size: int = 256) -> dict[str, Any]:
    """Accuracy of ``reconstructor`` at naming the direction, and its mean |eps_hat - eps|, on ``n`` fresh pairs
    (directions balanced). ``reconstructor`` may be a module or a ``DiscoveryTrainer``; the shift distribution
    defaults to the one the bank was trained with."""
    from .trainer import sample_shifts

    reconstructor = getattr(reconstructor, "reconstructor", reconstructor)
    was_training = reconstructor.training
    reconstructor.eval()
    info = getattr(bank, "info", {})
    shift_scale = shift_scale if shift_scale is not None else info.get("shift_scale", 6.0)
    min_shift = min_shift if min_shift is not None else info.get("min_shift", 0.5)
    k, dev = len(bank), generator.device
    gen = torch.Generator(device=dev).manual_seed(seed)
    directions = bank.directions.to(dev)
    correct = torch.zeros(k, device=dev)
    counts = torch.zeros(k, device=dev)
    shift_err = torch.zeros((), device=dev)
    for start in range(0, n, batch_size):
        m = min(batch_size, n - start)
        index = (torch.arange(start, start + m, device=dev) % k)
        z = generator.latents_from_noise(torch.randn(m, generator.latent_dim, device=dev, generator=gen))
        eps = sample_shifts(m, shift_scale, min_shift, dev, gen)
        images = generator.module(torch.cat([z, z + directions[index] * eps[:, None]]))
        logits, eps_hat = reconstructor(torch.cat(images.chunk(2), dim=1))
        correct.index_add_(0, index, (logits.argmax(1) == index).float())
        counts.index_add_(0, index, torch.ones(m, device=dev))
        shift_err += (eps_hat.float() - eps).abs().sum()
    reconstructor.train(was_training)
    return {"accuracy": (correct.sum() / n).item(), "shift_error": (shift_err / n).item(), "n": n,
            "per_direction": (correct / counts.clamp_min(1)).tolist()}


def rca_comparison(generator, k: int | None = None, steps: int = 2000,
                   deformators: Sequence[str] = ("ortho", "unit-norm", "random", "coordinate"),
                   seed: int = 0, n_eval: int = 2048, progress: bool = False, **options) -> list[dict[str, Any]]:
    """The paper's main table: for each deformator train A (unless fixed) and R with the same budget, then
    measure RCA and shift error on the same fresh pairs. One row per deformator."""
    from .trainer import DiscoveryTrainer

    rows = []
    for kind in deformators:
        trainer = DiscoveryTrainer(generator, k, kind, seed=seed, **options)
        bank = trainer.run(steps, progress=progress, score_samples=1)
        result = rca(generator, bank, trainer, n=n_eval, seed=seed + 1)
        rows.append({"deformator": kind, "k": len(bank), "steps": steps, "accuracy": result["accuracy"],
                     "shift_error": result["shift_error"], "train_seconds": round(trainer.train_seconds, 1)})
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """Plain-text table of ``rca_comparison`` rows."""
    lines = [f"{'directions':12s} {'K':>4s} {'steps':>6s} {'RCA':>6s} {'shift err':>9s} {'train s':>8s}"]
    for r in rows:
        lines.append(f"{r['deformator']:12s} {r['k']:4d} {r['steps']:6d} {r['accuracy']:6.3f} "
                     f"{r['shift_error']:9.3f} {r['train_seconds']:8.1f}")
    return "\n".join(lines)
