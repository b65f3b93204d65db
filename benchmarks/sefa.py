"""SeFa speed: ours (torch eigh on the device, sorted) vs the reference algorithm in numpy (eig of W^T W),
on StyleGAN2-1024-sized style weights (18 layers concatenated: 6080 units x 512). The two run in turn in every
round; the output is the median and [min–max] over the rounds, the speed-up taken per round (``timing.py``).

    python benchmarks/sefa.py [--rounds 7] [--quick]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from timing import interleaved, ratio

from ganexplorer.device import resolve_device
from ganexplorer.directions.sefa import factorize


def reference(weight_t: np.ndarray):
    w = weight_t / np.linalg.norm(weight_t, axis=0, keepdims=True)
    values, vectors = np.linalg.eig(w.dot(w.T))
    order = np.argsort(-values.real)
    return vectors.T[order], values[order]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="a 128 x 1024 weight, 2 rounds: a check that it runs")
    args = parser.parse_args()
    (d, units), rounds = ((128, 1024), 2) if args.quick else ((512, 6080), args.rounds)
    weight_t = np.random.default_rng(0).standard_normal((d, units)).astype(np.float32)
    contenders = {"numpy reference (eig)": lambda: reference(weight_t)}
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for name in devices:
        w = torch.from_numpy(weight_t.T.copy()).to(resolve_device(name))
        contenders[f"ganexplorer on {name} (eigh)"] = (
            (lambda w=w: (factorize(w), torch.cuda.synchronize())) if name == "cuda" else (lambda w=w: factorize(w)))
    t = interleaved(contenders, rounds=rounds)
    print(f"{units} x {d} weight, {rounds} interleaved rounds: median [min–max]")
    ref = t["numpy reference (eig)"]
    for label, timing in t.items():
        speedup = "" if timing is ref else f"   speed-up {ratio(ref, timing)}"
        print(f"{label:28s} {str(timing):>28s}{speedup}")


if __name__ == "__main__":
    main()
