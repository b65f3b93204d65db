"""Unsupervised latent discovery (Voynov & Babenko, 2020): train A and R so that R can tell, from the pair
G(z), G(z + eps A e_k), which direction k moved and by how much.

Why it is fast (vs the reference): G is frozen (no weight gradients) and renders z and z + shift in one
batched call; shifts are a gather, not a Python loop; metrics accumulate on the device and are read once
every ``log_every`` steps; fixed-A baselines skip the backward pass through G entirely.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ...files import atomic_write
from ..bank import DirectionBank
from .deformators import Deformator
from .rca import rca
from .reconstructors import make_reconstructor


class DiscoveryStopped(FloatingPointError):
    """Training hit a NaN/inf loss; ``bank`` holds the directions of the last good log step."""

    def __init__(self, message: str, bank: DirectionBank | None):
        super().__init__(message)
        self.bank = bank


def sample_shifts(n: int, shift_scale: float, min_shift: float, device: torch.device,
                  gen: torch.Generator | None = None) -> torch.Tensor:
    """eps = shift_scale * U[-1, 1], with |eps| pushed up to at least ``min_shift`` (the reference's rule)."""
    eps = (torch.rand(n, device=device, generator=gen) * 2 - 1) * shift_scale
    return torch.where(eps < 0, eps.clamp(max=-min_shift), eps.clamp(min=min_shift))


class DiscoveryTrainer:
    """Holds G, the deformator A, the reconstructor R and their optimiser; ``run`` trains and returns a bank.

    Use ``discover()`` for the one-call version; keep a trainer to reuse R (for ``rca``) or to resume.
    """

    def __init__(self, generator, k: int | None = None, deformator: str = "ortho", batch_size: int = 32,
                 shift_scale: float = 6.0, min_shift: float = 0.5, shift_weight: float = 0.25, lr: float = 1e-4,
                 reconstructor: str = "auto", seed: int | None = None, micro_batch: int | None = None,
                 amp: bool | None = None, compile: bool = False):
        d = generator.latent_dim
        k = d if k is None else k
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if not 0 <= min_shift <= shift_scale or shift_scale <= 0:
            raise ValueError(f"need 0 <= min_shift <= shift_scale and shift_scale > 0, "
                             f"got min_shift={min_shift}, shift_scale={shift_scale}")
        self.generator, self.device = generator, generator.device
        self.k, self.batch_size, self.micro_batch = k, batch_size, micro_batch or batch_size
        self.shift_scale, self.min_shift, self.shift_weight = shift_scale, min_shift, shift_weight
        self.settings = {"k": k, "deformator": deformator, "batch_size": batch_size, "shift_scale": shift_scale,
                         "min_shift": min_shift, "shift_weight": shift_weight, "lr": lr,
                         "reconstructor": reconstructor, "seed": seed}
        if seed is not None:
            torch.manual_seed(seed)
        self.deformator = Deformator(d, k, deformator, seed).to(self.device)
        channels, height, width = generator.image_shape
        self.reconstructor = make_reconstructor(reconstructor, channels, max(height, width), k).to(self.device)
        if self.device.type == "cuda":
            self.reconstructor = self.reconstructor.to(memory_format=torch.channels_last)
        params = list(self.reconstructor.parameters()) + list(self.deformator.parameters())
        self.optimizer = torch.optim.Adam(params, lr=lr)
        self.amp = (self.device.type == "cuda") if amp is None else amp
        self._g = torch.compile(generator.module) if compile else generator.module
        self._r = torch.compile(self.reconstructor) if compile else self.reconstructor
        self.step = 0
        self.history: list[dict[str, float]] = []
        self.train_seconds = 0.0
        self._checked_gradient_path = not self.deformator.trainable

    # ------------------------------------------------------------------ step
    def _pair_logits(self, z: torch.Tensor, shift: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One generator call for both halves of the pair batch, then R on the channel-concatenated pairs."""
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            images = self._g(torch.cat([z, z + shift]))
            if not self._checked_gradient_path:
                if not images.requires_grad:
                    raise ValueError(
                        f"{self.generator.name} gives no gradient from latent to image (a torch.no_grad, .detach() "
                        "or non-torch op inside forward?): learned deformators need it; use deformator='random' "
                        "or 'coordinate', or remove the break")
                self._checked_gradient_path = True
            pairs = torch.cat(images.chunk(2), dim=1)
            if self.device.type == "cuda":
                pairs = pairs.contiguous(memory_format=torch.channels_last)
            return self._r(pairs)

    def _losses(self, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        z = self.generator.latents_from_noise(torch.randn(n, self.generator.latent_dim, device=self.device))
        index = torch.randint(self.k, (n,), device=self.device)
        eps = sample_shifts(n, self.shift_scale, self.min_shift, self.device)
        if self.deformator.trainable:
            logits, eps_hat = self._pair_logits(z, self.deformator(index, eps))
        else:
            with torch.no_grad():
                images = self._g(torch.cat([z, z + self.deformator(index, eps)]))
            logits, eps_hat = self._r(torch.cat(images.chunk(2), dim=1))
        ce = F.cross_entropy(logits.float(), index)
        shift_err = (eps_hat.float() - eps).abs().mean()
        correct = (logits.argmax(1) == index).float().mean()
        return ce + self.shift_weight * shift_err, ce, shift_err, correct

    def _train_step(self, sums: torch.Tensor) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        chunks = -(-self.batch_size // self.micro_batch)
        for i in range(chunks):
            n = min(self.micro_batch, self.batch_size - i * self.micro_batch)
            loss, ce, shift_err, correct = self._losses(n)
            (loss * (n / self.batch_size)).backward()
            sums += torch.stack([loss, ce, shift_err, correct]).detach() * (n / self.batch_size)
        self.optimizer.step()

    # ------------------------------------------------------------------- run
    def run(self, steps: int, callback: Callable[[int, dict[str, float]], Any] | None = None, cancel: Any = None,
            checkpoint: str | Path | None = None, log_every: int = 50, checkpoint_every: int = 500,
            progress: bool = False, score_samples: int = 16) -> DirectionBank:
        """Train ``steps`` more steps. ``callback(step, metrics)`` every ``log_every`` steps; ``cancel`` (an
        object with ``is_set()``, e.g. threading.Event) stops cleanly with the directions so far, marked
        incomplete; ``checkpoint`` is resumed from if it exists and rewritten every ``checkpoint_every`` steps.
        The bank's scores are R's accuracy per direction on ``score_samples`` fresh pairs each."""
        if not isinstance(steps, int) or steps <= 0:
            raise ValueError(f"steps must be a positive integer, got {steps!r}")
        if checkpoint is not None and Path(checkpoint).exists():
            self.load_checkpoint(checkpoint)
        target = self.step + steps
        self.reconstructor.train()
        sums = torch.zeros(4, device=self.device)
        since_log, complete, start = 0, True, time.perf_counter()
        last_good = self.deformator.directions().detach().clone()
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=steps, desc=f"discover {self.settings['deformator']}")
        while self.step < target:
            if cancel is not None and cancel.is_set():
                complete = False
                break
            try:
                self._train_step(sums)
            except torch.cuda.OutOfMemoryError:
                if self.micro_batch == 1:
                    raise
                self.micro_batch = max(1, self.micro_batch // 2)
                warnings.warn(f"out of GPU memory: continuing with micro-batches of {self.micro_batch}",
                              stacklevel=2)
                torch.cuda.empty_cache()
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
        self.train_seconds += time.perf_counter() - start
        if bar is not None:
            bar.close()
        if checkpoint is not None:
            self.save_checkpoint(checkpoint)
        self.reconstructor.eval()
        bank = self._bank(self.deformator.directions().detach().clone(), complete)
        bank.scores = rca(self.generator, bank, self.reconstructor, n=score_samples * self.k,
                          shift_scale=self.shift_scale, min_shift=self.min_shift)["per_direction"]
        return bank

    def _bank(self, directions: torch.Tensor, complete: bool) -> DirectionBank:
        kind = self.settings["deformator"]
        source = kind if kind in ("random", "coordinate") else "discovery"
        return DirectionBank(directions, source=source, shift_range=self.shift_scale, generator=self.generator.name,
                             labels=[f"{source} {i}" for i in range(len(directions))],
                             info={"method": "discovery", **self.settings, "steps": self.step, "complete": complete,
                                   "train_seconds": round(self.train_seconds, 2), "history": list(self.history)})

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


def discover(generator, k: int | None = None, steps: int = 2000, deformator: str = "ortho", batch_size: int = 32,
             shift_scale: float = 6.0, min_shift: float = 0.5, shift_weight: float = 0.25, lr: float = 1e-4,
             reconstructor: str = "auto", seed: int | None = None, callback=None, cancel=None,
             checkpoint: str | Path | None = None, log_every: int = 50, progress: bool = False,
             **options) -> DirectionBank:
    """Learn K interpretable directions of ``generator`` (Voynov & Babenko). The bank's ``info`` holds the
    settings and the training history; ``info['complete']`` is False when cancelled. ``options`` go to
    ``DiscoveryTrainer`` (micro_batch, amp, compile)."""
    trainer = DiscoveryTrainer(generator, k, deformator, batch_size, shift_scale, min_shift, shift_weight, lr,
                               reconstructor, seed, **options)
    bank = trainer.run(steps, callback=callback, cancel=cancel, checkpoint=checkpoint, log_every=log_every,
                       progress=progress)
    bank.trainer = trainer  # keeps R reachable for rca(); not saved with the bank
    return bank
