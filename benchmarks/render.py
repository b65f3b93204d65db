"""Rendering speed: batched ``Generator.render`` vs one call per image (how the reference repos draw their
charts), for the zoo generators. Ratio measured in one run.

    python benchmarks/render.py [--n 512] [--device auto]
"""

from __future__ import annotations

import argparse
import time

import torch

from ganexplorer import load_generator


def images_per_second(fn, n: int, device: torch.device) -> float:
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=512)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    print(f"{'generator':10s} {'device':6s} {'batched img/s':>14s} {'batch-1 img/s':>14s} {'ratio':>7s}")
    for name in ("mnist", "shapes"):
        g = load_generator(name, device=args.device)
        z = g.sample_latents(args.n, seed=0)
        batched = images_per_second(lambda: g.to_uint8(g.render(z, batch_size=256)), args.n, g.device)
        single = images_per_second(lambda: [g.to_uint8(g.render(z[i:i + 1])) for i in range(args.n)], args.n,
                                   g.device)
        print(f"{name:10s} {g.device.type:6s} {batched:14.0f} {single:14.0f} {batched / single:6.1f}x")


if __name__ == "__main__":
    main()
