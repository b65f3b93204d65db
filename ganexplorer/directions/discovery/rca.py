"""Reconstructor classification accuracy (RCA): the discovery paper's measure of how distinguishable a set of
directions is, on fresh pairs. Imports nothing from the trainer (``comparison.py`` builds the main table)."""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from .sampling import is_out_of_memory, progress_default, sample_shifts


def rca(generator, bank, reconstructor: nn.Module | Any, n: int = 2048, shift_scale: float | None = None,
        min_shift: float | None = None, seed: int = 0, batch_size: int = 256, deformator: nn.Module | None = None,
        progress: bool | None = None, shard: bool | None = None) -> dict[str, Any]:
    """Accuracy of ``reconstructor`` at naming the direction, and its mean |eps_hat - eps|, on ``n`` fresh pairs
    (directions balanced). ``reconstructor`` may be a module or a ``DiscoveryTrainer``; the shift distribution
    defaults to the one the bank was trained with. ``deformator`` (e.g. ``trainer.deformator``) makes the shifts
    exactly as in training (needed for the reference's ``proj``, whose bias the bank does not hold); without it
    the shift is eps times the bank's direction. The result holds ``chance`` = 1/K next to the accuracy.
    ``progress``: a bar over the batches (None: on in a notebook or a terminal). ``shard`` (None: when
    torch.distributed is initialised with several ranks, e.g. under torchrun): every rank draws every batch's
    pairs from the same stream but renders only batches ``rank, rank + world, ...``; the counts are all-reduced,
    so every rank returns the same result as one process would. All ranks must call it together."""
    with torch.no_grad():
        reconstructor = getattr(reconstructor, "reconstructor", reconstructor)
        was_training = reconstructor.training
        reconstructor.eval()
        info = getattr(bank, "info", {})
        shift_scale = shift_scale if shift_scale is not None else info.get("shift_scale", 6.0)
        min_shift = min_shift if min_shift is not None else info.get("min_shift", 0.5)
        k, dev = len(bank), generator.device
        if n < 1:
            raise ValueError(f"n must be at least 1 pair, got {n}")
        gen = torch.Generator(device=dev).manual_seed(seed)
        directions = bank.directions.to(dev)
        correct = torch.zeros(k, device=dev)
        counts = torch.zeros(k, device=dev)
        shift_err = torch.zeros((), device=dev)
        bar = None
        if progress_default(progress):
            from tqdm.auto import tqdm

            bar = tqdm(total=n, desc=f"RCA on {n} pairs", leave=False)
        world, rank = 1, 0
        if shard is None or shard:
            if dist.is_available() and dist.is_initialized():
                world, rank = dist.get_world_size(), dist.get_rank()
            elif shard:
                raise ValueError("rca(shard=True) needs an initialised torch.distributed process group (torchrun)")
        if rank != 0 and bar is not None:
            bar.close()
            bar = None
        start, batch, chunk = 0, 0, batch_size
        while start < n:
            m = min(batch_size, n - start)
            index = (torch.arange(start, start + m, device=dev) % k)
            z = generator.latents_from_noise(torch.randn(m, generator.latent_dim, device=dev, generator=gen))
            eps = sample_shifts(m, shift_scale, min_shift, dev, gen)
            if batch % world == rank:  # this rank's share; every rank draws every batch so the pairs match 1 process
                # out of memory: the same pairs in smaller chunks (the chunk size stays small for later batches)
                done = 0
                while done < m:
                    sl = slice(done, min(m, done + chunk))
                    try:
                        shift = deformator(index[sl], eps[sl]) if deformator is not None else \
                            directions[index[sl]] * eps[sl, None]
                        images = generator.module(torch.cat([z[sl], z[sl] + shift]))
                        logits, eps_hat = reconstructor(torch.cat(images.chunk(2), dim=1))
                    except (RuntimeError, MemoryError) as exc:
                        if not is_out_of_memory(exc) or chunk == 1:
                            raise
                        chunk = max(1, chunk // 2)
                        continue
                    correct.index_add_(0, index[sl], (logits.argmax(1) == index[sl]).float())
                    counts.index_add_(0, index[sl], torch.ones(len(logits), device=dev))
                    shift_err += (eps_hat.float() - eps[sl]).abs().sum()
                    done = sl.stop
            start += m
            batch += 1
            if bar is not None:
                bar.update(m)
        if world > 1:
            totals = torch.cat([correct, counts, shift_err.view(1)])
            dist.all_reduce(totals)
            correct, counts, shift_err = totals[:k], totals[k:2 * k], totals[2 * k]
        if bar is not None:
            bar.close()
        reconstructor.train(was_training)
        return {"accuracy": (correct.sum() / n).item(), "chance": 1 / k, "shift_error": (shift_err / n).item(),
                "n": n, "per_direction": (correct / counts.clamp_min(1)).tolist()}
