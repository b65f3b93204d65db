"""Render speed of full-size generators of the supported families, random weights (nothing is downloaded):
StyleGAN2 at 1024x1024, BigGAN-deep at 256x256, ProGAN at 1024x1024.

For each: seconds per image at batch 1 and at batch 16 (and their ratio, the gain from batching), in float32 and,
on CUDA, in float16 autocast (the ratio fp32/fp16 measured in the same run); then the Explorer's frames/s: one
slider move = shift, render, uint8 conversion, tile and encode, as the widget does it (the browser round trip is
in widget_latency.py).

    python benchmarks/families.py [--device auto] [--families stylegan2,biggan,progan] [--repeats 2]
"""

from __future__ import annotations

import argparse
import time

import torch

import ganexplorer as gx


def make(family: str) -> gx.Generator | None:
    torch.manual_seed(0)
    if family == "stylegan2":
        from ganexplorer.generators.stylegan2 import StyleGAN2Generator

        module = StyleGAN2Generator(resolution=1024)
        module.estimate_w_avg(512)
        module.truncation = 0.7
    elif family == "biggan":
        try:
            from ganexplorer.generators.biggan import BigGANGenerator

            module = BigGANGenerator.random(resolution=256)
        except ImportError:
            print("biggan: skipped (pip install ganexplorer[biggan])")
            return None
    elif family == "progan":
        from ganexplorer.generators.progan import ProGANGenerator

        module = ProGANGenerator(resolution=1024)
    else:
        raise SystemExit(f"unknown family {family}")
    return gx.Generator(module, device=ARGS.device, name=family)


def seconds_per_image(g: gx.Generator, batch: int, repeats: int) -> float:
    z = g.sample_latents(batch, seed=1)
    g.render(z, batch_size=batch)  # warm-up (kernels, allocator)
    best = float("inf")
    for _ in range(repeats):
        if g.device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        g.render(z, batch_size=batch)
        if g.device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best / batch


def explorer_fps(g: gx.Generator, moves: int) -> float:
    from ganexplorer.widget import Explorer

    Explorer.send = lambda self, msg, buffers=None: None  # no browser attached: measure our side only
    ex = Explorer(g, gx.sefa(g, k=10), samples=1)
    ex.set_shift(0, 0.1)
    start = time.perf_counter()
    for i in range(moves):
        ex.set_shift(0, (i % 20) / 10 - 1)
    if g.device.type == "cuda":
        torch.cuda.synchronize()
    return moves / (time.perf_counter() - start)


def main() -> None:
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="auto")
    parser.add_argument("--families", default="stylegan2,biggan,progan")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--moves", type=int, default=None, help="slider moves for frames/s (default 5 CPU, 50 GPU)")
    ARGS = parser.parse_args()
    rows = []
    for family in ARGS.families.split(","):
        g = make(family)
        if g is None:
            continue
        dtypes = ["float32", "float16"] if g.device.type == "cuda" else ["float32"]
        for dtype in dtypes:
            g.dtype = {"float32": torch.float32, "float16": torch.float16}[dtype]
            one, sixteen = seconds_per_image(g, 1, ARGS.repeats), seconds_per_image(g, 16, ARGS.repeats)
            fps = explorer_fps(g, ARGS.moves or (50 if g.device.type == "cuda" else 5))
            c, h, w = g.image_shape
            rows.append((family, f"{h}x{w}", g.device.type, dtype, one, sixteen, one / sixteen, fps))
            print(f"{family}: {dtype} done", flush=True)
    print(f"\n{'family':10s} {'size':9s} {'device':6s} {'dtype':8s} {'s/img b1':>9s} {'s/img b16':>10s} "
          f"{'b16 gain':>8s} {'Explorer fps':>12s}")
    for fam, size, dev, dtype, one, sixteen, gain, fps in rows:
        print(f"{fam:10s} {size:9s} {dev:6s} {dtype:8s} {one:9.3f} {sixteen:10.3f} {gain:7.2f}x {fps:12.2f}")
    for fam in {r[0] for r in rows}:
        pair = [r for r in rows if r[0] == fam]
        if len(pair) == 2:
            print(f"{fam}: fp16 speed-up at batch 16: {pair[0][5] / pair[1][5]:.2f}x, batch 1: "
                  f"{pair[0][4] / pair[1][4]:.2f}x")


ARGS = argparse.Namespace(device="auto")

if __name__ == "__main__":
    main()
