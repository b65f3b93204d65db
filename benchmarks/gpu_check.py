"""The one-command GPU check (``make gpu-check``): on a CUDA machine, in about 8 minutes, it runs

1. ``tests``: the CUDA-marked tests and the suites that broke on a GPU (SeFa's bank, distributed, discovery);
2. ``speed``: discovery steps/s, ours (whole-step CUDA graph, and eager) against the reference's own trainer
   (``--reference PATH``: a checkout of anvoynov/GANLatentDiscovery, run by ``reference_run.py``) on the same G,
   K, batch and GPU; without a checkout, against ``discovery.py``'s reference-style loop, and says so;
3. ``curves``: RCA-vs-steps of the graph and the eager path, same settings, 3 seeds (the graph must train alike);
4. ``table``: notebook 03's table (mnist and shapes, 4 deformators, 3 seeds, K = 32, lr 1e-3) by
   ``rca_comparisons`` on one GPU, its wall time, and the long-budget K = d = 64 rows (unit-norm vs random);
5. ``large``: discovery with ResNet-18 R on a 1024² StyleGAN2 and a 256² BigGAN-deep (random weights): steps/s,
   peak memory and micro-batch, ours (float32, bfloat16) against the reference-style loop;
6. ``families``: render seconds per image at batch 1 and 16, float32 against bfloat16 (the render policy's
   evidence);
7. ``distributed``: a 1-process run on CUDA, the refusal of 2 processes on fewer GPUs, a 2-process gloo run.

Each section runs in its own process with its own time limit and writes ``OUT/NAME.json``; a section that fails
or runs out of time is reported as such and the rest go on. ``OUT/report.json`` and ``OUT/report.md`` gather
them; ``--docs OUT/report.json`` rewrites docs/results.md's GPU section from a report.

    python benchmarks/gpu_check.py [--out gpu-report] [--reference PATH] [--sections tests,speed,...]
    python benchmarks/gpu_check.py --docs gpu-report/report.json
    python benchmarks/gpu_check.py --smoke --device cpu   # every section's code path, tiny sizes, on a CPU
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# each section's time limit (s), in the order they run (most needed first: a late one may meet the budget's end)
SECTIONS = {"tests": 150, "cuda-tests": 60, "speed": 75, "curves": 80, "distributed": 60, "table": 150,
            "families": 60, "large": 120}
# the CUDA-marked tests and the suites that broke on a GPU before (SeFa's bank, distributed, discovery)
TEST_FILES = ["tests/test_gpu_path.py", "tests/test_sefa.py", "tests/test_render_policy.py",
              "tests/test_distributed.py", "tests/test_discovery.py", "tests/test_discovery_faithful.py",
              "tests/test_cli.py::test_sefa_saves_a_bank_that_loads"]
DOCS_START, DOCS_END = "<!-- gpu-check:start -->", "<!-- gpu-check:end -->"


# ------------------------------------------------------------------------------------------------ helpers
def _sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _rate(fn, steps: int) -> float:
    _sync()
    start = time.perf_counter()
    fn(steps)
    _sync()
    return steps / (time.perf_counter() - start)


def _trainer(g, k, deformator, seed=0, **options):
    from ganexplorer import DiscoveryTrainer

    return DiscoveryTrainer(g, k=k, deformator=deformator, seed=seed, lr=1e-3, **options)


def _train_rate(trainer, steps: int, warm: int = 20) -> float:
    """Steps per second of ``trainer.run`` after ``warm`` steps (the graph's warm-up and capture), from the
    trainer's own clock of its training loop (its last step ends in a host sync; the bank's scoring is after)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        trainer.run(warm, progress=False, score_samples=1, log_every=warm)
        before = trainer.train_seconds
        trainer.run(steps, progress=False, score_samples=1, log_every=min(steps, 50))
    return steps / (trainer.train_seconds - before)


def _biggan_importable() -> None:
    """pytorch-pretrained-biggan imports boto3 and requests for its download helper, which nothing here calls:
    stub them where they are not installed (a GPU machine without them)."""
    import importlib.util
    import types

    for name in ("boto3", "botocore", "requests"):
        if name not in sys.modules and importlib.util.find_spec(name) is None:
            sys.modules[name] = types.ModuleType(name)
            if name == "botocore":
                sys.modules["botocore.exceptions"] = types.ModuleType("botocore.exceptions")
                sys.modules["botocore.exceptions"].ClientError = Exception


# ----------------------------------------------------------------------------------------------- sections
def section_tests(args) -> dict:
    files = args.tests.split(",")
    workers = ["-n", str(min(8, os.cpu_count() or 1))] if _has("xdist") else []
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfE", *workers, *files]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    print(done.stdout + done.stderr)  # the whole pytest output goes to tests.log
    tail = [line for line in (done.stdout + done.stderr).strip().splitlines() if "Warning" not in line]
    failed = [line for line in tail if line.startswith(("FAILED", "ERROR"))]
    return {"command": " ".join(cmd[1:]), "returncode": done.returncode, "summary": tail[-1] if tail else "",
            "failed": failed[:40], "cuda_tests": _cuda_test_names()}


def section_cuda_tests(args) -> dict:
    """Only the CUDA-marked tests (a quick rerun after a fix)."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfE", "-m", "cuda",
           "tests/test_gpu_path.py"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    print(done.stdout + done.stderr)
    tail = [line for line in (done.stdout + done.stderr).strip().splitlines() if "Warning" not in line]
    return {"command": " ".join(cmd[1:]), "returncode": done.returncode, "summary": tail[-1] if tail else "",
            "failed": [line for line in tail if line.startswith(("FAILED", "ERROR"))][:40]}


def _cuda_test_names() -> list[str]:
    text = (ROOT / "tests/test_gpu_path.py").read_text()
    names, marked = [], False
    for line in text.splitlines():
        if line.startswith("@cuda"):
            marked = True
        elif line.startswith("def test_") and marked:
            names.append(line[4:line.index("(")])
            marked = False
    return names


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def section_speed(args) -> dict:
    import torch

    from ganexplorer import load_generator

    g = load_generator("mnist", device=args.device)
    d = g.latent_dim
    steps = 40 if args.smoke else 1500
    eager_steps = 20 if args.smoke else 300
    arms = {"ortho": d, "unit-norm": 32}  # ortho: the reference's needs K = d; unit-norm against its proj, K = 32
    out = {"generator": "mnist", "latent_dim": d, "batch": 32, "arms": {}}
    for kind, k in arms.items():
        row = {"k": k}
        for label, graph, n in (("ours, CUDA graph", None, steps), ("ours, eager", False, eager_steps)):
            trainer = _trainer(g, k, kind, cuda_graph=graph)
            row[label] = round(_train_rate(trainer, n), 1)
            row[label + " mode"] = trainer.cuda_graph
        ref_kind = "ortho" if kind == "ortho" else "proj"
        if args.reference and torch.cuda.is_available():
            from reference_run import reference_steps_per_second

            rates = [reference_steps_per_second(args.reference, g, k, ref_kind, steps=40 if args.smoke else 300)
                     for _ in range(2)]
            row["reference"] = round(max(rates), 1)
            row["reference is"] = f"the reference's own trainer.py ({ref_kind}, K = {k}, its LeNet R)"
        else:
            row["reference"] = round(_reference_style_rate(g, k, ref_kind, 10 if args.smoke else 200), 1)
            row["reference is"] = "discovery.py's reference-style loop (no checkout given: not the real peer)"
        for label in ("ours, CUDA graph", "ours, eager"):
            row[label + " / reference"] = round(row[label] / row["reference"], 2)
        out["arms"][kind] = row
        print(kind, row, flush=True)
    return out


def _reference_style_rate(g, k: int, kind: str, steps: int) -> float:
    from discovery import ReferenceOrtho, ReferenceStyleLoop

    from ganexplorer.directions.discovery.deformators import Deformator
    from ganexplorer.directions.discovery.reconstructors import make_reconstructor

    c, h, w = g.image_shape
    a = (ReferenceOrtho(k, g.latent_dim) if kind == "ortho" else Deformator(g.latent_dim, k, "proj", 0)).to(g.device)
    loop = ReferenceStyleLoop(g, a, make_reconstructor("auto", c, max(h, w), k).to(g.device), k)
    for _ in range(3):
        loop()

    def go(n):
        for _ in range(n):
            loop()

    return _rate(go, steps)


def section_curves(args) -> dict:
    import warnings

    from ganexplorer import load_generator, rca

    g = load_generator("mnist", device=args.device)
    steps, every, seeds = (40, 20, [0, 1]) if args.smoke else (1500, 250, [0, 1, 2])
    out = {"k": 32, "lr": 1e-3, "steps": steps, "seeds": seeds, "curves": {}}
    for kind in ("unit-norm", "ortho"):
        for label, graph in (("graph", None), ("eager", False)):
            curves = []
            for seed in seeds if kind == "unit-norm" else seeds[:1]:
                trainer = _trainer(g, 32, kind, seed=seed, cuda_graph=graph)
                curve = []
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    while trainer.step < steps:
                        bank = trainer.run(every, progress=False, score_samples=1, log_every=every)
                        r = rca(g, bank, trainer, n=512, seed=10_000 + seed, deformator=trainer.deformator,
                                progress=False)
                        curve.append([trainer.step, round(r["accuracy"], 4), round(r["shift_error"], 4)])
                curves.append({"seed": seed, "mode": trainer.cuda_graph, "curve": curve})
            out["curves"][f"{kind}, {label}"] = curves
    gaps = {}
    for kind in ("unit-norm", "ortho"):
        a, b = out["curves"][f"{kind}, graph"], out["curves"][f"{kind}, eager"]
        mean = [[statistics.mean(c["curve"][i][1] for c in runs) for i in range(len(runs[0]["curve"]))]
                for runs in (a, b)]
        gaps[kind] = {"final graph": round(mean[0][-1], 3), "final eager": round(mean[1][-1], 3),
                      "largest gap over the curve": round(max(abs(x - y) for x, y in zip(*mean)), 3)}
    out["gaps"] = gaps
    print(gaps, flush=True)
    return out


def section_table(args) -> dict:
    from ganexplorer.directions.discovery import rca_comparisons, summarize

    steps, long_steps, seeds = (20, 40, [0, 1]) if args.smoke else (3000, args.long_steps, [0, 1, 2])
    kinds = ("ortho", "unit-norm", "random", "coordinate")
    start = time.perf_counter()
    results = rca_comparisons(["mnist", "shapes"], k=32, steps=steps, deformators=kinds, seeds=seeds, lr=1e-3,
                              device=args.device, n_eval=2048, progress=False)
    seconds = time.perf_counter() - start
    out = {"k": 32, "steps": steps, "seeds": seeds, "lr": 1e-3, "seconds": round(seconds, 1), "tables": {}}
    for name, rows in results.items():
        out["tables"][name] = [{key: (round(v, 4) if isinstance(v, float) else v) for key, v in r.items()}
                               for r in summarize(rows)]
    print(f"table in {seconds:.1f} s", flush=True)
    start = time.perf_counter()
    long = rca_comparisons(["mnist"], k=None, steps=long_steps, deformators=("unit-norm", "random"), seeds=seeds,
                           lr=1e-3, device=args.device, n_eval=2048, eval_every=max(1, long_steps // 8),
                           progress=False)["mnist"]
    out["long"] = {"k": "d = 64", "steps": long_steps, "seconds": round(time.perf_counter() - start, 1),
                   "summary": [{key: (round(v, 4) if isinstance(v, float) else v) for key, v in r.items()}
                               for r in summarize(long)],
                   "curves": [{"deformator": r["deformator"], "seed": r["seed"], "curve": r["curve"]} for r in long]}
    print(out["long"]["summary"], flush=True)
    return out


def section_large(args) -> dict:
    import torch

    _biggan_importable()
    from families import make

    out = {"batch": 32, "rows": []}
    for family in ("stylegan2", "biggan"):
        if args.smoke:
            from ganexplorer import load_generator

            g = load_generator("shapes", device=args.device)
        else:
            g = make(family)
            if g is None:
                out["rows"].append({"generator": family, "arm": "all", "error": "could not be built here"})
                continue
        g.dtype = torch.float32
        c, h, w = g.image_shape
        steps = 2 if args.smoke else 3
        for label, options in (("ours, float32", {}), ("ours, bfloat16 autocast", {"amp": True})):
            torch.cuda.reset_peak_memory_stats() if torch.cuda.is_available() else None
            trainer = _trainer(g, 32, "ortho", reconstructor="resnet", **options)
            rate = _train_rate(trainer, steps, warm=4)
            out["rows"].append({"generator": family, "size": f"{h}x{w}", "arm": label, "steps/s": round(rate, 3),
                                "micro-batch": trainer.micro_batch, "mode": trainer.cuda_graph,
                                "peak GiB": _peak()})
            print(out["rows"][-1], flush=True)
            del trainer
            _free()
        from discovery import ReferenceOrtho, ReferenceStyleLoop

        from ganexplorer.directions.discovery.reconstructors import make_reconstructor

        torch.cuda.reset_peak_memory_stats() if torch.cuda.is_available() else None
        try:
            loop = ReferenceStyleLoop(g, ReferenceOrtho(32, g.latent_dim).to(g.device),
                                      make_reconstructor("resnet", c, max(h, w), 32).to(g.device), 32)
            loop()

            def go(n):
                for _ in range(n):
                    loop()

            rate = _rate(go, steps)
            row = {"generator": family, "size": f"{h}x{w}", "arm": "reference-style loop, float32",
                   "steps/s": round(rate, 3), "micro-batch": 32, "peak GiB": _peak()}
        except torch.cuda.OutOfMemoryError as exc:
            row = {"generator": family, "arm": "reference-style loop, float32", "error": f"out of memory: {exc}"[:200]}
        out["rows"].append(row)
        print(row, flush=True)
        loop = None
        del g
        _free()
    return out


def _free() -> None:
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _peak() -> float | None:
    import torch

    return round(torch.cuda.max_memory_allocated() / 2**30, 2) if torch.cuda.is_available() else None


def section_families(args) -> dict:
    import torch

    _biggan_importable()
    from families import make, seconds_per_image

    out = {"rows": []}
    names = ("dcgan",) if args.smoke else ("stylegan2", "stylegan-v1", "progan", "biggan", "dcgan")
    for family in names:
        g = make(family)
        if g is None:
            continue
        c, h, w = g.image_shape
        row = {"family": family, "size": f"{h}x{w}", "policy": str(g.policy.dtype).removeprefix("torch."),
               "why": g.policy.why}
        for dt in (torch.float32, torch.bfloat16):
            g.dtype = dt
            name = str(dt).removeprefix("torch.")
            for batch in (1, 16):
                row[f"{name} b{batch} ms/img"] = round(1e3 * seconds_per_image(g, batch, 2), 3)
        for batch in (1, 16):
            fp32, bf16 = row[f"float32 b{batch} ms/img"], row[f"bfloat16 b{batch} ms/img"]
            row[f"bf16 speed-up b{batch}"] = round(fp32 / bf16, 2)
        out["rows"].append(row)
        print(row, flush=True)
        del g
    return out


def section_distributed(args) -> dict:
    import tempfile

    import torch

    from ganexplorer.directions.discovery import distributed as gxd

    out = {}
    with tempfile.TemporaryDirectory() as folder:
        if torch.cuda.is_available():
            start = time.perf_counter()
            bank = gxd.discover_distributed("mnist", nproc=1, steps=100, out=f"{folder}/one.gxb", device="cuda",
                                            k=8, log_every=50)
            out["1 process on CUDA"] = {"seconds": round(time.perf_counter() - start, 1), "directions": len(bank),
                                        "last accuracy": round(bank.info["history"][-1]["accuracy"], 3)}
        gpus = torch.cuda.device_count()
        if gpus:
            try:
                handle = gxd.launch_discovery("mnist", nproc=gpus + 1, steps=10, device="auto")
                handle.cancel()
                out[f"{gpus + 1} processes, {gpus} GPU"] = "started (not refused)"
                handle.result(120)
            except ValueError as exc:
                out[f"{gpus + 1} processes, {gpus} GPU"] = f"refused: {exc}"
            except Exception as exc:  # the run it should have refused failed: report how
                out[f"{gpus + 1} processes, {gpus} GPU"] += f", then failed: {str(exc)[:300]}"
        start = time.perf_counter()
        bank = gxd.discover_distributed("mnist", nproc=2, steps=20, out=f"{folder}/two.gxb", device="cpu", k=4,
                                        log_every=10)
        out["2 processes, gloo on CPU"] = {"seconds": round(time.perf_counter() - start, 1),
                                           "global batch": bank.info["batch_size"]}
    print(out, flush=True)
    return out


# ------------------------------------------------------------------------------------------------- driver
def machine() -> dict:
    import torch

    info = {"torch": torch.__version__, "python": platform.python_version(), "cpus": os.cpu_count(),
            "date": time.strftime("%Y-%m-%d")}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
        info["cuda"] = torch.version.cuda
        info["gpu memory GiB"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
    return info


def run_section(name: str, args) -> None:
    sys.path.insert(0, str(HERE))
    os.chdir(ROOT)
    result = globals()[f"section_{name.replace('-', '_')}"](args)
    Path(args.out, f"{name}.json").write_text(json.dumps(result, indent=1))


def drive(args) -> dict:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = {"machine": machine(), "sections": {}, "seconds": {}}
    wanted = [s for s in args.sections.split(",") if s]
    unknown = set(wanted) - set(SECTIONS)
    if unknown:
        raise SystemExit(f"unknown sections {sorted(unknown)}: choose from {','.join(SECTIONS)}")
    deadline = time.perf_counter() + args.budget
    for name in wanted:
        limit = int(min(SECTIONS[name] * (args.time_scale or 1), deadline - time.perf_counter() - 5))
        if limit < 10:
            report["sections"][name] = {"error": "skipped: the check's time budget was spent", "log tail": []}
            continue
        cmd = [sys.executable, str(Path(__file__).resolve()), "--section", name, "--out", str(out), "--device",
               args.device, "--tests", args.tests] + (["--reference", args.reference] if args.reference else []) + \
              (["--smoke"] if args.smoke else []) + ["--long-steps", str(args.long_steps)]
        start = time.perf_counter()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               "PYTHONUNBUFFERED": "1"}
        with open(out / f"{name}.log", "w") as log:
            try:
                code = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, timeout=limit, env=env).returncode
            except subprocess.TimeoutExpired:
                code = "timed out"
        report["seconds"][name] = round(time.perf_counter() - start, 1)
        if isinstance(code, int) and code < 0:
            code = f"killed by signal {-code}"
        result_file = out / f"{name}.json"
        if code == 0 and result_file.exists():
            report["sections"][name] = json.loads(result_file.read_text())
        else:
            tail = (out / f"{name}.log").read_text().strip().splitlines()[-12:]
            report["sections"][name] = {"error": f"exit {code}" if code != "timed out" else f"timed out ({limit} s)",
                                        "log tail": tail}
        print(f"[{name}] {report['seconds'][name]} s: "
              f"{'ok' if 'error' not in report['sections'][name] else report['sections'][name]['error']}", flush=True)
        (out / "report.json").write_text(json.dumps(report, indent=1))
    if args.reuse:
        for name in SECTIONS:
            earlier = out / f"{name}.json"
            if name not in wanted and earlier.exists():
                report["sections"][name] = {**json.loads(earlier.read_text()), "from an earlier run": True}
        report["sections"] = {name: report["sections"][name] for name in SECTIONS if name in report["sections"]}
    (out / "report.json").write_text(json.dumps(report, indent=1))
    (out / "report.md").write_text(markdown(report))
    return report


def markdown(report: dict) -> str:
    """The report as docs/results.md's GPU section."""
    m, s = report["machine"], report["sections"]
    lines = [f"Measured by `make gpu-check` (`benchmarks/gpu_check.py`) on {m.get('date')}: "
             f"**{m.get('gpu', 'no GPU')}** ({m.get('gpu memory GiB', '?')} GiB), torch {m['torch']}, CUDA "
             f"{m.get('cuda')}, Python {m['python']}, {m['cpus']} CPU cores. Section times (s): "
             + ", ".join(f"{k} {v}" for k, v in report["seconds"].items()) + "."]
    earlier = [name for name, v in s.items() if v.get("from an earlier run")]
    if earlier:
        lines[0] += (f" Sections {', '.join(earlier)}: from earlier runs of the check that day on the same card "
                     "(`--reuse`), kept where a later run repeated only what a fix touched.")

    def failed(name):
        if "error" in s.get(name, {}):
            lines.extend(["", f"**{name}**: {s[name]['error']}", "", "```", *s[name]["log tail"], "```"])
            return True
        return name not in s

    if not failed("tests"):
        t = s["tests"]
        lines += ["", f"**Tests** (`{t['command']}`): {t['summary']}" +
                  ("" if not t["failed"] else "; failed: " + "; ".join(f"`{f}`" for f in t["failed"]))]
    if "cuda-tests" in s and not failed("cuda-tests"):
        t = s["cuda-tests"]
        lines += ["", f"**CUDA-marked tests** (`{t['command']}`): {t['summary']}" +
                  ("" if not t["failed"] else "; failed: " + "; ".join(f"`{f}`" for f in t["failed"]))]
    if not failed("speed"):
        sp = s["speed"]
        lines += ["", f"**Discovery speed**, `mnist` G (d = {sp['latent_dim']}), batch {sp['batch']}, lr 1e-3, "
                  "steps/s (the graph's warm-up and capture excluded):", "",
                  "| directions | K | reference | ours, CUDA graph | ours, eager | graph / reference | eager / "
                  "reference | reference is |", "|---|---|---|---|---|---|---|---|"]
        for kind, r in sp["arms"].items():
            lines.append(f"| {kind} | {r['k']} | {r['reference']} | {r['ours, CUDA graph']} "
                         f"({r['ours, CUDA graph mode']}) | {r['ours, eager']} | "
                         f"**×{r['ours, CUDA graph / reference']}** | ×{r['ours, eager / reference']} | "
                         f"{r['reference is']} |")
    if not failed("curves"):
        c = s["curves"]
        lines += ["", f"**Graph vs eager training** (K = {c['k']}, lr {c['lr']}, RCA on 512 fresh pairs, mean over "
                  f"seeds {c['seeds']} for unit-norm, seed {c['seeds'][0]} for ortho):", ""]
        for kind, g in c["gaps"].items():
            lines.append(f"- {kind}: RCA after {c['steps']} steps {g['final graph']} (graph) vs {g['final eager']} "
                         f"(eager); largest gap along the curve {g['largest gap over the curve']}")
    if not failed("table"):
        tb = s["table"]
        lines += ["", f"**Notebook 03's table on one GPU** (`rca_comparisons`, K = {tb['k']}, {tb['steps']} steps, "
                  f"lr {tb['lr']}, seeds {tb['seeds']}, RCA on 2048 fresh pairs): **{tb['seconds']} s** for "
                  f"{sum(len(v) for v in tb['tables'].values()) * len(tb['seeds'])} rows.", "",
                  "| generator | directions | RCA (mean ± std) | shift error | chance |", "|---|---|---|---|---|"]
        for name, rows in tb["tables"].items():
            for r in rows:
                lines.append(f"| {name} | {r['deformator']} | {r['accuracy']:.3f} ± {r['accuracy_std']:.3f} | "
                             f"{r['shift_error']:.2f} ± {r['shift_error_std']:.2f} | {r['chance']:.3f} |")
        lg = tb["long"]
        lines += ["", f"Long budget, K = {lg['k']}, {lg['steps']} steps, lr 1e-3 ({lg['seconds']} s): " + "; ".join(
            f"{r['deformator']} {r['accuracy']:.3f} ± {r['accuracy_std']:.3f} (shift error {r['shift_error']:.2f})"
            for r in lg["summary"]) + ". RCA along the way (mean over seeds): " + "; ".join(
            f"{kind}: " + ", ".join(f"{step} → {acc:.3f}" for step, acc in _mean_curve(lg["curves"], kind))
            for kind in dict.fromkeys(c["deformator"] for c in lg["curves"])) + "."]
    if not failed("large"):
        lines += ["", "**Large generators**, discovery with ResNet-18 R, ortho, K = 32, batch 32, random weights:", "",
                  "| generator | arm | steps/s | micro-batch | peak GiB | steps run as |", "|---|---|---|---|---|---|"]
        for r in s["large"]["rows"]:
            lines.append(f"| {r['generator']} {r.get('size', '')} | {r['arm']} | {r.get('steps/s', r.get('error'))} | "
                         f"{r.get('micro-batch', '')} | {r.get('peak GiB', '')} | {r.get('mode', 'eager')} |")
    if not failed("families"):
        lines += ["", "**Rendering**, ms per image, random weights (the render policy's evidence):", "",
                  "| family | size | float32 b1 | bfloat16 b1 | float32 b16 | bfloat16 b16 | bf16 gain b1 / b16 | "
                  "policy |", "|---|---|---|---|---|---|---|---|"]
        for r in s["families"]["rows"]:
            lines.append(f"| {r['family']} | {r['size']} | {r['float32 b1 ms/img']} | {r['bfloat16 b1 ms/img']} | "
                         f"{r['float32 b16 ms/img']} | {r['bfloat16 b16 ms/img']} | ×{r['bf16 speed-up b1']} / "
                         f"×{r['bf16 speed-up b16']} | {r['policy']} |")
    if not failed("distributed"):
        lines += ["", "**Distributed**: " + "; ".join(f"{k}: {v}" for k, v in s["distributed"].items()
                                                   if k != "from an earlier run")]
    return "\n".join(lines) + "\n"


def _mean_curve(curves: list[dict], kind: str) -> list[tuple[int, float]]:
    runs = [c["curve"] for c in curves if c["deformator"] == kind]
    return [(runs[0][i][0], statistics.mean(r[i][1] for r in runs)) for i in range(len(runs[0]))]


def write_docs(report_path: str, docs: Path = ROOT / "docs/results.md") -> None:
    """Replace the text between docs/results.md's gpu-check markers with the report's markdown."""
    report = json.loads(Path(report_path).read_text())
    text = docs.read_text()
    if DOCS_START not in text or DOCS_END not in text:
        raise SystemExit(f"{docs} has no {DOCS_START} ... {DOCS_END} markers: add them where the GPU section goes")
    head, rest = text.split(DOCS_START, 1)
    _, tail = rest.split(DOCS_END, 1)
    docs.write_text(f"{head}{DOCS_START}\n{markdown(report)}{DOCS_END}{tail}")
    print(f"rewrote the GPU section of {docs}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="gpu-report")
    parser.add_argument("--reference", default=os.environ.get("GANEXPLORER_REFERENCE"),
                        help="a checkout of anvoynov/GANLatentDiscovery (the real peer for the speed section)")
    parser.add_argument("--sections", default=",".join(s for s in SECTIONS if s != "cuda-tests"))
    parser.add_argument("--section", help=argparse.SUPPRESS)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--tests", default=",".join(TEST_FILES), help="test files (and ids) of the tests section")
    parser.add_argument("--long-steps", type=int, default=8000, help="steps of the long-budget K = d rows")
    parser.add_argument("--reuse", action="store_true",
                        help="sections not run now are taken from OUT/NAME.json of an earlier run on the same card")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: every code path in a minute on a CPU")
    parser.add_argument("--time-scale", type=float, default=None, help="multiply every section's time limit")
    parser.add_argument("--budget", type=float, default=480, help="seconds for the whole check (default 8 min)")
    parser.add_argument("--docs", metavar="REPORT", help="rewrite docs/results.md's GPU section from REPORT")
    args = parser.parse_args()
    if args.docs:
        write_docs(args.docs)
        return
    if args.section:
        run_section(args.section, args)
        return
    report = drive(args)
    bad = [k for k, v in report["sections"].items() if "error" in v]
    print(f"report: {Path(args.out) / 'report.md'}" + (f"; sections that failed: {bad}" if bad else ""))


if __name__ == "__main__":
    main()
