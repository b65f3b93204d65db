"""Unsupervised latent discovery (Voynov & Babenko, 2020): train A and R so that R can tell, from the pair
G(z), G(z + eps A e_k), which direction k moved and by how much.

Why it is fast (vs the reference, measured in ``benchmarks/discovery.py``): G is frozen (no weight gradients);
the base half G(z) is rendered without autograd (only the shifted half needs gradients through G to reach A);
shifts are a gather, not a Python loop; metrics accumulate on the device and are read once every ``log_every``
steps; fixed-A baselines render both halves in one batched call without autograd; four shifts reuse each base
image (``shifts_per_latent``); on CPU a small G runs as a private copy with its batch norms folded; on CUDA the
whole step is captured in one CUDA graph and replayed (``graphs.py``: the step is launch-bound there). Optional:
``compile``.
"""

from __future__ import annotations

import copy
import math
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval
from torch.optim.swa_utils import update_bn

from ...files import atomic_write
from ..bank import DirectionBank
from .deformators import DEFORMATORS, Deformator
from .graphs import StepGraph
from .rca import rca
from .reconstructors import RECONSTRUCTORS, make_reconstructor
from .sampling import is_out_of_memory, progress_default, sample_shifts

__all__ = ["DiscoveryStopped", "DiscoveryTrainer", "discover", "sample_shifts", "converged_hint"]

#: The shift scale is in units of the latent's spread (z ~ N(0, I) has |z| ~ sqrt(d)); beyond this it is absurd.
MAX_SHIFT_SCALE = 1000.0
#: Steps to convergence measured on the zoo's 32 px generators (notebook 03: RCA-vs-steps curves, K = 32,
#: batch 32), by learning rate; the reference trains 1e5 steps at lr 1e-4.
CONVERGED_STEPS = {1e-3: 3000, 1e-4: 100_000}
#: Shifted images per base image G(z) unless told otherwise (capped by the batch size).
DEFAULT_SHIFTS_PER_LATENT = 4


def training_copy(module: nn.Module, channels_last: bool = True) -> nn.Module:
    """A private, frozen copy of a small generator for CPU training: every batch norm that follows a convolution
    inside a ``Sequential`` is folded into it (in eval mode a batch norm is a fixed affine map, so the image is
    the same up to float rounding and two layers' work, forward and backward, become one), and with
    ``channels_last`` its weights are channels-last (CPU transposed convolutions then skip a layout copy per
    layer). A module in training mode is copied without folding (its batch norms use batch statistics)."""
    copied = copy.deepcopy(module).requires_grad_(False)
    if not copied.training:
        for seq in [m for m in copied.modules() if isinstance(m, nn.Sequential)]:
            names = list(seq._modules)
            for first, second in zip(names, names[1:]):
                conv, norm = seq._modules[first], seq._modules[second]
                if type(conv) in (nn.Conv2d, nn.ConvTranspose2d) and type(norm) is nn.BatchNorm2d \
                        and norm.track_running_stats and norm.running_mean is not None:
                    seq._modules[first] = fuse_conv_bn_eval(conv, norm, transpose=type(conv) is nn.ConvTranspose2d)
                    seq._modules[second] = nn.Identity()
    return copied.to(memory_format=torch.channels_last) if channels_last else copied


def _per_pair(x: torch.Tensor, n: int) -> torch.Tensor:
    """Rows of ``x`` (one per base latent) repeated for the consecutive pairs that share it, ``n`` rows in all."""
    return x if len(x) == n else x.repeat_interleave(-(-n // len(x)), dim=0)[:n]


class DiscoveryStopped(FloatingPointError):
    """Training hit a NaN/inf loss; ``bank`` holds the directions of the last good log step."""

    def __init__(self, message: str, bank: DirectionBank | None):
        super().__init__(message)
        self.bank = bank


def _check_number(name: str, value: Any, low: float, high: float, low_open: bool = False,
                  integer: bool = False) -> None:
    ok_type = isinstance(value, int) and not isinstance(value, bool) if integer else \
        isinstance(value, int | float) and not isinstance(value, bool)
    if ok_type and math.isfinite(value) and (value > low if low_open else value >= low) and value <= high:
        return
    kind = "an integer" if integer else "a finite number"
    bound = f"{'>' if low_open else '>='} {low:g}"
    raise ValueError(f"{name} must be {kind} {bound} and <= {high:g}, got {value!r}")


def converged_hint(steps: int, lr: float, history: list[dict[str, float]]) -> str | None:
    """A "not converged" note when the run is short for its learning rate or its accuracy is still climbing."""
    expected = min(CONVERGED_STEPS.items(), key=lambda kv: abs(math.log(kv[0] / lr)))[1]
    expected = int(expected * (1e-3 / lr) if lr > 1e-3 else expected)
    climbing = False
    if len(history) >= 4:
        tail = history[-max(2, len(history) // 4):]
        climbing = tail[-1]["accuracy"] - tail[0]["accuracy"] > 0.02
    if steps < expected or climbing:
        why = "accuracy still climbing" if climbing and steps >= expected else f"{steps} steps is short"
        return (f"not converged: {why}, a real run at lr {lr:g} is about {expected:,} steps "
                f"(RCA-vs-steps curves in notebook 03)")
    return None


class DiscoveryTrainer:
    """Holds G, the deformator A, the reconstructor R and their optimiser; ``run`` trains and returns a bank.

    Use ``discover()`` for the one-call version; keep a trainer to reuse R (for ``rca``) or to resume.
    Defaults are the reference's: K = d, batch 32, eps = 6 U[-1, 1] with |eps| >= 0.5, loss CE + 0.25 |eps_hat -
    eps|, Adam lr 1e-4 for A and R, the reference's LeNet R for 32-64 px images and ResNet-18 above.
    ``shifts_per_latent`` (default 4, at most the batch) pairs each base image G(z) with that many shifted ones:
    a quarter of the base renders, and every pair keeps the same distribution, so the loss is unchanged in
    expectation (RCA-vs-steps curves with 1 and 4 match: ``benchmarks/discovery.py``); 1 is the reference's.
    ``deformator_lr``: A's own learning rate (the reference has one for A and one for R; both default to ``lr``).
    On CPU a small G (up to 20M parameters) is trained through a private ``training_copy`` (batch norms folded
    into the convolutions); ``channels_last`` (default on) makes that copy channels-last, and on a GPU stores R's
    activations channels-last. ``compile`` wraps G and R in ``torch.compile`` (pays only for long runs: measured
    cold start in ``benchmarks/discovery.py``). ``cuda_graph`` (default: on for CUDA, unless ``compile``) captures
    the whole step in one CUDA graph and replays it (``graphs.py``); a step that cannot be captured trains
    eagerly, with one warning. ``amp`` (bfloat16 autocast) is off by default everywhere: on an H200 it only added
    casts to a launch-bound step (fp32 116 vs bf16 85 steps/s, mnist G; ``docs/results.md``).
    """

    #: one process only: a distributed step all-reduces through DDP, which this capture does not handle
    _supports_graphs = True

    def __init__(self, generator, k: int | None = None, deformator: str = "ortho", batch_size: int = 32,
                 shift_scale: float = 6.0, min_shift: float = 0.5, shift_weight: float = 0.25, lr: float = 1e-4,
                 reconstructor: str = "auto", seed: int | None = None, micro_batch: int | None = None,
                 amp: bool | None = None, compile: bool = False, shifts_per_latent: int | None = None,
                 channels_last: bool | None = None, deformator_lr: float | None = None,
                 cuda_graph: bool | None = None):
        d = generator.latent_dim
        k = d if k is None else k
        # every check before any work (no weights built, nothing rendered)
        _check_number("k (number of directions)", k, 1, 1e6, integer=True)
        _check_number("batch_size", batch_size, 1, 1e6, integer=True)
        if micro_batch is not None:
            _check_number("micro_batch", micro_batch, 1, 1e6, integer=True)
        _check_number("shift_scale", shift_scale, 0, MAX_SHIFT_SCALE, low_open=True)
        _check_number("min_shift", min_shift, 0, shift_scale)
        _check_number("shift_weight", shift_weight, 0, 1e6)
        _check_number("lr", lr, 0, 10, low_open=True)
        if deformator_lr is not None:
            _check_number("deformator_lr", deformator_lr, 0, 10, low_open=True)
        if shifts_per_latent is None:
            shifts_per_latent = min(DEFAULT_SHIFTS_PER_LATENT, batch_size)
        _check_number("shifts_per_latent", shifts_per_latent, 1, batch_size, integer=True)
        if deformator not in DEFORMATORS:
            raise ValueError(f"unknown deformator {deformator!r}: choose one of {DEFORMATORS}")
        if reconstructor not in RECONSTRUCTORS:
            raise ValueError(f"unknown reconstructor {reconstructor!r}: choose one of {RECONSTRUCTORS}")
        if cuda_graph and generator.device.type != "cuda":
            raise ValueError(f"cuda_graph=True needs a CUDA generator, {generator.name} is on {generator.device}: "
                             "leave cuda_graph unset (it is on by default on CUDA)")
        if cuda_graph and compile:
            raise ValueError("cuda_graph=True and compile=True exclude each other: choose one")
        self.generator, self.device = generator, generator.device
        self.k, self.batch_size = k, batch_size
        self.micro_batch = min(micro_batch or batch_size, batch_size)
        self.shift_scale, self.min_shift, self.shift_weight = shift_scale, min_shift, shift_weight
        self.shifts_per_latent, self.lr = shifts_per_latent, lr
        self.settings = {"k": k, "deformator": deformator, "batch_size": batch_size, "shift_scale": shift_scale,
                         "min_shift": min_shift, "shift_weight": shift_weight, "lr": lr,
                         "reconstructor": reconstructor, "seed": seed}
        if shifts_per_latent != 1:
            self.settings["shifts_per_latent"] = shifts_per_latent
        if deformator == "ortho":  # a checkpoint of another map stores another parameter: refused on resume
            self.settings["orthogonal_map"] = "matrix_exp"
        if deformator_lr is not None:
            self.settings["deformator_lr"] = deformator_lr
        if seed is not None:
            torch.manual_seed(seed)
        self.deformator = Deformator(d, k, deformator, seed).to(self.device)
        channels, height, width = generator.image_shape
        self.reconstructor = make_reconstructor(reconstructor, channels, max(height, width), k).to(self.device)
        self.channels_last = True if channels_last is None else bool(channels_last)
        g_module = generator.module
        if self.channels_last and self.device.type == "cuda":
            # channels-last pays for R on GPUs; on CPU it slows the LeNet's few-channel convs (measured)
            self.reconstructor = self.reconstructor.to(memory_format=torch.channels_last)
        if self.device.type == "cpu" and sum(p.numel() for p in g_module.parameters()) <= 20_000_000:
            g_module = training_copy(g_module, self.channels_last)  # the caller's module stays exactly as it was
        groups = [{"params": list(self.reconstructor.parameters())}]
        if self.deformator.trainable:
            groups.append({"params": list(self.deformator.parameters()), "lr": deformator_lr or lr})
        use_graph = (self.device.type == "cuda" and not compile and self._supports_graphs) if cuda_graph is None \
            else bool(cuda_graph) and self._supports_graphs
        # capturable: Adam keeps its step count on the device, so a graph can replay the update
        capturable = {"capturable": True} if use_graph else {}
        try:  # one fused kernel for all parameters (CPU and CUDA, torch >= 2.4): 0.14 vs 0.50 ms per step on CPU
            self.optimizer = torch.optim.Adam(groups, lr=lr, fused=True, **capturable)
        except (RuntimeError, TypeError):
            self.optimizer = torch.optim.Adam(groups, lr=lr, **capturable)
        self.amp = False if amp is None else amp
        self._g = torch.compile(g_module) if compile else g_module
        self._r = torch.compile(self.reconstructor) if compile else self.reconstructor
        self.step = 0
        self.history: list[dict[str, float]] = []
        self.train_seconds = 0.0
        self._checked_gradient_path = not self.deformator.trainable
        self._base_without_grad = True  # the speed lever; False renders both halves with autograd (benchmark)
        # the step's (loss, ce, shift error, accuracy) sums between logs: one tensor for the run, so a graph
        # captured once accumulates into the same memory at every replay
        self._sums = torch.zeros(4, device=self.device)
        self._graph: StepGraph | None = None
        if use_graph:
            self.deformator.capture_safe()
            self._graph = StepGraph(generator.name)

    # ------------------------------------------------------------------ step
    def sample_batch(self, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """A training batch: base latents (ceil(n / shifts_per_latent), d), direction indices (n,), shifts (n,)."""
        m = self.shifts_per_latent
        noise = torch.randn(-(-n // m), self.generator.latent_dim, device=self.device)
        z = self.generator.latents_from_noise(noise)
        index = torch.randint(self.k, (n,), device=self.device)
        eps = sample_shifts(n, self.shift_scale, self.min_shift, self.device)
        return z, index, eps

    def _reconstruct(self, base: torch.Tensor, shifted: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pairs = torch.cat([base, shifted], dim=1)
        if self.channels_last and self.device.type == "cuda":
            pairs = pairs.contiguous(memory_format=torch.channels_last)
        return self._r(pairs)

    def refresh_batch_norm(self, pairs: int = 2048) -> None:
        """Re-estimate R's batch-norm statistics for its current weights on ``pairs`` fresh training pairs
        (torch's ``update_bn``). Why: in eval mode R uses running averages (momentum 0.1) that lag a
        reconstructor which moves fast (lr 1e-3); RCA measured with them jumps by up to 0.3 between checks."""
        def batches():  # micro-batches: the size known to fit in memory
            for _ in range(-(-pairs // self.micro_batch)):
                z, index, eps = self.sample_batch(self.micro_batch)
                base, shifted = self._g(z), self._g(_per_pair(z, len(index)) + self.deformator(index, eps))
                yield torch.cat([_per_pair(base, len(index)), shifted], dim=1)

        with torch.no_grad():  # the generator runs as update_bn draws the batches, so inside this block
            update_bn(batches(), self.reconstructor)

    def batch_loss(self, z: torch.Tensor, index: torch.Tensor, eps: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(loss, ce, shift error, accuracy) on one batch: base latents ``z`` (each used for ``len(index) /
        len(z)`` consecutive pairs), direction indices and shifts. loss = CE(k) + shift_weight * |eps_hat - eps|.
        For a learned A the base half G(z) is rendered without autograd and only G(z + shift) carries gradients
        to A; for a fixed A both halves go through G in one call without autograd."""
        n = len(index)
        z_pairs = _per_pair(z, n)
        # a captured step cannot use autocast's weight-cast cache (its tensors would outlive the capture)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp,
                            cache_enabled=self._graph is None):
            if self.deformator.trainable and not self._base_without_grad:
                images = self._g(torch.cat([z, z_pairs + self.deformator(index, eps)]))
                base, shifted = images[:len(z)], images[len(z):]
            elif self.deformator.trainable:
                with torch.no_grad():
                    base = self._g(z)
                shifted = self._g(z_pairs + self.deformator(index, eps))
            if self.deformator.trainable:
                if not self._checked_gradient_path:
                    if not shifted.requires_grad:
                        raise ValueError(
                            f"{self.generator.name} gives no gradient from latent to image (a torch.no_grad, "
                            ".detach() or non-torch op inside forward?): learned deformators need it; use "
                            "deformator='random' or 'coordinate', or remove the break")
                    self._checked_gradient_path = True
            else:
                with torch.no_grad():
                    images = self._g(torch.cat([z, z_pairs + self.deformator(index, eps)]))
                base, shifted = images[:len(z)], images[len(z):]
            base = _per_pair(base, n)
            logits, eps_hat = self._reconstruct(base, shifted)
        ce = F.cross_entropy(logits.float(), index)
        shift_err = (eps_hat.float() - eps).abs().mean()
        correct = (logits.argmax(1) == index).float().mean()
        return ce + self.shift_weight * shift_err, ce, shift_err, correct

    def _train_step(self, sums: torch.Tensor) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        chunks = -(-self.batch_size // self.micro_batch)
        for i in range(chunks):
            n = min(self.micro_batch, self.batch_size - i * self.micro_batch)
            loss, ce, shift_err, correct = self.batch_loss(*self.sample_batch(n))
            (loss * (n / self.batch_size)).backward()
            sums += torch.stack([loss, ce, shift_err, correct]).detach() * (n / self.batch_size)
        self.optimizer.step()

    def _shrink_micro_batch(self, exc: BaseException) -> None:
        """After running out of memory: halve the micro-batch (same batch, same loss, more passes), or explain."""
        where = "GPU" if self.device.type == "cuda" else "CPU"
        if self.micro_batch == 1:
            raise MemoryError(
                f"not enough {where} memory for discovery on {self.generator.name} even one pair at a time "
                f"({exc}): close other work, use a smaller generator, or run on another device") from exc
        self.micro_batch = max(1, self.micro_batch // 2)
        if self._graph is not None:
            self._graph.reset()  # the step's shape changed: captured again after its warm-up
        warnings.warn(f"out of {where} memory: continuing with micro-batches of {self.micro_batch} "
                      f"(the batch of {self.batch_size} and its loss are unchanged)", stacklevel=3)
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    # ------------------------------------------------------------------- run
    def run(self, steps: int, callback: Callable[[int, dict[str, float]], Any] | None = None, cancel: Any = None,
            checkpoint: str | Path | None = None, log_every: int = 50, checkpoint_every: int = 500,
            progress: bool | None = None, score_samples: int = 16) -> DirectionBank:
        """Train ``steps`` more steps. ``callback(step, metrics)`` every ``log_every`` steps; ``cancel`` (an
        object with ``is_set()``, e.g. threading.Event) stops cleanly with the directions so far, marked
        incomplete; ``checkpoint`` is resumed from if it exists and rewritten every ``checkpoint_every`` steps.
        The bank's scores are R's accuracy per direction on ``score_samples`` fresh pairs each; its info holds
        ``chance`` (1/K) and, for a short run, a ``note`` saying it has not converged (also warned).
        ``progress``: a tqdm bar (None: on in a notebook or a terminal)."""
        if not isinstance(steps, int) or isinstance(steps, bool) or steps <= 0:
            raise ValueError(f"steps must be a positive integer, got {steps!r}")
        if not isinstance(log_every, int) or log_every < 1:
            raise ValueError(f"log_every must be a positive integer, got {log_every!r}")
        if checkpoint is not None and Path(checkpoint).exists():
            self.load_checkpoint(checkpoint)
        target = self.step + steps
        self.reconstructor.train()
        sums = self._sums.zero_()
        since_log, complete, start = 0, True, time.perf_counter()
        last_good = self.deformator.directions().detach().clone()
        bar = None
        if progress_default(progress):
            from tqdm.auto import tqdm

            bar = tqdm(total=steps, desc=f"discover {self.settings['deformator']} (chance {1 / self.k:.3f})")
        try:
            while self.step < target:
                if cancel is not None and cancel.is_set():
                    complete = False
                    break
                try:
                    if self._graph is not None:
                        self._graph.step(lambda: self._train_step(sums))
                    else:
                        self._train_step(sums)
                except (RuntimeError, MemoryError) as exc:
                    if not is_out_of_memory(exc):
                        raise
                    sums.zero_()
                    self.optimizer.zero_grad(set_to_none=True)
                    self._shrink_micro_batch(exc)
                    continue
                self.step += 1
                since_log += 1
                if since_log == log_every or self.step == target:
                    metrics = dict(zip(("loss", "ce", "shift_error", "accuracy"), (sums / since_log).tolist()))
                    if not all(math.isfinite(v) for v in metrics.values()):
                        self.train_seconds += time.perf_counter() - start
                        bank = self._bank(last_good, complete=False)
                        raise DiscoveryStopped(
                            f"discovery stopped at step {self.step}: the loss became {metrics['loss']} (NaN/inf). "
                            "Lower lr or shift_scale; the directions of the last good step are in this error's .bank",
                            bank)
                    last_good = self.deformator.directions().detach().clone()
                    self.history.append({"step": self.step, **metrics})
                    sums.zero_()
                    if bar is not None:
                        bar.update(since_log)
                        bar.set_postfix(acc=f"{metrics['accuracy']:.3f}", shift=f"{metrics['shift_error']:.2f}")
                    since_log = 0
                    if callback is not None:
                        callback(self.step, metrics)
                if checkpoint is not None and self.step % checkpoint_every == 0:
                    self.save_checkpoint(checkpoint)
        finally:
            if bar is not None:
                bar.close()
        self.train_seconds += time.perf_counter() - start
        if checkpoint is not None:
            self.save_checkpoint(checkpoint)
        self.refresh_batch_norm(max(256, score_samples * self.k))
        self.reconstructor.eval()
        bank = self._bank(self.deformator.directions().detach().clone(), complete)
        bank.scores = rca(self.generator, bank, self.reconstructor, n=score_samples * self.k,
                          shift_scale=self.shift_scale, min_shift=self.min_shift, deformator=self.deformator,
                          progress=False)["per_direction"]
        if complete and bank.info.get("note"):
            warnings.warn(bank.info["note"], stacklevel=2)
        return bank

    def _bank(self, directions: torch.Tensor, complete: bool) -> DirectionBank:
        kind = self.settings["deformator"]
        source = kind if kind in ("random", "coordinate") else "discovery"
        return DirectionBank(directions, source=source, shift_range=self.shift_scale, generator=self.generator.name,
                             labels=[f"{source} {i}" for i in range(len(directions))],
                             info={"method": "discovery", **self.settings, "steps": self.step, "complete": complete,
                                   "chance": 1 / self.k, "train_seconds": round(self.train_seconds, 2),
                                   "history": list(self.history),
                                   "note": converged_hint(self.step, self.lr, self.history)})

    # ------------------------------------------------------------ checkpoints
    def save_checkpoint(self, path: str | Path) -> None:
        state = {"step": self.step, "settings": self.settings, "history": self.history,
                 "deformator": self.deformator.state_dict(), "reconstructor": self.reconstructor.state_dict(),
                 "optimizer": self.optimizer.state_dict(), "train_seconds": self.train_seconds}
        atomic_write(path, lambda tmp: torch.save(state, tmp))

    def load_checkpoint(self, path: str | Path) -> None:
        """Resume from ``path`` (read with weights_only=True: data, never code)."""
        try:
            state = torch.load(path, map_location=self.device, weights_only=True)
        except Exception as exc:  # torch raises several types for damaged or foreign files
            raise ValueError(f"{path} is not a readable discovery checkpoint ({exc})") from exc
        ours = {k: v for k, v in self.settings.items() if k not in ("seed", "lr")}
        theirs = {k: v for k, v in state.get("settings", {}).items() if k in ours}
        if theirs != ours:
            raise ValueError(f"checkpoint {path} was made with settings {theirs}, this run uses {ours}: "
                             "use the same settings to resume, or another checkpoint path to start afresh")
        self.deformator.load_state_dict(state["deformator"])
        self.reconstructor.load_state_dict(state["reconstructor"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step, self.history = state["step"], list(state["history"])
        self.train_seconds = state.get("train_seconds", 0.0)
        if self._graph is not None:
            self._graph.reset()  # the optimiser's state tensors were replaced: capture again

    @property
    def cuda_graph(self) -> str:
        """How steps run: "replayed" (a captured CUDA graph), "warming up", "eager (capture failed)" or "off"."""
        if self._graph is None:
            return "off"
        if self._graph.failed:
            return "eager (capture failed)"
        return "replayed" if self._graph.graph is not None else "warming up"


def discover(generator, k: int | None = None, steps: int = 2000, deformator: str = "ortho", batch_size: int = 32,
             shift_scale: float = 6.0, min_shift: float = 0.5, shift_weight: float = 0.25, lr: float = 1e-4,
             reconstructor: str = "auto", seed: int | None = None, callback=None, cancel=None,
             checkpoint: str | Path | None = None, log_every: int = 50, progress: bool = True,
             **options) -> DirectionBank:
    """Learn K interpretable directions of ``generator`` (Voynov & Babenko). The bank's ``info`` holds the
    settings, the training history, ``chance`` (1/K, next to the accuracies) and a ``note`` when the run is too
    short to have converged; ``info['complete']`` is False when cancelled. A progress bar shows by default.
    ``options`` go to ``DiscoveryTrainer`` (micro_batch, amp, compile, shifts_per_latent, channels_last,
    cuda_graph)."""
    trainer = DiscoveryTrainer(generator, k, deformator, batch_size, shift_scale, min_shift, shift_weight, lr,
                               reconstructor, seed, **options)
    bank = trainer.run(steps, callback=callback, cancel=cancel, checkpoint=checkpoint, log_every=log_every,
                       progress=progress)
    bank.trainer = trainer  # keeps R reachable for rca(); not saved with the bank
    return bank
