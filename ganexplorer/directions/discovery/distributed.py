"""Discovery on several processes (GPUs or machines) with PyTorch's own distributed engine: DistributedDataParallel
over ``torchrun`` (NCCL on GPUs, gloo on CPUs). No scheduler of our own.

Every rank holds the frozen generator and renders its own share of the pair batch from a rank-distinct random
stream; the reconstructor R and the deformator A are trained with their gradients all-reduced by DDP; the global
batch is ``nproc x batch_size`` (``batch_size`` is per rank); rank 0 alone writes checkpoints and the bank.

Batch norm: R's batch-norm layers normalise by the statistics of the *global* batch (every rank's pairs), so
N ranks x B pairs take the same step as 1 process x N*B pairs on the same pairs. On CUDA that is torch's
``SyncBatchNorm``; on CPU, where ``SyncBatchNorm`` refuses CPU tensors, ``CrossRankBatchNorm`` below (the same
statistics, gathered with torch's differentiable ``all_reduce``). Without it, per-rank statistics would make the
N-rank step differ from the single-process one.

Three ways in:

- ``ganexplorer discover --model mnist --nproc-per-node 2 ...`` (one machine; the CLI starts the workers);
- ``torchrun --nnodes M --nproc-per-node N -m ganexplorer discover ...`` (several machines; the checkpoint path
  must be on a filesystem every machine sees);
- ``launch_discovery(...)`` / ``discover_distributed(...)`` from Python (a notebook): workers run in their own
  processes, the caller's thread stays free, ``handle.result()`` returns the bank.

``shard_over`` splits per-item work (e.g. ``describe``'s directions) across ranks and gathers it back; ``rca``
shards its batches by itself when torch.distributed is initialised.
"""

from __future__ import annotations

import inspect
import os
import queue
import re
import signal
import socket
import tempfile
import threading
import uuid
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from ..bank import DirectionBank
from .trainer import DiscoveryTrainer

__all__ = ["CrossRankBatchNorm", "DistributedDiscovery", "DistributedDiscoveryTrainer", "DistributedRunError",
           "convert_batchnorm", "discover_distributed", "is_distributed", "launch_discovery", "run_worker",
           "shard_over"]


# torch >= 2.11 marks torch.distributed.nn.functional deprecated in favour of the functional collectives, whose
# all_reduce is differentiable only in recent versions; the old one is differentiable in every torch we support
warnings.filterwarnings("ignore", message=r"torch\.distributed\.nn\.functional\.all_reduce is deprecated",
                        category=FutureWarning)
# DDP's argument that keeps buffers from being re-broadcast at every forward (renamed in recent torch)
_NO_BUFFER_SYNC = ({"forward_sync_buffers": False}
                   if "forward_sync_buffers" in inspect.signature(nn.parallel.DistributedDataParallel).parameters
                   else {"broadcast_buffers": False})


def is_distributed() -> bool:
    """True inside a torch.distributed job of more than one rank (then rca / shard_over split their work)."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


# ---------------------------------------------------------------------------------------------- batch norm
class CrossRankBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm whose training statistics are those of the whole global batch (all ranks), for CPU / gloo
    where ``torch.nn.SyncBatchNorm`` refuses CPU tensors. Each rank's count, mean and sum of squared deviations
    are gathered with torch's differentiable ``all_reduce`` and combined exactly (Chan et al.'s parallel
    variance), so gradients flow through the shared statistics as in one big batch. Same state-dict keys as
    ``BatchNorm1d/2d/3d`` (checkpoints load either way); in eval mode, or outside a distributed job, it is plain
    batch norm."""

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"batch norm expects (N, C, ...) input, got shape {tuple(x.shape)}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and is_distributed()):
            return super().forward(x)
        from torch.distributed.nn.functional import all_reduce

        self._check_input_dim(x)
        world, rank, c = dist.get_world_size(), dist.get_rank(), x.shape[1]
        dims = [0, *range(2, x.dim())]
        shape = [1, c] + [1] * (x.dim() - 2)
        xf = x.float()
        count = x.numel() // c
        mean = xf.mean(dims)
        m2 = (xf - mean.view(shape)).square().sum(dims)
        own = torch.cat([mean.new_full((1,), float(count)), mean, m2])
        rows = torch.stack([own if r == rank else torch.zeros_like(own) for r in range(world)])
        rows = all_reduce(rows)  # every rank's (count, mean, M2), differentiable
        n, means, m2s = rows[:, :1], rows[:, 1:c + 1], rows[:, c + 1:]
        total = n.sum()
        mu = (n * means).sum(0) / total
        var = (m2s + n * (means - mu).square()).sum(0) / total
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                f = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                self.running_mean.mul_(1 - f).add_(mu.detach(), alpha=f)
                self.running_var.mul_(1 - f).add_(var.detach() * (total / (total - 1).clamp_min(1)), alpha=f)
        y = (xf - mu.view(shape)) * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y.to(x.dtype)


def convert_batchnorm(module: nn.Module, device: torch.device | str) -> nn.Module:
    """``module`` with every batch-norm layer normalising over the global batch: torch's ``SyncBatchNorm`` on
    CUDA, ``CrossRankBatchNorm`` elsewhere. The same Parameter objects are kept (an optimiser built before still
    trains them) and running statistics are carried over."""
    if torch.device(device).type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, CrossRankBatchNorm | \
                                                                              nn.SyncBatchNorm):
        new = CrossRankBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                                 module.track_running_stats)
        if module.affine:
            new.weight, new.bias = module.weight, module.bias
        if module.track_running_stats:
            new.running_mean, new.running_var = module.running_mean, module.running_var
            new.num_batches_tracked = module.num_batches_tracked
        new.train(module.training)
        return new
    for name, child in module.named_children():
        module.add_module(name, convert_batchnorm(child, device))
    return module


# ------------------------------------------------------------------------------------------------- trainer
class _Trained(nn.Module):
    """A and R under one module, so that one DDP wrapper all-reduces the gradients of both. Its forward runs R
    (the trainer calls A before G, outside this forward; DDP's reducer hooks every parameter's gradient wherever
    it was used, and the equivalence test checks A's update)."""

    def __init__(self, deformator: nn.Module, reconstructor: nn.Module):
        super().__init__()
        self.deformator, self.reconstructor = deformator, reconstructor

    def forward(self, pairs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.reconstructor(pairs)


def broadcast_in_place(tensor: torch.Tensor, src: int = 0) -> None:
    """``dist.broadcast`` for any tensor: NCCL and gloo take only contiguous tensors, and a channels-last or
    transposed one (R's weights on a GPU, the ortho map's base) is sent as a contiguous copy and copied back."""
    if tensor.is_contiguous():
        dist.broadcast(tensor, src=src)
        return
    flat = tensor.contiguous()
    dist.broadcast(flat, src=src)
    tensor.copy_(flat)


def _stream_seed(seed: int, rank: int, step: int) -> int:
    """A 63-bit seed per (run seed, rank, step at run start): rank-distinct, and a resumed run does not replay
    the pairs the first run drew (numpy's SeedSequence mixes the three)."""
    return int(np.random.SeedSequence([seed, rank, step]).generate_state(1, np.uint64)[0] >> 1)


class _AgreedCancel:
    """Rank 0's cancel flag, broadcast to every rank at every check (the trainer checks once per step, on every
    rank in lockstep), so all ranks stop after the same step. Uses a gloo group: no GPU sync."""

    def __init__(self, local: Any, group: Any):
        self.local, self.group = local, group

    def is_set(self) -> bool:
        flag = torch.tensor([int(dist.get_rank() == 0 and self.local is not None and bool(self.local.is_set()))])
        dist.broadcast(flag, src=0, group=self.group)
        return bool(flag.item())


class DistributedDiscoveryTrainer(DiscoveryTrainer):
    """``DiscoveryTrainer`` for one rank of a torch.distributed job (start it with ``torchrun``, ``ganexplorer
    discover --nproc-per-node N`` or ``launch_discovery``). Arguments are ``DiscoveryTrainer``'s; ``batch_size``
    is per rank, the global batch is ``world_size * batch_size`` and is what the checkpoint and the bank record
    (so a checkpoint resumes on any number of ranks with the same global batch). R's batch norm uses the global
    batch's statistics (see the module docstring); A and R are wrapped together in DDP; each rank draws its pairs
    from its own stream; only rank 0 writes checkpoints; ``callback`` runs on every rank with the all-reduced
    metrics; ``cancel`` is read on rank 0 and obeyed by all. ``sync_batch_norm=False`` keeps each rank's batch
    norm on its own pairs (plain DDP: one all-reduce per batch-norm layer fewer each way, per step; the step then
    differs from the single-process one on the same pairs). Steps run eagerly (no CUDA graph: DDP's all-reduce
    is not captured)."""

    _supports_graphs = False

    def __init__(self, generator, *args: Any, sync_batch_norm: bool = True, **kwargs: Any):
        if not (dist.is_available() and dist.is_initialized()):
            raise RuntimeError("DistributedDiscoveryTrainer needs an initialised torch.distributed process group: "
                               "start it with torchrun, `ganexplorer discover --nproc-per-node N` or "
                               "launch_discovery(); for one process use DiscoveryTrainer")
        bound = inspect.signature(DiscoveryTrainer.__init__).bind(self, generator, *args, **kwargs)
        bound.apply_defaults()
        super().__init__(generator, *args, **kwargs)
        self.rank, self.world_size = dist.get_rank(), dist.get_world_size()
        self.per_rank_batch = self.batch_size
        self.settings["batch_size"] = self.batch_size * self.world_size
        seed = bound.arguments["seed"]
        if seed is None:  # one random seed for the job, drawn on rank 0
            box = [int(torch.randint(2**62, ()).item())]
            dist.broadcast_object_list(box, src=0)
            seed = box[0]
        self._stream_base, self._reseed = seed, True
        # gloo for control messages (cancel flag, checkpoint agreement): CPU tensors, no GPU sync
        self._control = dist.new_group(backend="gloo") if dist.get_backend() != "gloo" else dist.group.WORLD
        self.sync_batch_norm = bool(sync_batch_norm)
        if self.sync_batch_norm:
            self.reconstructor = convert_batchnorm(self.reconstructor, self.device)
        trained = _Trained(self.deformator, self.reconstructor)
        with torch.no_grad():  # DDP broadcasts parameters at construction; buffers (A's fixed matrix, BN stats) too
            for buffer in trained.buffers():
                broadcast_in_place(buffer)
        cuda = self.device.type == "cuda"
        self._ddp = nn.parallel.DistributedDataParallel(
            trained, device_ids=[self.device.index] if cuda and self.device.index is not None else None,
            **_NO_BUFFER_SYNC)  # BN statistics are global, so every rank's buffers stay equal
        self._r = torch.compile(self._ddp) if bound.arguments["compile"] else self._ddp

    def sample_batch(self, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The base trainer's sampling, from this rank's stream: the process RNG is seeded from (seed, rank,
        step) at the first draw of each ``run`` (after a resume, so the resumed step counts)."""
        if self._reseed:
            torch.manual_seed(_stream_seed(self._stream_base, self.rank, self.step))
            self._reseed = False
        return super().sample_batch(n)

    def _train_step(self, sums: torch.Tensor) -> None:
        local = torch.zeros_like(sums)
        super()._train_step(local)
        dist.all_reduce(local)  # logged metrics are the global batch's, and a NaN stops every rank alike
        sums += local / self.world_size

    def refresh_batch_norm(self, pairs: int = 2048) -> None:
        """The base refresh with ``pairs`` split across ranks: each statistics batch is every rank's together."""
        super().refresh_batch_norm(-(-pairs // self.world_size))

    def _shrink_micro_batch(self, exc: BaseException) -> None:
        # one rank halving its micro-batch alone would desynchronise the collectives: stop with advice instead
        raise MemoryError(f"rank {self.rank} ran out of memory for a micro-batch of {self.micro_batch} pairs "
                          f"({exc}): rerun with a smaller micro_batch (every rank the same) or fewer pairs per "
                          "rank") from exc

    def run(self, steps: int, callback: Callable[[int, dict[str, float]], Any] | None = None, cancel: Any = None,
            checkpoint: str | Path | None = None, log_every: int = 50, checkpoint_every: int = 500,
            progress: bool | None = None, score_samples: int = 16) -> DirectionBank:
        """As ``DiscoveryTrainer.run``, on every rank together; the progress bar shows on rank 0 only."""
        if checkpoint is not None:
            seen: list[Any] = [None] * self.world_size
            dist.all_gather_object(seen, Path(checkpoint).exists(), group=self._control)
            if len(set(seen)) > 1:
                have = [r for r, s in enumerate(seen) if s]
                raise ValueError(f"checkpoint {checkpoint} exists on ranks {have} only: put it on a filesystem "
                                 "every machine sees (all ranks resume from the same file)")
        self._reseed = True
        with warnings.catch_warnings():
            if self.rank != 0:  # rank 0 alone tells the user (e.g. "not converged"), not once per rank
                warnings.simplefilter("ignore")
            return super().run(steps, callback=callback, cancel=_AgreedCancel(cancel, self._control),
                               checkpoint=checkpoint, log_every=log_every, checkpoint_every=checkpoint_every,
                               progress=progress if self.rank == 0 else False, score_samples=score_samples)

    def save_checkpoint(self, path: str | Path) -> None:
        """Rank 0 writes (atomically); the others hold the same state and skip."""
        if self.rank == 0:
            super().save_checkpoint(path)

    def _bank(self, directions: torch.Tensor, complete: bool) -> DirectionBank:
        bank = super()._bank(directions, complete)
        bank.info.update(world_size=self.world_size, per_rank_batch=self.per_rank_batch,
                         sync_batch_norm=self.sync_batch_norm)
        return bank


# ------------------------------------------------------------------------------------------------ sharding
def shard_over(items: Sequence[Any], work: Callable[[list[Any]], Sequence[torch.Tensor] | torch.Tensor],
               device: torch.device | str | None = None) -> Any:
    """``work(items)`` split across ranks: rank r runs ``work(items[r::world])`` and every rank gets the results
    for all items back, in ``items``' order, stacked along the first dimension. ``work`` returns a tensor or a
    tuple of tensors whose first dimension follows its items. Outside a distributed job it is ``work(items)``.
    Every rank must call it with the same items (e.g. ``describe``'s directions). ``device``: where the results
    go (default: where this rank's own results were; CPU for a rank that had no items)."""
    items = list(items)
    if not is_distributed() or len(items) < 2:
        return work(items)
    world, rank = dist.get_world_size(), dist.get_rank()
    mine = items[rank::world]
    out = work(mine) if mine else None
    local = None
    if out is not None:
        single = isinstance(out, torch.Tensor)
        local = (single, [t.detach().cpu() for t in ((out,) if single else out)])
    parts: list[Any] = [None] * world
    dist.all_gather_object(parts, local)
    single, first = next(p for p in parts if p is not None)
    if device is None:
        device = torch.device("cpu") if out is None else (out if single else out[0]).device
    merged = tuple(torch.stack([parts[i % world][1][j][i // world] for i in range(len(items))]).to(device)
                   for j in range(len(first)))
    return merged[0] if single else merged


# -------------------------------------------------------------------------------------------------- worker
@dataclass
class DiscoveryJob:
    """What every worker needs: the generator (zoo name, checkpoint path or a torch module, loaded by each
    worker), the trainer's and run's arguments, where rank 0 writes the bank, and the channels to the caller."""

    model: Any
    out: str
    steps: int = 2000
    trainer: dict[str, Any] = field(default_factory=dict)
    family: str | None = None
    device: str = "auto"
    options: dict[str, Any] = field(default_factory=dict)
    checkpoint: str | None = None
    log_every: int = 50
    checkpoint_every: int = 500
    score_samples: int = 16
    progress: bool = False
    cancel: Any = None  # a multiprocessing Event read by rank 0
    metrics: Any = None  # a multiprocessing Queue rank 0 sends (step, metrics) to
    stop_on_sigint: bool = False


def _worker_device(requested: str) -> torch.device:
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if requested in ("auto", "cuda"):
        if torch.cuda.is_available():
            return torch.device("cuda", local % torch.cuda.device_count())
        if requested == "cuda":
            raise ValueError("--device cuda but this machine has no CUDA GPU: use --device cpu (gloo)")
        return torch.device("cpu")
    return torch.device(requested)


def run_worker(job: DiscoveryJob) -> str | None:
    """One rank's whole run (the function torchrun starts): join the process group from torchrun's environment,
    load the generator, train, and on rank 0 save the bank to ``job.out``. Returns that path on rank 0."""
    from ...generators import load_generator

    device = _worker_device(job.device)
    own_group = not dist.is_initialized()
    if own_group:
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    rank = dist.get_rank()
    cancel = job.cancel
    if job.stop_on_sigint and threading.current_thread() is threading.main_thread():
        # Ctrl-C reaches every worker of a terminal's job: rank 0 turns it into a clean stop for all ranks. The
        # handler sets a thread Event (re-entrant lock), never the shared one rank 0 may be reading at that moment
        pressed = threading.Event()
        signal.signal(signal.SIGINT, lambda *_: pressed.set())
        cancel = _Either(pressed, job.cancel)
    try:
        generator = load_generator(job.model, family=job.family, device=str(device), **job.options)
        trainer = DistributedDiscoveryTrainer(generator, **job.trainer)

        def report(step: int, metrics: dict[str, float]) -> None:
            if rank == 0 and job.metrics is not None:
                job.metrics.put((step, metrics))

        bank = trainer.run(job.steps, callback=report, cancel=cancel if rank == 0 else None,
                           checkpoint=job.checkpoint, log_every=job.log_every,
                           checkpoint_every=job.checkpoint_every, progress=job.progress,
                           score_samples=job.score_samples)
        if rank == 0:
            bank.save(job.out)
            return job.out
        return None
    finally:
        if own_group:
            dist.destroy_process_group()


class _Either:
    """Set when any of its flags (objects with ``is_set()``, or None) is set."""

    def __init__(self, *flags: Any):
        self.flags = [f for f in flags if f is not None]

    def is_set(self) -> bool:
        return any(f.is_set() for f in self.flags)


def _recorded_worker(job: DiscoveryJob) -> str | None:
    from torch.distributed.elastic.multiprocessing.errors import record

    return record(run_worker)(job)


# -------------------------------------------------------------------------------------------------- launch
class DistributedRunError(RuntimeError):
    """A distributed run failed; ``rank`` is the rank that failed first, ``checkpoint`` the last one written."""

    def __init__(self, message: str, rank: int | None, checkpoint: str | None):
        super().__init__(message)
        self.rank, self.checkpoint = rank, checkpoint


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: what a rank reports when a *peer* died under it (the collective lost its partner): not the root cause
_PEER_LOST = re.compile(r"connection (closed|reset)|broken pipe|DistBackendError|NCCL communicator|timed? ?out",
                        re.IGNORECASE)


def _failure(exc: BaseException, checkpoint: str | None) -> DistributedRunError:
    """torchrun's ChildFailedError as one sentence naming the rank that failed first and what happened. A rank
    that only lost its partner in a collective is named only when no rank failed for another reason."""
    rank, what = None, str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    failures = getattr(exc, "failures", None)
    if failures:
        def text(failure: Any) -> str:
            return failure.message if isinstance(failure.message, str) else str(failure.message)

        rank, failure = min(failures.items(), key=lambda kv: (bool(_PEER_LOST.search(text(kv[1]))),
                                                               kv[1].timestamp, kv[0]))
        message = text(failure).strip()
        if failure.exitcode is not None and failure.exitcode < 0:
            what = f"was killed by signal {-failure.exitcode}"
        elif failure.error_file_data and message and "errors.html" not in message:
            what = f"raised: {message.splitlines()[-1]}"
        else:
            what = f"exited with code {failure.exitcode}"
    resume = (f"; the last checkpoint {checkpoint} stays loadable: rerun with the same checkpoint to resume"
              if checkpoint else "; pass a checkpoint path to make long runs resumable")
    where = f"rank {rank}" if rank is not None else "a rank"
    return DistributedRunError(f"distributed discovery stopped: {where} {what}{resume}", rank, checkpoint)


def _launch(job: DiscoveryJob, nproc: int, entry: Callable[[DiscoveryJob], Any] = _recorded_worker,
            sigint: bool = True) -> None:
    """Start ``nproc`` workers on this machine with torchrun's Python API (``elastic_launch``, no restarts),
    rendezvous on 127.0.0.1; raise ``DistributedRunError`` naming the rank if any fails. ``sigint=False``: the
    agent leaves Ctrl-C to the caller and the workers (which stop cleanly), instead of killing the workers."""
    from dataclasses import fields

    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    extra = {}
    if not sigint and "signals_to_handle" in {f.name for f in fields(LaunchConfig)}:
        extra["signals_to_handle"] = "SIGTERM,SIGHUP,SIGQUIT"
    config = LaunchConfig(**extra, min_nodes=1, max_nodes=1, nproc_per_node=nproc, run_id=f"ganexplorer-{uuid.uuid4()}",
                          rdzv_backend="c10d", rdzv_endpoint=f"127.0.0.1:{_free_port()}",
                          rdzv_configs={"is_host": True}, max_restarts=0, local_addr="127.0.0.1",
                          start_method="spawn", monitor_interval=0.1)
    try:
        elastic_launch(config, entry)(job)
    except Exception as exc:
        raise _failure(exc, job.checkpoint) from exc


class DistributedDiscovery:
    """A distributed discovery run in the background (from ``launch_discovery``): ``cancel()`` stops every rank
    after the current step (the bank is kept, marked incomplete), ``done()``, ``result(timeout)`` -> bank, and
    ``history`` (rank 0's logged metrics as they arrive)."""

    def __init__(self, job: DiscoveryJob, nproc: int, callback: Callable[[int, dict[str, float]], Any] | None,
                 cancel: Any, entry: Callable[[DiscoveryJob], Any]):
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        job.cancel, job.metrics = ctx.Event(), ctx.Queue()
        self.job, self.history = job, []
        self._callback, self._outer_cancel = callback, cancel
        self._error: BaseException | None = None
        self._finished = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(nproc, entry), daemon=True,
                                        name="ganexplorer-distributed")
        self._pump = threading.Thread(target=self._pump_metrics, daemon=True, name="ganexplorer-metrics")
        self._thread.start()
        self._pump.start()

    def _run(self, nproc: int, entry: Callable[[DiscoveryJob], Any]) -> None:
        try:
            _launch(self.job, nproc, entry)
        except BaseException as exc:  # kept for result(); the thread must not die silently
            self._error = exc
        finally:
            self._finished.set()

    def _pump_metrics(self) -> None:
        while True:
            if self._outer_cancel is not None and self._outer_cancel.is_set():
                self.job.cancel.set()
            try:
                step, metrics = self.job.metrics.get(timeout=0.1)
            except queue.Empty:
                if self._finished.is_set():
                    return
                continue
            self.history.append({"step": step, **metrics})
            if self._callback is not None:
                self._callback(step, metrics)

    def cancel(self) -> None:
        """Ask rank 0 to stop; every rank stops after the same step and rank 0 saves the bank."""
        self.job.cancel.set()

    def done(self) -> bool:
        return self._finished.is_set()

    def result(self, timeout: float | None = None) -> DirectionBank:
        """Wait for the run (at most ``timeout`` seconds: TimeoutError) and return rank 0's bank."""
        if not self._finished.wait(timeout):
            raise TimeoutError(f"the distributed run is still going after {timeout} s")
        self._pump.join()
        if self._error is not None:
            raise self._error
        return DirectionBank.load(self.job.out)


def _job(model: Any, nproc: int, steps: int, out: str | Path | None, device: str, family: str | None,
         options: dict[str, Any] | None, checkpoint: str | Path | None, log_every: int, checkpoint_every: int,
         progress: bool, trainer: dict[str, Any], score_samples: int = 16) -> DiscoveryJob:
    from ...generators import Generator

    if isinstance(model, Generator):
        raise TypeError("pass the generator's zoo name, its checkpoint path or its torch module (each worker "
                        "loads its own copy), not a loaded Generator")
    if not isinstance(nproc, int) or isinstance(nproc, bool) or nproc < 1:
        raise ValueError(f"nproc must be a positive integer (processes on this machine), got {nproc!r}")
    if not isinstance(steps, int) or isinstance(steps, bool) or steps <= 0:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    unknown = set(trainer) - set(inspect.signature(DiscoveryTrainer.__init__).parameters) - {"self"}
    if unknown:
        raise TypeError(f"unknown discovery options {sorted(unknown)}: see DiscoveryTrainer's arguments")
    check_gpu_count(nproc, device)
    if out is None:
        out = Path(tempfile.mkdtemp(prefix="ganexplorer-")) / "bank.gxb"
    return DiscoveryJob(model=model, out=str(out), steps=steps, trainer=trainer, family=family, device=device,
                        options=dict(options or {}), checkpoint=None if checkpoint is None else str(checkpoint),
                        log_every=log_every, checkpoint_every=checkpoint_every, progress=progress,
                        score_samples=score_samples)


def check_gpu_count(nproc: int, device: str) -> None:
    """Refuse more local processes than GPUs when they would run on CUDA: NCCL cannot put two ranks on one GPU
    (it stops with "Duplicate GPU detected")."""
    if device not in ("auto", "cuda") or not torch.cuda.is_available():
        return
    gpus = torch.cuda.device_count()
    if nproc > gpus:
        raise ValueError(f"{nproc} processes asked for, but this machine has {gpus} GPU{'s' * (gpus != 1)} and "
                         f"NCCL runs one process per GPU: use nproc <= {gpus} (--nproc-per-node {gpus}), or "
                         "device='cpu' (gloo) for more processes on the CPU; on one GPU, a single process with "
                         "its CUDA graph is the fastest run")


def launch_discovery(model: Any, nproc: int = 2, steps: int = 2000, out: str | Path | None = None,
                     device: str = "auto", family: str | None = None, options: dict[str, Any] | None = None,
                     checkpoint: str | Path | None = None, log_every: int = 50, checkpoint_every: int = 500,
                     callback: Callable[[int, dict[str, float]], Any] | None = None, cancel: Any = None,
                     progress: bool = False, score_samples: int = 16, **trainer: Any) -> DistributedDiscovery:
    """Start discovery on ``nproc`` local processes (one per GPU when CUDA is present, else gloo on CPU) and
    return at once with a handle; the caller's thread (a notebook, the Explorer) stays free. ``model``: a zoo
    name, a checkpoint path or a torch module; ``trainer``: ``DiscoveryTrainer`` arguments (``batch_size`` is
    per process). ``callback(step, metrics)`` runs in a background thread of the caller with rank 0's metrics;
    ``cancel`` (anything with ``is_set()``, e.g. a threading.Event) or ``handle.cancel()`` stops every rank
    cleanly; ``score_samples``: pairs per direction for the bank's scores (as in ``run``). From a script, call
    it under ``if __name__ == "__main__":`` (workers are spawned and re-import the main module)."""
    job = _job(model, nproc, steps, out, device, family, options, checkpoint, log_every, checkpoint_every,
               progress, trainer, score_samples)
    return DistributedDiscovery(job, nproc, callback, cancel, _recorded_worker)


def discover_distributed(model: Any, nproc: int = 2, steps: int = 2000, **kwargs: Any) -> DirectionBank:
    """``launch_discovery(...).result()``: the bank of a run on ``nproc`` local processes (blocks until done)."""
    return launch_discovery(model, nproc, steps, **kwargs).result()
