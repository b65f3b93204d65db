"""The discovery paper's main table: RCA and shift error of learned vs random vs coordinate directions, each
trained with the same budget, over several seeds, with RCA-vs-steps curves on fresh pairs."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

from .rca import rca
from .sampling import progress_default
from .trainer import DiscoveryTrainer


def rca_comparison(generator, k: int | None = None, steps: int = 2000,
                   deformators: Sequence[str] = ("ortho", "unit-norm", "random", "coordinate"),
                   seed: int = 0, n_eval: int = 2048, progress: bool | None = None, seeds: Sequence[int] | None = None,
                   eval_every: int | None = None, n_curve: int = 512, keep_banks: bool = False,
                   **options) -> list[dict[str, Any]]:
    """For each deformator (and each of ``seeds``, default ``[seed]``) train A (unless fixed) and R with the same
    budget, then measure RCA and shift error on fresh pairs (the same pairs for every row of a seed). One row per
    (deformator, seed), with ``chance`` = 1/K. ``eval_every``: also measure RCA on ``n_curve`` fresh pairs every
    that many steps (``row['curve']``: [(step, RCA, shift error), ...]). Before each measurement R's batch-norm
    statistics are re-estimated on fresh training pairs (``refresh_batch_norm``). ``keep_banks``: ``row['bank']``
    holds the directions (its ``trainer`` attribute keeps R). ``options`` go to DiscoveryTrainer."""
    seeds = [seed] if seeds is None else list(seeds)
    show = progress_default(progress)
    rows = []
    for s in seeds:
        for kind in deformators:
            trainer = DiscoveryTrainer(generator, k, kind, seed=s, **options)
            chunk = eval_every or steps
            curve = []
            while trainer.step < steps:
                with warnings.catch_warnings():  # a short run's "not converged" note goes in the row instead
                    warnings.simplefilter("ignore", UserWarning)
                    bank = trainer.run(min(chunk, steps - trainer.step), progress=show, score_samples=1,
                                       log_every=min(chunk, 50))
                if eval_every:
                    trainer.refresh_batch_norm()
                    r = rca(generator, bank, trainer, n=n_curve, seed=10_000 + s, deformator=trainer.deformator,
                            progress=False)
                    curve.append((trainer.step, r["accuracy"], r["shift_error"]))
            trainer.refresh_batch_norm()
            result = rca(generator, bank, trainer, n=n_eval, seed=s + 1, deformator=trainer.deformator,
                         progress=False)
            row = {"deformator": kind, "seed": s, "k": len(bank), "steps": steps, "accuracy": result["accuracy"],
                   "chance": result["chance"], "shift_error": result["shift_error"],
                   "train_seconds": round(trainer.train_seconds, 1), "note": bank.info.get("note")}
            if eval_every:
                row["curve"] = curve
            if keep_banks:
                bank.scores = result["per_direction"]  # R's accuracy per direction on the n_eval pairs
                bank.trainer = trainer
                row["bank"] = bank
            rows.append(row)
    return rows


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and (sample) standard deviation over seeds of each deformator's RCA and shift error."""
    out = []
    for kind in dict.fromkeys(r["deformator"] for r in rows):
        group = [r for r in rows if r["deformator"] == kind]
        entry = {"deformator": kind, "k": group[0]["k"], "steps": group[0]["steps"], "seeds": len(group),
                 "chance": group[0]["chance"]}
        for key in ("accuracy", "shift_error", "train_seconds"):
            values = [r[key] for r in group]
            mean = sum(values) / len(values)
            std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
            entry[key], entry[key + "_std"] = mean, std
        out.append(entry)
    return out


def format_table(rows: list[dict[str, Any]]) -> str:
    """Plain-text table of ``rca_comparison`` rows, or of ``summarize`` rows (mean ± std over seeds)."""
    if rows and "seeds" in rows[0]:
        lines = [f"{'directions':12s} {'K':>4s} {'steps':>6s} {'seeds':>5s} {'RCA (mean ± std)':>17s} "
                 f"{'chance':>6s} {'shift err':>13s} {'train s':>8s}"]
        for r in rows:
            lines.append(f"{r['deformator']:12s} {r['k']:4d} {r['steps']:6d} {r['seeds']:5d} "
                         f"{r['accuracy']:8.3f} ± {r['accuracy_std']:.3f} {r['chance']:6.3f} "
                         f"{r['shift_error']:6.2f} ± {r['shift_error_std']:4.2f} {r['train_seconds']:8.1f}")
        return "\n".join(lines)
    lines = [f"{'directions':12s} {'K':>4s} {'steps':>6s} {'RCA':>6s} {'chance':>6s} {'shift err':>9s} "
             f"{'train s':>8s}"]
    for r in rows:
        lines.append(f"{r['deformator']:12s} {r['k']:4d} {r['steps']:6d} {r['accuracy']:6.3f} {r['chance']:6.3f} "
                     f"{r['shift_error']:9.3f} {r['train_seconds']:8.1f}")
    notes = {r["note"] for r in rows if r.get("note")}
    return "\n".join(lines + [f"({n})" for n in sorted(notes)])


def _comparison_worker(name: str, threads: int | None, kwargs: dict[str, Any],
                       device: str = "cpu") -> list[dict[str, Any]]:
    """One table (or one row: ``kwargs`` naming one deformator and one seed) in a worker process pinned to
    ``threads`` (None: in the caller's process, its threads as set), its generator on ``device``."""
    import torch

    from ...generators import load_generator

    if threads is not None:
        torch.set_num_threads(threads)
    rows = rca_comparison(load_generator(name, device=device), **kwargs)
    for row in rows:  # banks travel back without their trainer (R stays in the worker)
        if "bank" in row and hasattr(row["bank"], "trainer"):
            del row["bank"].trainer
        if "bank" in row:
            row["bank"].directions = row["bank"].directions.cpu()
    return rows


#: rows trained at once on one GPU: each process replays its own CUDA graph (eight shared an H200 at ~88 % of one's
#: speed each, measured); more only add CUDA contexts
GPU_PROCESSES = 8


def rca_comparisons(names: Sequence[str], processes: int | None = None, device: str = "auto",
                    by_row: bool | None = None, **kwargs) -> dict[str, list[dict[str, Any]]]:
    """``rca_comparison`` for several zoo generators (by name). On CPU: one process per generator, up to
    ``processes`` at a time (default: one per CPU core), each pinned to one thread, so a 2-core machine runs two
    tables at once; ``processes=1`` runs them in this process with its thread setting. On a GPU (``device``
    "auto" with CUDA present, or "cuda"): every row (generator x deformator x seed) is its own job, up to
    ``GPU_PROCESSES`` sharing the GPU (``by_row`` forces either split). Rows are independent (each seeds its own
    trainer and its evaluation pairs), so the split does not change them. Returns {name: rows}, banks
    (``keep_banks``) without their trainer."""
    import os
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from ...device import resolve_device

    names = list(dict.fromkeys(names))
    where = resolve_device(device)
    on_gpu = where.type == "cuda"
    by_row = on_gpu if by_row is None else by_row
    kinds = list(kwargs.pop("deformators", ("ortho", "unit-norm", "random", "coordinate")))
    seeds = list(kwargs.pop("seeds", None) or [kwargs.pop("seed", 0)])
    kwargs.pop("seed", None)
    jobs = ([(name, {"deformators": [kind], "seeds": [s]}) for name in names for s in seeds for kind in kinds]
            if by_row else [(name, {"deformators": kinds, "seeds": seeds}) for name in names])
    default = GPU_PROCESSES if on_gpu else (os.cpu_count() or 1)
    processes = processes or max(1, min(len(jobs), default))
    threads = None if on_gpu else 1
    if processes == 1:
        parts = [_comparison_worker(name, None, {**kwargs, **job}, str(where)) for name, job in jobs]
    else:
        kwargs = {**kwargs, "progress": False}
        with ProcessPoolExecutor(processes, mp_context=get_context("spawn")) as pool:
            futures = [pool.submit(_comparison_worker, name, threads, {**kwargs, **job}, str(where))
                       for name, job in jobs]
            parts = [future.result() for future in futures]
    out: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for (name, _), rows in zip(jobs, parts):
        out[name].extend(rows)
    return out
