"""The ganexplorer command line: the same core as the widget, for scripts and long runs without a notebook."""

from __future__ import annotations

import argparse
import json
import re
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .limits import Refused, parse_indices, parse_shifts, shown  # noqa: F401 - shared with the API, the widget


def parse_options(items: Sequence[str] | None) -> dict[str, object]:
    """['space=w', 'truncation=0.7'] -> {'space': 'w', 'truncation': 0.7} (numbers and true/false read as such)."""
    options: dict[str, object] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise Refused(f"cannot read option {shown(item)}: use KEY=VALUE, e.g. --option truncation=0.7")
        try:
            options[key.replace("-", "_")] = json.loads(value)
        except (json.JSONDecodeError, RecursionError):  # not JSON (or nested past reading): the text as typed
            options[key.replace("-", "_")] = value
    return options


_NUMBER = re.compile(r"^[-+]?\d[\d,]*(\.\d+)?%?$")


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]], digits: int = 3) -> str:
    """A plain-text table with a header row: floats rounded to ``digits``, numbers right-aligned, text left."""
    def cell(value: object) -> str:
        if isinstance(value, float):
            return f"{value:.{digits}f}"
        return str(value)

    cells = [[cell(v) for v in row] for row in rows]
    numeric = [bool(cells) and all(_NUMBER.match(r[i]) for r in cells) for i in range(len(headers))]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in cells])


def _percent(x: float) -> str:
    return f"{100 * x:.1f}%"


def _generator(args):
    from .generators import load_generator

    return load_generator(args.model, family=args.family, device=args.device, **parse_options(args.option))


def _bank(args, generator):
    from .directions import DirectionBank, sefa

    if args.bank:
        return DirectionBank.load(args.bank, generator=generator)
    return sefa(generator, layers=args.layers)


def cmd_sefa(args) -> None:
    from .directions import sefa

    g = _generator(args)
    bank = sefa(g, layers=args.layers, k=args.k)
    moved = "the first layer's output" if args.layers == "all" else f"the styles of layers {args.layers}"
    print(f"SeFa on {g.name}: {len(bank)} directions (eigenvalue: how strongly the direction moves {moved})")
    shown = len(bank) if args.k else min(len(bank), 10)
    print(format_table(["direction", "eigenvalue"], [[i, float(s)] for i, s in enumerate(bank.scores[:shown])],
                       digits=2))
    if shown < len(bank):
        print(f"... {len(bank) - shown} more in the bank (-k N keeps the top N)")
    if args.out:
        print(f"saved {bank.save(args.out)}")


def cmd_grid(args) -> None:
    from .traversal import traversal_grid

    g = _generator(args)
    bank = _bank(args, g)
    directions = parse_indices(args.directions, len(bank)) if args.directions else None
    shifts = parse_shifts(args.shifts) if args.shifts else None
    z = None
    if args.latent:  # a real image's latent from `ganexplorer project`
        from .projection import load_latents

        z, _ = load_latents(args.latent)
    image = traversal_grid(g, bank, directions, shifts, samples=args.samples, seed=args.seed, z=z)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    image.save(args.out)
    print(f"wrote {args.out} ({image.width}x{image.height})")


def cmd_project(args) -> None:
    from .projection import fit_summary, project

    g = _generator(args)
    result = project(g, args.image, steps=args.steps, restarts=args.restarts, space=args.space)
    print(fit_summary(result))
    print(format_table(["image", "pixel error (0..255)"], [[Path(p).name, e] for p, e in zip(args.image,
                                                                                              result.error)],
                       digits=1))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    print(f"saved {result.save(out)} (render a traversal grid of it: ganexplorer grid --model {args.model} "
          f"--latent {out})")


def cmd_train_gan(args) -> None:
    from .generators.train import train_gan

    train_gan(args.dataset, args.out, steps=args.steps, batch_size=args.batch_size, latent_dim=args.latent_dim,
              width=args.width, seed=args.seed, device=args.device, arch=args.arch)
    print(f"saved {args.out}")


def cmd_train_judges(args) -> None:
    from .evaluation.judges import JUDGES, save_judge, train_judge

    rows = []
    for name in JUDGES if args.judge == "all" else [args.judge]:
        model, score = train_judge(name, steps=args.steps, device=args.device)
        save_judge(model, name, score)
        rows += score_rows(name, score)
    print(format_table(["judge", "held-out measure", "value"], rows))


def score_rows(judge: str, score: dict) -> list[list[object]]:
    """A judge's held-out score as table rows: one per measure, one per factor for nested measures."""
    rows: list[list[object]] = []
    for measure, value in score.items():
        if isinstance(value, dict):
            rows += [[judge, f"{measure.removeprefix('heldout_')} {key}", float(v)] for key, v in value.items()]
        else:
            rows.append([judge, measure.removeprefix("heldout_"), float(value)])
    return rows


def cmd_quality(args) -> None:
    from .evaluation.quality import digit_quality, scenes_quality, shapes_quality

    g = _generator(args)
    judge = args.judge or {"mnist": "digits", "scenes": "scenes"}.get(args.model, "factors")
    digits = judge == "digits"
    quality = {"digits": digit_quality, "scenes": scenes_quality, "factors": shapes_quality}[judge]
    result = quality(g, n=args.n, seed=args.seed, progress=True)
    if args.json:
        print(json.dumps(result, indent=1))
    elif judge == "scenes":
        print(f"{g.name}: {result['n']} samples judged by the scenes regressor (trained on procedural scenes)")
        print(f"pixel R2 of the samples redrawn from the factors read: {result['pixel_r2']:.3f} (1 = fully explained);"
              f" mean foreground share {result['mask_share']:.3f}")
        print(format_table(["factor", "coverage W1"], [[f, v] for f, v in result["coverage_w1"].items()]))
        print("coverage W1: distance of the factors read from U[0, 1] (0 = whole range, 0.25 = one value)")
    elif digits:
        print(f"{g.name}: {result['n']} samples judged by the digit classifier (trained on real digits)")
        print(format_table(["measure", "value"], [
            ["recognised with p >= 0.9", _percent(result["recognised"])],
            ["digit classes among them", f"{result['classes_covered']} / 10"],
            ["smallest class share", _percent(result["smallest_class_share"])],
            ["class histogram (0-9)", " ".join(str(h) for h in result["class_histogram"])],
            ["judge accuracy, held-out real digits", _percent(result["judge_heldout_accuracy"])]]))
    else:
        print(f"{g.name}: {result['n']} samples judged by the factor regressor (trained on procedural shapes)")
        print(f"pixel R2 of the samples redrawn from the factors read: {result['pixel_r2']:.3f} (1 = fully explained)")
        print(format_table(["factor", "read-back R2", "coverage W1", "judge held-out R2"], [
            [f, result["cycle_r2"][f], result["coverage_w1"][f], result["judge_heldout_r2"][f]]
            for f in result["cycle_r2"]]))
        print("coverage W1: distance of the factors read from U[0, 1] (0 = whole range, 0.25 = one value)")


def cmd_discover(args) -> None:
    import os

    if args.nproc_per_node < 1:
        raise ValueError(f"--nproc-per-node must be at least 1, got {args.nproc_per_node}")
    if "TORCHELASTIC_RUN_ID" in os.environ or ("RANK" in os.environ and "WORLD_SIZE" in os.environ):
        _discover_rank(args)  # started by torchrun (this machine is one of several, or torchrun on one)
        return
    if args.nproc_per_node > 1:
        from .directions.discovery.distributed import check_gpu_count

        check_gpu_count(args.nproc_per_node, args.device)
        _discover_launch(args)
        return
    from .directions import discover

    g = _generator(args)
    bank = discover(g, k=args.k, steps=args.steps, deformator=args.deformator, batch_size=args.batch_size,
                    lr=args.lr, seed=args.seed, checkpoint=args.checkpoint, progress=True)
    _discover_summary(args, bank)
    print(f"saved {bank.save(args.out)}")


def _discover_summary(args, bank) -> None:
    if not bank.info["history"]:
        print(f"{len(bank)} {args.deformator} directions, stopped at step {bank.info['steps']} before the first log")
        return
    last = bank.info["history"][-1]
    ranks = bank.info.get("world_size", 1)
    batch = (f", global batch {bank.info['batch_size']} = {ranks} ranks x {bank.info['per_rank_batch']}"
             if ranks > 1 else "")
    stopped = "" if bank.info["complete"] else " (stopped early)"
    print(f"{len(bank)} {args.deformator} directions after {bank.info['steps']} steps{stopped}{batch}: "
          f"train accuracy {last['accuracy']:.3f} (chance: 1/{len(bank)} = {1 / len(bank):.3f}), "
          f"shift error {last['shift_error']:.2f}")


def _discover_job(args, out: str):
    from .directions.discovery.distributed import DiscoveryJob

    return DiscoveryJob(model=args.model, out=out, steps=args.steps, family=args.family, device=args.device,
                        options=parse_options(args.option), checkpoint=args.checkpoint, progress=True,
                        trainer={"k": args.k, "deformator": args.deformator, "batch_size": args.batch_size,
                                 "lr": args.lr, "seed": args.seed}, stop_on_sigint=True)


def _discover_rank(args) -> None:
    """One rank under torchrun: rank 0 saves the bank and prints the summary."""
    from .directions import DirectionBank
    from .directions.discovery.distributed import run_worker

    saved = run_worker(_discover_job(args, args.out))
    if saved is not None:
        _discover_summary(args, DirectionBank.load(saved))
        print(f"saved {saved}")


def _discover_launch(args) -> None:
    """``--nproc-per-node N`` on one machine: torchrun's Python API starts N workers on 127.0.0.1. Ctrl-C
    stops every rank cleanly after the current step (rank 0 saves the bank); a second Ctrl-C aborts."""
    import multiprocessing
    import os
    import signal

    from .directions import DirectionBank
    from .directions.discovery.distributed import DistributedRunError, _launch

    job = _discover_job(args, args.out)
    job.cancel = multiprocessing.get_context("spawn").Event()  # rank 0 reads it; Ctrl-C here sets it
    os.environ["TORCHELASTIC_SIGNALS_TO_HANDLE"] = "SIGTERM,SIGHUP,SIGQUIT"  # torch < 2.9 reads only this

    def on_interrupt(signum, frame):
        if job.cancel.is_set():
            raise KeyboardInterrupt
        job.cancel.set()
        print("\nstopping every rank after the current step (Ctrl-C again to abort)", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        _launch(job, args.nproc_per_node, sigint=False)
    except DistributedRunError as exc:
        raise SystemExit(f"error: {exc}") from exc
    finally:
        signal.signal(signal.SIGINT, previous)
    _discover_summary(args, DirectionBank.load(job.out))
    print(f"saved {job.out}")


def cmd_rca(args) -> None:
    from .directions.discovery import format_table, rca_comparison

    g = _generator(args)
    rows = rca_comparison(g, k=args.k, steps=args.steps, deformators=args.deformators.split(","),
                          seed=args.seed, lr=args.lr, n_eval=args.n_eval, progress=True)
    print(format_table(rows))


def cmd_pca(args) -> None:
    from .directions import pca

    g = _generator(args)
    bank = pca(g, k=args.k, n_samples=args.samples, layer=args.layer, progress=True)
    print(f"PCA on {g.name}: {len(bank)} directions from {args.samples} samples "
          f"(activations of {bank.info['layer'] or 'the first layer'})")
    cumulative = np.cumsum(bank.scores).tolist()
    print(format_table(["direction", "explained variance", "cumulative"],
                       [[i, _percent(s), _percent(c)] for i, (s, c) in enumerate(zip(bank.scores, cumulative))]))
    if args.out:
        print(f"saved {bank.save(args.out)}")


def cmd_zoo(args) -> None:
    from .generators import ZOO

    print(format_table(["name", "what"], [[name, text] for name, text in ZOO.items()]))


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line on stderr (exit code 2), like every other refusal of the CLI."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from .generators.zoo import ZOO

    parser = _Parser(
        prog="ganexplorer", description=__doc__.strip(),
        epilog="Examples: ganexplorer zoo; ganexplorer sefa --model mnist -k 10 --out sefa.gxb; "
               "ganexplorer grid --model shapes --directions 0-5 --out grid.png. "
               "Each command has its own help: ganexplorer COMMAND --help.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, func, help: str, model: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:N")
        if model:
            p.add_argument("--model", default="mnist", help=f"a zoo name ({', '.join(ZOO)}; default: mnist), "
                           "or a checkpoint file or folder (StyleGAN2 .pt/.pkl, ProGAN .pth, BigGAN folder, "
                           "SN-GAN folder)")
            p.add_argument("--family", choices=["stylegan2", "progan", "biggan", "sngan"], default=None,
                           help="the checkpoint's family (default: recognised from its layout)")
            p.add_argument("--option", action="append", metavar="KEY=VALUE",
                           help="a family option, repeatable: space=w, truncation=0.7, class_index=207")
        return p

    p = command("sefa", cmd_sefa, "closed-form SeFa directions of a generator")
    p.add_argument("--layers", default="all", help="layer range for style generators, e.g. all, 0-1, 2-5")
    p.add_argument("-k", type=int, default=None, help="how many directions (default: all)")
    p.add_argument("--out", help="save the bank here (.gxb file, or a directory)")

    p = command("grid", cmd_grid, "traversal grid PNG: directions x shifts x samples")
    p.add_argument("--bank", help="a saved bank (default: SeFa directions of the model)")
    p.add_argument("--layers", default="all", help="layer range of the default SeFa directions, e.g. 0-1")
    p.add_argument("--directions", help="indices, e.g. 0-7 or 0,3,5 (default: the first 8)")
    p.add_argument("--shifts", help="from:to:count, written --shifts=-3:3:7, or a list (default: the bank's range)")
    p.add_argument("--samples", type=int, default=3, help="rows of samples per direction (default: 3)")
    p.add_argument("--seed", type=int, default=0, help="seed of the samples' latents")
    p.add_argument("--out", default="traversal.png", help="the PNG to write (default: traversal.png)")
    p.add_argument("--latent", help="traverse these latents (from `ganexplorer project`) instead of random samples")

    p = command("project", cmd_project, "project real images into the latent space (for grid --latent)")
    p.add_argument("--image", nargs="+", required=True, help="image files (any size; resized and converted)")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--restarts", type=int, default=4)
    p.add_argument("--space", default=None, help="z (default), or w / w+ for style generators")
    p.add_argument("--out", default="image.latent", help="where the latents go (default: image.latent)")

    p = command("train-gan", cmd_train_gan, "train a zoo generator on offline data", model=False)
    p.add_argument("--dataset", choices=["mnist", "shapes", "scenes"], required=True)
    p.add_argument("--arch", choices=["dcgan", "stylegan2"], default="dcgan",
                   help="dcgan (the zoo's mnist/shapes/scenes) or stylegan2 (shapes-style)")
    p.add_argument("--out", required=True, help="output .safetensors path")
    p.add_argument("--steps", type=int, default=12000)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--latent-dim", type=int, default=64)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)

    p = command("train-judges", cmd_train_judges,
                "train the digit classifier and the factor regressor (replaces the judges the package ships)",
                model=False)
    p.add_argument("--judge", choices=["all", "digits", "factors", "scenes"], default="all")
    p.add_argument("--steps", type=int, default=2000)

    p = command("quality", cmd_quality, "measure a generator's samples with the judges")
    p.add_argument("--judge", choices=["digits", "factors", "scenes"], default=None,
                   help="default: by model name (mnist: digits, scenes: scenes, else factors)")
    p.add_argument("-n", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the raw measures as JSON instead of a table")

    p = command("discover", cmd_discover, "latent discovery training (Voynov & Babenko)")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--deformator", default="ortho", choices=["linear", "unit-norm", "ortho", "random", "coordinate"])
    p.add_argument("-k", type=int, default=None, help="number of directions (default: the latent size)")
    p.add_argument("--batch-size", type=int, default=32,
                   help="pairs per step per process (the global batch is nproc x this; default: 32)")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint", help="resume from / save to this file (resumes on any number of processes "
                   "with the same global batch)")
    p.add_argument("--out", default="bank.gxb")
    p.add_argument("--nproc-per-node", type=int, default=1, metavar="N",
                   help="train on N processes of this machine with DistributedDataParallel (one per GPU, or gloo "
                   "on CPU); several machines: torchrun --nnodes M --nproc-per-node N -m ganexplorer discover ...")

    p = command("rca", cmd_rca, "RCA table: learned vs random vs coordinate directions, same budget")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("-k", type=int, default=None)
    p.add_argument("--deformators", default="ortho,unit-norm,random,coordinate")
    p.add_argument("--n-eval", type=int, default=2048, help="fresh pairs each RCA is measured on (default: 2048)")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--seed", type=int, default=0)

    p = command("pca", cmd_pca, "GANSpace-style PCA directions of early activations")
    p.add_argument("-k", type=int, default=20)
    p.add_argument("--samples", type=int, default=20000)
    p.add_argument("--layer", default=None, help="module name whose activations to use")
    p.add_argument("--out")

    command("zoo", cmd_zoo, "list the built-in generators", model=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    formatwarning = warnings.formatwarning  # warnings read as one line, not as the source line that raised them
    warnings.formatwarning = lambda message, category, *rest, **kw: f"warning: {message}\n"
    try:
        args.func(args)
    except (ValueError, OSError, TypeError) as exc:  # bad input and unreadable files: one line, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        warnings.formatwarning = formatwarning
    return 0


if __name__ == "__main__":
    sys.exit(main())
