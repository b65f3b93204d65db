"""Repeated, interleaved timings: a median with its [min–max] spread, never a single run.

On a shared machine one run can be off by a factor of two (issue 20: ``render.py`` reran at ×3.1, ×5.5 and ×3.5
for the same ratio). So every benchmark here times each contender once per round, the contenders interleaved
within the round (a slow patch of the machine then hits all of them alike), over several rounds, and reports
the median and the range. A ratio is taken per round (paired), then summarised the same way.

    from timing import interleaved, ratio
    times = interleaved({"batched": f, "one by one": g}, rounds=5)
    print(times["batched"], ratio(times["one by one"], times["batched"]))
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


def spread(values: Sequence[float], fmt: str = "{:.2f}", unit: str = "") -> str:
    """``median [min–max]`` of ``values``, each formatted with ``fmt``."""
    if not values:
        raise ValueError("spread of no values: run at least one round")
    med, lo, hi = statistics.median(values), min(values), max(values)
    return f"{fmt.format(med)}{unit} [{fmt.format(lo)}–{fmt.format(hi)}]"


@dataclass
class Timing:
    """Seconds of one contender, one entry per round."""

    seconds: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    def per_second(self, n: float) -> list[float]:
        """Throughput per round, for ``n`` items per call."""
        return [n / s for s in self.seconds]

    def __str__(self) -> str:
        return spread([s * 1e3 for s in self.seconds], "{:.1f}", " ms")


def interleaved(contenders: dict[str, Callable[[], Any]], rounds: int = 5, warmup: int = 1,
                sync: Callable[[], Any] | None = None) -> dict[str, Timing]:
    """Time every contender once per round, in turn, for ``rounds`` rounds after ``warmup`` untimed rounds.

    ``sync`` runs after each call, inside the timed region (e.g. ``torch.cuda.synchronize``), so asynchronous
    work is counted."""
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for r in range(warmup + rounds):
        for name, fn in contenders.items():
            start = time.perf_counter()
            fn()
            if sync is not None:
                sync()
            elapsed = time.perf_counter() - start
            if r >= warmup:
                times[name].append(elapsed)
    return {name: Timing(t) for name, t in times.items()}


def ratios(slow: Timing, fast: Timing) -> list[float]:
    """Per-round speed-ups slow / fast (the rounds are paired: both ran back to back)."""
    if len(slow.seconds) != len(fast.seconds):
        raise ValueError("ratios need timings from the same rounds (one interleaved() call)")
    return [s / f for s, f in zip(slow.seconds, fast.seconds)]


def ratio(slow: Timing, fast: Timing) -> str:
    """``×median [min–max]`` of the per-round speed-ups slow / fast."""
    return "×" + spread(ratios(slow, fast), "{:.2f}")
