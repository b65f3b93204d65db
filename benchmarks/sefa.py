"""SeFa speed: ours (torch eigh on the device, sorted) vs the reference algorithm in numpy (eig of W^T W),
on StyleGAN2-1024-sized style weights (18 layers concatenated: 6080 units x 512). Ratio measured in one run.

    python benchmarks/sefa.py
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import torch

from ganexplorer.device import resolve_device
from ganexplorer.directions.sefa import factorize


def reference(weight_t: np.ndarray):
    w = weight_t / np.linalg.norm(weight_t, axis=0, keepdims=True)
    values, vectors = np.linalg.eig(w.dot(w.T))
    order = np.argsort(-values.real)
    return vectors.T[order], values[order]


def median_seconds(fn, repeats: int = 7) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    rng = np.random.default_rng(0)
    weight_t = rng.standard_normal((512, 6080)).astype(np.float32)
    ref = median_seconds(lambda: reference(weight_t))
    print(f"numpy reference (eig):   {ref * 1e3:8.1f} ms")
    for name in ["cpu"] + (["cuda"] if torch.cuda.is_available() else []):
        dev = resolve_device(name)
        w = torch.from_numpy(weight_t.T.copy()).to(dev)

        def ours():
            factorize(w)
            if dev.type == "cuda":
                torch.cuda.synchronize()

        t = median_seconds(ours)
        print(f"ganexplorer on {name:4s} (eigh): {t * 1e3:8.1f} ms   speed-up x{ref / t:.1f}")


if __name__ == "__main__":
    main()
