"""Rendering speed: batched ``Generator.render`` vs one call per image (how the reference repos draw their
charts), for the zoo generators. Both ways run in turn in every round; the output is the median and the
[min–max] over the rounds, and the speed-up is taken per round (see ``timing.py``).

    python benchmarks/render.py [--n 512] [--rounds 7] [--device auto] [--quick]
"""

from __future__ import annotations

import argparse

import torch
from timing import interleaved, ratio, spread

from ganexplorer import load_generator


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--quick", action="store_true", help="64 images, 2 rounds: a check that it runs")
    args = parser.parse_args()
    n, rounds = (64, 2) if args.quick else (args.n, args.rounds)
    print(f"{n} images per call, {rounds} interleaved rounds: median [min–max]")
    print(f"{'generator':10s} {'device':6s} {'batched img/s':>22s} {'batch-1 img/s':>22s} {'speed-up':>20s}")
    for name in ("mnist", "shapes"):
        g = load_generator(name, device=args.device)
        z = g.sample_latents(n, seed=0)
        sync = torch.cuda.synchronize if g.device.type == "cuda" else None
        t = interleaved({"batched": lambda: g.to_uint8(g.render(z, batch_size=256)),
                         "single": lambda: [g.to_uint8(g.render(z[i:i + 1])) for i in range(n)]},
                        rounds=rounds, sync=sync)
        print(f"{name:10s} {g.device.type:6s} {spread(t['batched'].per_second(n), '{:.0f}'):>22s} "
              f"{spread(t['single'].per_second(n), '{:.0f}'):>22s} {ratio(t['single'], t['batched']):>20s}")


if __name__ == "__main__":
    main()
