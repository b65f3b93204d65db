"""``describe`` speed: 32 directions x 9 shifts x 16 samples (4,608 renders + 10 probes) on the mnist generator,
repeated: the median and [min–max] over the rounds (see ``timing.py``).

    python benchmarks/describe.py [--rounds 5] [--device auto] [--model mnist] [--quick]
"""

from __future__ import annotations

import argparse

import torch
from timing import interleaved

from ganexplorer import load_generator, sefa
from ganexplorer.directions.describe import describe


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="auto")
    parser.add_argument("--model", default="mnist")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="4 directions x 4 samples, 2 rounds: a check that it runs")
    args = parser.parse_args()
    g = load_generator(args.model, device=args.device)
    k, n, rounds = (4, 4, 2) if args.quick else (32, 16, args.rounds)
    bank = sefa(g, k=k)
    sync = torch.cuda.synchronize if g.device.type == "cuda" else None
    t = interleaved({"describe": lambda: describe(g, bank, n=n, as_frame=False)}, rounds=rounds, sync=sync)
    print(f"describe: {k} directions x 9 shifts x {n} samples on {args.model} ({g.device.type}), {rounds} rounds: "
          f"{t['describe']} (median [min–max])")


if __name__ == "__main__":
    main()
