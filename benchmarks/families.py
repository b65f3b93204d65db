"""Render speed of full-size generators of the supported families, random weights (nothing is downloaded):
StyleGAN2 at 1024x1024, StyleGAN v1 (genforce) at 1024x1024, BigGAN-deep at 256x256, ProGAN at 1024x1024, and the
zoo's DCGAN "shapes" at 32x32. (StyleGAN3 is built only from an official .pkl, so it is not here; it has no skip RGB
path and previews with a reduced batch, like ProGAN.)

For each: the rendering policy (device.render_policy: dtype, channels-last); seconds per image at batch 1 and at
batch 16 (and their ratio, the gain from batching), in float32 and, on CUDA, in the policy's half type (the ratio
measured in the same run); then the Explorer's frames/s: one
slider move = shift, render, uint8 conversion, tile and encode, as the widget does it (the browser round trip is
in widget_latency.py). Then the drag preview (issue #21): for generators that can stop synthesis early
(StyleGAN2's skip architecture), the preview size the Explorer's planner picks for a 0.2 s frame budget (from
measured times), preview frames/s at that size, the full frame's latency, and how far the preview is from the full
frame shrunk to the same size (mean absolute difference in 0..255 and PSNR), so users know what they see.

    python benchmarks/families.py [--device auto] [--families stylegan2,stylegan-v1,biggan,progan,dcgan]
                                  [--repeats 2] [--quick] [--no-style-cache] [--clock wall|cpu] [--layouts] [--cache]

``--quick`` skips batch 16 and the Explorer frames/s (the slow parts on a CPU) and keeps the per-family table:
full-frame latency and preview frames/s at native size. ``--no-style-cache`` turns StyleGAN2's style cache off
(compare the two runs). ``--layouts`` compares float32 NCHW, channels-last weights and bfloat16 per family
instead (the evidence for device.render_policy's channels-last choice). With CUDA present the GPU's name is
printed with its figures. ``--cache`` times StyleGAN2's style cache on and off (with ``--quick``: previews only).
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
    elif family == "stylegan-v1":
        from ganexplorer.generators.genforce import StyleGANGenerator

        module = StyleGANGenerator(resolution=1024)
        module.estimate_w_avg(512)
        module.truncation = 0.7
    elif family == "dcgan":
        return gx.load_generator("shapes", device=ARGS.device, dtype="auto")
    elif family == "progan":
        from ganexplorer.generators.progan import ProGANGenerator

        module = ProGANGenerator(resolution=1024)
    else:
        raise SystemExit(f"unknown family {family}")
    if ARGS.no_style_cache and hasattr(module, "style_cache"):
        module.style_cache = False
    return gx.Generator(module, device=ARGS.device, name=family)


def seconds_per_image(g: gx.Generator, batch: int, repeats: int) -> float:
    z = g.sample_latents(batch, seed=1)
    g.render(z, batch_size=batch)  # warm-up (kernels, allocator)
    best = float("inf")
    for _ in range(repeats):
        if g.device.type == "cuda":
            torch.cuda.synchronize()
        start = clock()
        g.render(z, batch_size=batch)
        if g.device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, clock() - start)
    return best / batch


def explorer_fps(g: gx.Generator, moves: int) -> float:
    from ganexplorer.widget import Explorer

    Explorer.send = lambda self, msg, buffers=None: None  # no browser attached: measure our side only
    ex = Explorer(g, gx.sefa(g, k=10), samples=1, preview_budget=float("inf"))  # full frames only
    ex.set_shift(0, 0.1)
    start = clock()
    for i in range(moves):
        ex.set_shift(0, (i % 20) / 10 - 1)
    if g.device.type == "cuda":
        torch.cuda.synchronize()
    return moves / (clock() - start)


def flat_preview_row(g: gx.Generator, repeats: int) -> tuple[float, float]:
    """Generators that cannot stop early: (reduced-batch preview frames/s = one sample of four at full size,
    full-frame seconds of the four samples the Explorer would show)."""
    from ganexplorer.generators.preview import PreviewPlanner

    planner, z = PreviewPlanner(g, budget=0.2), g.sample_latents(4, seed=2)
    planner.render(z)
    preview_s = min(_timed(lambda: planner.render(z)) for _ in range(repeats))
    return 1 / preview_s, min(_timed(lambda: g.render_uint8(z)) for _ in range(repeats))


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


def layout_row(g: gx.Generator, repeats: int) -> dict[str, float]:
    """Seconds per image at batch 1 in float32 NCHW, float32 channels-last weights and bfloat16 autocast,
    interleaved (min over ``repeats``): the evidence for the policy's channels-last choice on this device."""
    z, times = g.sample_latents(1, seed=3), {}
    variants = {"fp32 NCHW": (torch.contiguous_format, torch.float32),
                "fp32 channels-last": (torch.channels_last, torch.float32),
                "bf16 autocast": (torch.contiguous_format, torch.bfloat16)}
    keep = (g.dtype, torch.channels_last if g.channels_last else torch.contiguous_format)
    for i in range(repeats + 1):
        for name, (layout, dtype) in variants.items():
            g.module.to(memory_format=layout)
            g.dtype = dtype
            seconds = _timed(lambda: g.render(z, batch_size=1))
            if i:  # the first round warms up each variant
                times[name] = min(times.get(name, float("inf")), seconds)
    g.dtype = keep[0]
    g.module.to(memory_format=keep[1])
    return times


def cache_rows(g: gx.Generator, repeats: int, sizes: list[int | None]) -> None:
    """StyleGAN2's style cache on and off, as a drag renders (one sample, a new w on the moved layers per frame),
    for a direction on all layers, on the fine half and on layers 0-1; interleaved, min over ``repeats``."""
    m = g.module
    w = m.per_layer(g.sample_latents(1, seed=1)).clone()
    d = torch.randn(m.latent_dim, generator=torch.Generator().manual_seed(0)).to(w.device)
    ranges = {"all": range(m.num_layers), "fine half": range(m.num_layers // 2, m.num_layers), "0-1": range(2)}
    for name, layers in ranges.items():
        for size in sizes:
            times: dict[bool, float] = {}
            for i in range(repeats + 1):
                for cache in (False, True):
                    m.style_cache = cache
                    for j in range(2):  # the first frame fills the cache, the second is the one timed
                        wi = w.clone()
                        wi[:, list(layers)] += 0.1 * (2 * i + j + 1) * d
                        with torch.inference_mode():
                            seconds = _timed(lambda: m(wi, resolution=size))
                        if i and j:
                            times[cache] = min(times.get(cache, float("inf")), seconds)
            m.style_cache = True
            print(f"{g.name:18s} layers {name:9s} {size or m.resolution:5d}²: no cache {times[False] * 1e3:8.1f} ms, "
                  f"cache {times[True] * 1e3:8.1f} ms, saved {100 * (1 - times[True] / times[False]):5.1f}%",
                  flush=True)


def _timed(fn) -> float:
    start = clock()
    fn()
    return clock() - start


def main() -> None:
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="auto")
    parser.add_argument("--families", default="stylegan2,stylegan-v1,biggan,progan,dcgan")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--moves", type=int, default=None, help="slider moves for frames/s (default 5 CPU, 50 GPU)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="cpu: this process's CPU time instead of wall time (shared machines)")
    parser.add_argument("--layouts", action="store_true",
                        help="only compare float32 NCHW / channels-last / bfloat16 per family (the policy's evidence)")
    parser.add_argument("--cache", action="store_true",
                        help="only StyleGAN2's style cache on vs off (1024 random weights, zoo shapes-stylegan2)")
    parser.add_argument("--quick", action="store_true", help="skip batch 16 and the Explorer frames/s")
    parser.add_argument("--no-style-cache", action="store_true", help="StyleGAN2 without its style cache")
    ARGS = parser.parse_args()
    rows, previews, flats, policies = [], [], [], []
    if ARGS.cache:
        print(f"StyleGAN2 style cache ({'CPU time' if ARGS.clock == 'cpu' else 'wall clock'}, min of {ARGS.repeats})")
        cache_rows(gx.load_generator("shapes-stylegan2", device=ARGS.device, dtype="auto"), ARGS.repeats, [None, 8])
        cache_rows(make("stylegan2"), ARGS.repeats, [32] if ARGS.quick else [32, None])
        return
    if ARGS.layouts:
        print(f"seconds per image, batch 1 ({'CPU time' if ARGS.clock == 'cpu' else 'wall clock'}); speed-up vs NCHW")
    for family in ARGS.families.split(","):
        g = make(family)
        if g is None:
            continue
        if ARGS.layouts:
            times = layout_row(g, ARGS.repeats)
            base = times["fp32 NCHW"]
            print(f"{family:12s} " + "; ".join(f"{k} {v * 1e3:.1f} ms ({base / v:.2f}x)" for k, v in times.items()),
                  flush=True)
            continue
        policies.append((family, g.policy, g.channels_last))
        dtypes = [torch.float32] + ([g.policy.dtype] if g.policy.dtype != torch.float32 else [])
        for dt in dtypes:
            g.dtype, dtype = dt, str(dt).removeprefix("torch.")
            one = seconds_per_image(g, 1, ARGS.repeats)
            sixteen = float("nan") if ARGS.quick else seconds_per_image(g, 16, ARGS.repeats)
            fps = float("nan") if ARGS.quick else explorer_fps(g, ARGS.moves or (50 if g.device.type == "cuda" else 5))
            c, h, w = g.image_shape
            rows.append((family, f"{h}x{w}", g.device.type, dtype, one, sixteen, one / sixteen, fps))
            row = preview_row(g, ARGS.repeats)
            previews.append((family, g.device.type, dtype, row))
            if row is None:
                flats.append((family, g.device.type, dtype, *flat_preview_row(g, ARGS.repeats)))
            print(f"{family}: {dtype} done", flush=True)
    if torch.cuda.is_available():
        print(f"GPU: {torch.cuda.get_device_name()}")
    if ARGS.layouts:
        return
    print(f"times: {'CPU time of this process' if ARGS.clock == 'cpu' else 'wall clock'}, "
          f"{torch.get_num_threads()} torch threads")
    print(f"\n{'family':12s} rendering policy")
    for fam, policy, cl in policies:
        print(f"{fam:12s} {str(policy.dtype).removeprefix('torch.')}, {'channels-last' if cl else 'NCHW'} "
              f"weights: {policy.why}")
    print(f"\n{'family':10s} {'size':9s} {'device':6s} {'dtype':8s} {'s/img b1':>9s} {'s/img b16':>10s} "
          f"{'b16 gain':>8s} {'Explorer fps':>12s}")
    for fam, size, dev, dtype, one, sixteen, gain, fps in rows:
        print(f"{fam:10s} {size:9s} {dev:6s} {dtype:8s} {one:9.3f} {sixteen:10.3f} {gain:7.2f}x {fps:12.2f}")
    print(f"\n{'family':10s} {'device':6s} {'dtype':8s} {'preview':>8s} {'preview fps':>11s} {'full s':>7s} "
          f"{'|preview - full| (0..255)':>26s} {'PSNR dB':>8s}")
    for fam, dev, dtype, p in previews:
        if p is None:
            print(f"{fam:10s} {dev:6s} {dtype:8s} {'none: no intermediate RGB (reduced batch below)':>40s}")
        else:
            size, pfps, full_s, mad, psnr = p
            print(f"{fam:10s} {dev:6s} {dtype:8s} {size:>7d}² {pfps:11.2f} {full_s:7.2f} {mad:26.1f} {psnr:8.1f}")
    if flats:
        print(f"\nreduced-batch previews (4 samples: the first follows the drag at full size)\n{'family':10s} "
              f"{'device':6s} {'dtype':8s} {'preview fps':>11s} {'full s (4)':>10s}")
        for fam, dev, dtype, pfps, full_s in flats:
            print(f"{fam:10s} {dev:6s} {dtype:8s} {pfps:11.2f} {full_s:10.2f}")
    if torch.cuda.is_available():
        print(f"GPU figures above: {torch.cuda.get_device_name()}")
    for fam in {r[0] for r in rows}:
        pair = [r for r in rows if r[0] == fam]
        if len(pair) == 2:
            print(f"{fam}: {pair[1][3]} speed-up at batch 16: {pair[0][5] / pair[1][5]:.2f}x, batch 1: "
                  f"{pair[0][4] / pair[1][4]:.2f}x")


ARGS = argparse.Namespace(device="auto", no_style_cache=False)


def clock() -> float:
    """Wall time, or with ``--clock cpu`` this process's CPU time: on a shared machine the wall clock measures the
    other jobs too, CPU time only our work (with OMP_NUM_THREADS=1 it is the one-core cost of a frame)."""
    return time.process_time() if getattr(ARGS, "clock", "wall") == "cpu" else time.perf_counter()

if __name__ == "__main__":
    main()
