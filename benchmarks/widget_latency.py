"""The Explorer's speed as a person meets it, in a real JupyterLab driven by headless Debian Chromium.

For each generator: run-all -> first frame on screen; the median latency of one arrow key on a focused slider
until the canvas has drawn the new frame, next to the message round trip with no pixels (the floor) and one
generator forward, measured in the same run (our overhead = latency - round trip - forward; target: <= 10 ms);
a fast drag (20 key presses back to back) and how long after the last key its frame is on screen. For mnist
with K = 64 directions: gallery open -> thumbnails of the rows in view, and -> all 64 after scrolling to the end
(target <= 1 s).

    python benchmarks/widget_latency.py [--presses 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from browser_harness import ARGS, CHROMIUM, jupyter_lab, run_notebook  # noqa: E402

SETUP = """import sys
sys.path.insert(0, {bench_dir!r})
import ganexplorer as gx
from widget_latency import make_generator
G = make_generator("{model}")
ex = gx.Explorer(G, bank=gx.sefa(G, k=min(64, G.latent_dim)), samples=1)
ex"""
DONE = "print('GX-' + 'READY')"  # split, so that the sentinel is not in the cell's source


def make_generator(name: str):
    """The zoo generators, and a random-weight 256x256 DCGAN."""
    import torch

    import ganexplorer as gx
    from ganexplorer.generators.dcgan import DCGANGenerator

    if name == "dcgan256":
        torch.manual_seed(0)
        return gx.Generator(DCGANGenerator(64, 3, 16, 256), name="dcgan256")
    return gx.load_generator(name)


def forward_ms(name: str) -> float:
    """Median time of one batch-1 render to uint8 frames, as the Explorer does per frame."""
    g = make_generator(name)
    z = g.sample_latents(1, seed=0)
    times = []
    for _ in range(60):
        start = time.perf_counter()
        g.render_uint8(z)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times[10:])


WAIT_FRAME = "(s0) => Number(document.querySelector('.gx-live-canvas').dataset.seq) > s0"
STATE = """() => { const c = document.querySelector('.gx-live-canvas');
  return {seq: Number(c.dataset.seq), drawn: Number(c.dataset.drawnAt), key: window.__gxKeyAt}; }"""


def measure(page, presses: int) -> dict[str, float]:
    page.evaluate("() => window.addEventListener('keydown', () => { window.__gxKeyAt = performance.now(); }, true)")
    pings = page.evaluate("""async (n) => { const el = document.querySelector('.gx-explorer'); const out = [];
        for (let i = 0; i < n; i++) out.push(await el.gxPing()); return out; }""", presses)
    handle = page.locator(".gx-slider-0 input[type=range]")
    handle.focus()
    latencies = []
    for _ in range(presses):
        s0 = page.evaluate(STATE)["seq"]
        page.keyboard.press("ArrowRight")
        page.wait_for_function(WAIT_FRAME, arg=s0, timeout=30000)
        state = page.evaluate(STATE)
        latencies.append(state["drawn"] - state["key"])
        time.sleep(0.05)
    for _ in range(presses):  # fast drag back: no waiting between keys
        page.keyboard.press("ArrowLeft")
    last_key = page.evaluate(STATE)["key"]
    seq, still = -1, 0
    while still < 10:  # until no new frame for 0.5 s
        time.sleep(0.05)
        now = page.evaluate(STATE)["seq"]
        still = still + 1 if now == seq else 0
        seq = now
    final = page.evaluate(STATE)["drawn"] - last_key
    q = statistics.quantiles(latencies, n=4)
    return {"ping": statistics.median(pings), "latency": statistics.median(latencies), "iqr": (q[0], q[2]),
            "drag_final": final}


def gallery_times(page) -> tuple[float, float, int]:
    """Seconds from a click on the Label tab to the thumbnails of the rows in view, and to all rows' thumbnails
    after scrolling the gallery to its end (rows load lazily as they come into view)."""
    start = time.perf_counter()
    page.locator(".gx-tab-label").click()
    page.wait_for_function("() => { const g = document.querySelector('.gx-gallery');"
                           " const rows = [...g.querySelectorAll('.gx-grow')].filter(r => { const b ="
                           " r.getBoundingClientRect(), G = g.getBoundingClientRect(); return b.top < G.bottom; });"
                           " return rows.length && rows.every(r => r.querySelector('.gx-thumbs img')); }",
                           timeout=60000)
    in_view = time.perf_counter() - start
    rows = page.locator(".gx-grow").count()
    for _ in range(40):
        page.evaluate("() => { const g = document.querySelector('.gx-gallery'); g.scrollTop = g.scrollHeight; }")
        if page.evaluate("(n) => Number(document.querySelector('.gx-gallery').dataset.thumbs || 0) >= n", rows):
            break
        time.sleep(0.025)
    page.wait_for_function("(n) => Number(document.querySelector('.gx-gallery').dataset.thumbs || 0) >= n",
                           arg=rows, timeout=60000)
    return in_view, time.perf_counter() - start, rows


def first_frame_seconds(page, base: str, token: str, name: str) -> float:
    """Run-all -> the first frame drawn on the canvas (the saved-state image counts: it is what a person sees)."""
    run_notebook(page, base, token, name, "GX-READY")  # warm: imports and kernel start are not ours to time
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs')")
    page.wait_for_function("() => !document.querySelector('.gx-live-canvas')", timeout=30000)
    start = time.perf_counter()
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_function("() => Number(document.querySelector('.gx-live-canvas')?.dataset.seq ?? -1) >= 0",
                           timeout=60000, polling=10)
    first = time.perf_counter() - start
    page.wait_for_selector("text=GX-READY", timeout=60000)
    page.wait_for_function("() => Number(document.querySelector('.gx-live-canvas')?.dataset.seq || 0) >= 1")
    return first


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--presses", type=int, default=20)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    models = ["mnist", "shapes", "dcgan256"]
    bench_dir = str(Path(__file__).resolve().parent)
    notebooks = {f"{m}.ipynb": [SETUP.format(model=m, bench_dir=bench_dir), DONE] for m in models}
    rows = []
    with tempfile.TemporaryDirectory() as tmp, jupyter_lab(Path(tmp), notebooks) as (base, token, _), \
            sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        for m in models:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            first = first_frame_seconds(page, base, token, f"{m}.ipynb")
            r = measure(page, args.presses)
            r["first"] = first
            r["gallery"] = gallery_times(page) if m == "mnist" else None
            rows.append((m, r))
            page.evaluate("() => window.jupyterapp.commands.execute('kernelmenu:shutdown')")
            page.close()
        browser.close()
    print(f"{'generator':10s} {'frame':>8s} {'first frame':>12s} {'round trip':>11s} {'forward':>8s} "
          f"{'key->pixels (IQR)':>20s} {'overhead':>9s} {'drag: last key->frame':>22s}   (medians, ms)")
    for m, r in rows:
        forward = forward_ms(m)
        size = "256x256" if m == "dcgan256" else "32x32"
        overhead = r["latency"] - r["ping"] - forward
        iqr = f"{r['latency']:.1f} ({r['iqr'][0]:.0f}-{r['iqr'][1]:.0f})"
        print(f"{m:10s} {size:>8s} {1000 * r['first']:12.0f} {r['ping']:11.1f} {forward:8.1f} {iqr:>20s} "
              f"{overhead:9.1f} {r['drag_final']:22.1f}")
    for m, r in rows:
        if r["gallery"]:
            in_view, every, n = r["gallery"]
            print(f"{m}: gallery open -> thumbnails in view {in_view:.2f} s, all {n} rows {every:.2f} s")


if __name__ == "__main__":
    main()
