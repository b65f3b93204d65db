"""``describe`` speed: 32 directions x 9 shifts x 16 samples (4,608 renders + 10 probes) on the mnist generator.

    python benchmarks/describe.py [--device auto]
"""

from __future__ import annotations

import argparse
import time

from ganexplorer import load_generator, sefa
from ganexplorer.directions.describe import describe


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="auto")
    parser.add_argument("--model", default="mnist")
    args = parser.parse_args()
    g = load_generator(args.model, device=args.device)
    bank = sefa(g, k=32)
    describe(g, bank, n=2, directions=[0], as_frame=False)  # warm-up
    start = time.perf_counter()
    rows = describe(g, bank, n=16, as_frame=False)
    seconds = time.perf_counter() - start
    print(f"describe: {len(rows)} directions x 9 shifts x 16 samples on {args.model} ({g.device.type}): "
          f"{seconds:.2f} s")


if __name__ == "__main__":
    main()
