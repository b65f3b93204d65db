"""Discovery scaling over processes: steps/s and pairs/s of ``DistributedDiscoveryTrainer`` on N = 1, 2, ...
processes of this machine (torchrun's Python API; NCCL, one GPU per process, when CUDA is present, else gloo on
CPU), with the per-process batch fixed, so the global batch grows with N. The scaling ratio is pairs/s at N over
pairs/s of the plain single-process ``DiscoveryTrainer``; efficiency = ratio / N.

Every row is timed inside its workers by the trainer itself (``train_seconds``: the training loop only, with
DDP's all-reduce, global batch norm, the per-step cancel broadcast and metric all-reduce; the slowest rank
counts), after ``--warmup`` steps; the median of ``--rounds`` rounds, configurations alternating. Rows with
"local BN" keep each rank's batch norm on its own pairs (``sync_batch_norm=False``: fewer collectives per step,
not step-for-step equal to one process).

    OMP_NUM_THREADS=1 python benchmarks/discovery_scaling.py [--model mnist] [--batch-size 32] [--steps 40]
        [--nproc 1,2] [--threads 1] [--device auto] [--rounds 3]

On a CPU machine the processes share its cores, so the ratio mostly shows the overhead of the extra processes
and their communication, not a speed-up; on k GPUs each process has its own card.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile

import torch


def _worker(args: dict) -> dict | None:
    """One rank: build the trainer, warm up, time ``steps`` training steps; rank 0 returns the figures."""
    import torch.distributed as dist

    from ganexplorer import DiscoveryTrainer, load_generator
    from ganexplorer.directions.discovery.distributed import DistributedDiscoveryTrainer, _worker_device

    torch.set_num_threads(args["threads"])
    device = _worker_device(args["device"])
    if device.type == "cuda":
        torch.cuda.set_device(device)
    plain = args["plain"]
    if not plain:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    g = load_generator(args["model"], device=str(device))
    options = {"k": args["k"], "batch_size": args["batch_size"], "seed": 0, "lr": 1e-4}
    trainer = DiscoveryTrainer(g, **options) if plain else \
        DistributedDiscoveryTrainer(g, sync_batch_norm=args["sync_batch_norm"], **options)
    run = {"log_every": 10_000, "progress": False, "score_samples": 1}
    trainer.run(args["warmup"], **run)
    before = trainer.train_seconds
    trainer.run(args["steps"], **run)
    seconds = torch.tensor([trainer.train_seconds - before])
    world = 1
    if not plain:
        dist.all_reduce(seconds, op=dist.ReduceOp.MAX)
        world = dist.get_world_size()
        rank = dist.get_rank()
        dist.destroy_process_group()
        if rank != 0:
            return None
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({platform.processor() or 'cpu'})"
    return {"seconds": float(seconds), "world": world, "device": name}


def measure(nproc: int, plain: bool, args: argparse.Namespace, sync_batch_norm: bool = True) -> dict:
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    from ganexplorer.directions.discovery.distributed import _free_port

    job = {"model": args.model, "k": args.k, "batch_size": args.batch_size, "steps": args.steps,
           "warmup": args.warmup, "threads": args.threads, "device": args.device, "plain": plain,
           "sync_batch_norm": sync_batch_norm}
    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=nproc, run_id=f"scaling-{nproc}-{plain}",
                          rdzv_backend="c10d", rdzv_endpoint=f"127.0.0.1:{_free_port()}",
                          rdzv_configs={"is_host": True}, max_restarts=0, local_addr="127.0.0.1",
                          start_method="spawn", monitor_interval=0.1)
    out = elastic_launch(config, _worker)(job)[0]
    steps_per_s = args.steps / out["seconds"]
    return {**out, "nproc": nproc, "plain": plain, "sync_batch_norm": sync_batch_norm, "steps_per_s": steps_per_s,
            "pairs_per_s": steps_per_s * args.batch_size * nproc}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="mnist")
    parser.add_argument("--batch-size", type=int, default=32, help="pairs per step per process")
    parser.add_argument("-k", type=int, default=32)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--nproc", default="1,2", help="process counts, e.g. 1,2 or 1,2,4,8")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1")),
                        help="torch threads per process")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--rounds", type=int, default=3, help="repeats; the median is shown")
    args = parser.parse_args(argv)
    os.environ.setdefault("TMPDIR", tempfile.gettempdir())
    configs = [(1, True, True)] + [(int(n), False, True) for n in args.nproc.split(",")]
    configs += [(int(n), False, False) for n in args.nproc.split(",") if int(n) > 1]
    runs: dict = {c: [] for c in configs}
    for _ in range(args.rounds):  # configurations alternate round by round: machine load hits all alike
        for c in configs:
            runs[c].append(measure(*c[:2], args, sync_batch_norm=c[2]))
    rows = [sorted(runs[c], key=lambda r: r["pairs_per_s"])[len(runs[c]) // 2] for c in configs]  # medians
    base = rows[0]["pairs_per_s"]
    print(f"discovery scaling on {rows[0]['device']}: {args.model}, K = {args.k}, {args.batch_size} pairs per "
          f"process per step, {args.steps} timed steps after {args.warmup}, {args.threads} thread(s) per process, "
          f"median of {args.rounds} rounds")
    print(f"{'trainer':<34}{'processes':>10}{'global batch':>14}{'steps/s':>10}{'pairs/s':>10}{'ratio':>8}"
          f"{'efficiency':>12}")
    for r in rows:
        name = "DiscoveryTrainer" if r["plain"] else "DistributedDiscoveryTrainer" + (
            "" if r["sync_batch_norm"] else " (local BN)")
        ratio = r["pairs_per_s"] / base
        print(f"{name:<34}{r['nproc']:>10}{args.batch_size * r['nproc']:>14}{r['steps_per_s']:>10.2f}"
              f"{r['pairs_per_s']:>10.1f}{ratio:>8.2f}{ratio / r['nproc']:>12.2f}")
    if not torch.cuda.is_available():
        print("(no CUDA here: the processes share this machine's cores, so the ratio shows overhead, not speed-up)")


if __name__ == "__main__":
    main()
