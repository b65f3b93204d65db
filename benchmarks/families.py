"""Render speed of full-size generators of the supported families, random weights (nothing is downloaded):
StyleGAN2 at 1024x1024, BigGAN-deep at 256x256, ProGAN at 1024x1024.

For each: seconds per image at batch 1 and at batch 16 (and their ratio, the gain from batching), in float32 and,
on CUDA, in float16 autocast (the ratio fp32/fp16 measured in the same run); then the Explorer's frames/s: one
slider move = shift, render, uint8 conversion, tile and encode, as the widget does it (the browser round trip is
in widget_latency.py). Then the drag preview (issue #21): for generators that can stop synthesis early
(StyleGAN2's skip architecture), the preview size the Explorer's planner picks for a 0.2 s frame budget (from
measured times), preview frames/s at that size, the full frame's latency, and how far the preview is from the full
frame shrunk to the same size (mean absolute difference in 0..255 and PSNR), so users know what they see.

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
    ex = Explorer(g, gx.sefa(g, k=10), samples=1, preview_budget=float("inf"))  # full frames only
    ex.set_shift(0, 0.1)
    start = time.perf_counter()
    for i in range(moves):
        ex.set_shift(0, (i % 20) / 10 - 1)
    if g.device.type == "cuda":
        torch.cuda.synchronize()
    return moves / (time.perf_counter() - start)


def preview_row(g: gx.Generator, repeats: int) -> tuple | None:
    """(size, preview frames/s, full-frame seconds, mean |preview - shrunk full|, PSNR dB) or None."""
    import numpy as np
    from PIL import Image

    from ganexplorer.generators.preview import PreviewPlanner, render_preview

    planner = PreviewPlanner(g, budget=0.2)
    if not planner.sizes:
        return None
    z = g.sample_latents(1, seed=2)
    full_s = min(_timed(lambda: g.render_uint8(z)) for _ in range(repeats))
    planner.record_full(full_s)
    planner.render(z)  # measures the sizes once, as the Explorer does on the first drag
    frames, size = planner.render(z)
    preview_s = min(_timed(lambda: render_preview(g, z, size)) for _ in range(repeats))
    full = g.render_uint8(z)[0]
    shrunk = np.asarray(Image.fromarray(full.squeeze()).resize((size, size), Image.BOX), np.float64)
    diff = np.abs(frames[0].squeeze().astype(np.float64) - shrunk)
    psnr = 10 * np.log10(255**2 / max((diff**2).mean(), 1e-12))
    return size, 1 / preview_s, full_s, diff.mean(), psnr


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="auto")
    parser.add_argument("--families", default="stylegan2,biggan,progan")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--moves", type=int, default=None, help="slider moves for frames/s (default 5 CPU, 50 GPU)")
    ARGS = parser.parse_args()
    rows, previews = [], []
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
            previews.append((family, g.device.type, dtype, preview_row(g, ARGS.repeats)))
            print(f"{family}: {dtype} done", flush=True)
    print(f"\n{'family':10s} {'size':9s} {'device':6s} {'dtype':8s} {'s/img b1':>9s} {'s/img b16':>10s} "
          f"{'b16 gain':>8s} {'Explorer fps':>12s}")
    for fam, size, dev, dtype, one, sixteen, gain, fps in rows:
        print(f"{fam:10s} {size:9s} {dev:6s} {dtype:8s} {one:9.3f} {sixteen:10.3f} {gain:7.2f}x {fps:12.2f}")
    print(f"\n{'family':10s} {'device':6s} {'dtype':8s} {'preview':>8s} {'preview fps':>11s} {'full s':>7s} "
          f"{'|preview - full| (0..255)':>26s} {'PSNR dB':>8s}")
    for fam, dev, dtype, p in previews:
        if p is None:
            print(f"{fam:10s} {dev:6s} {dtype:8s} {'none: full frames only (no intermediate RGB)':>40s}")
        else:
            size, pfps, full_s, mad, psnr = p
            print(f"{fam:10s} {dev:6s} {dtype:8s} {size:>7d}² {pfps:11.2f} {full_s:7.2f} {mad:26.1f} {psnr:8.1f}")
    if torch.cuda.is_available():
        print(f"GPU: {torch.cuda.get_device_name()}")
    for fam in {r[0] for r in rows}:
        pair = [r for r in rows if r[0] == fam]
        if len(pair) == 2:
            print(f"{fam}: fp16 speed-up at batch 16: {pair[0][5] / pair[1][5]:.2f}x, batch 1: "
                  f"{pair[0][4] / pair[1][4]:.2f}x")


ARGS = argparse.Namespace(device="auto")

if __name__ == "__main__":
    main()
