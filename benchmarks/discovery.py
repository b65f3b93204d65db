"""Discovery training speed: our step vs a reference-style step, same generator, batch, reconstructor and
hardware, in one run. The reference-style step follows the reference implementation as MISSION.md describes
it: two separate generator calls, G's weights not frozen (backward computes gradients nobody uses), the
one-hot * eps matrix built by a Python loop, and an ``.item()`` host sync every step.

Also: wall time for our trainer to reach RCA >= 0.7 (K=32) on the mnist generator.

    python benchmarks/discovery.py [--steps 60] [--rca-target 0.7] [--skip-rca]
"""

from __future__ import annotations

import argparse
import copy
import time

import torch
import torch.nn.functional as F

from ganexplorer import DiscoveryTrainer, load_generator, rca
from ganexplorer.directions.discovery.trainer import sample_shifts


class ReferenceStyleStep:
    def __init__(self, trainer: DiscoveryTrainer):
        self.g = copy.deepcopy(trainer.generator.module).requires_grad_(True)  # not frozen, like the reference
        self.deformator = copy.deepcopy(trainer.deformator)
        self.reconstructor = copy.deepcopy(trainer.reconstructor)
        self.k, self.batch, self.device = trainer.k, trainer.batch_size, trainer.device
        self.opt_a = torch.optim.Adam(self.deformator.parameters(), lr=1e-4)
        self.opt_r = torch.optim.Adam(self.reconstructor.parameters(), lr=1e-4)
        self.losses: list[float] = []

    def __call__(self) -> None:
        self.g.zero_grad()
        self.opt_a.zero_grad()
        self.opt_r.zero_grad()
        z = torch.randn(self.batch, self.g.latent_dim, device=self.device)
        target = torch.randint(self.k, (self.batch,), device=self.device)
        eps = sample_shifts(self.batch, 6.0, 0.5, self.device)
        one_hot = torch.zeros(self.batch, self.k, device=self.device)
        for i, (k, e) in enumerate(zip(target, eps)):  # Python loop over the batch
            one_hot[i, k] = e
        shift = one_hot @ self.deformator.directions()
        imgs, imgs_shifted = self.g(z), self.g(z + shift)  # two generator calls
        logits, eps_hat = self.reconstructor(torch.cat([imgs, imgs_shifted], 1))
        loss = F.cross_entropy(logits, target) + 0.25 * (eps_hat - eps).abs().mean()
        loss.backward()
        self.opt_a.step()
        self.opt_r.step()
        self.losses.append(loss.item())  # host sync every step


@torch.no_grad()
def reference_extras_seconds(step: ReferenceStyleStep) -> float:
    """What the reference adds every 1000 steps besides its checkpoint: validation on 100 batches (two G calls
    each) and interpolation charts, ~210 batch-1 generator calls (15 directions x 7 shifts x 2 latents; the
    matplotlib drawing at dpi 500 is left out, which favours the reference)."""
    start = time.perf_counter()
    for _ in range(100):
        z = torch.randn(step.batch, step.g.latent_dim, device=step.device)
        target = torch.randint(step.k, (step.batch,), device=step.device)
        eps = sample_shifts(step.batch, 6.0, 0.5, step.device)
        shift = step.deformator.directions()[target] * eps[:, None]
        step.reconstructor(torch.cat([step.g(z), step.g(z + shift)], 1))
    for _ in range(210):
        step.g(torch.randn(1, step.g.latent_dim, device=step.device))
    return time.perf_counter() - start


def steps_per_second(step, steps: int) -> float:
    for _ in range(3):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--model", default="mnist")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--rca-target", type=float, default=0.7)
    parser.add_argument("--skip-rca", action="store_true")
    args = parser.parse_args()
    g = load_generator(args.model, device=args.device)
    trainer = DiscoveryTrainer(g, k=32, seed=0)
    reference = ReferenceStyleStep(trainer)
    sums = torch.zeros(4, device=g.device)
    ref = steps_per_second(reference, args.steps)
    ref_loop = 1 / (1 / ref + reference_extras_seconds(reference) / 1000)
    ours = steps_per_second(lambda: trainer._train_step(sums), args.steps)
    fixed = DiscoveryTrainer(g, k=32, deformator="random", seed=0)
    ours_fixed = steps_per_second(lambda: fixed._train_step(sums), args.steps)
    print(f"{args.model} on {g.device.type}, batch 32, K=32, LeNet reconstructor")
    print(f"  reference-style step: {ref:6.2f} steps/s   (with its per-1000-step validation and charts "
          f"amortised: {ref_loop:6.2f} steps/s)")
    print(f"  ganexplorer step:     {ours:6.2f} steps/s   speed-up x{ours / ref:.2f} "
          f"(x{ours / ref_loop:.2f} against the reference loop)")
    print(f"  ganexplorer, fixed A: {ours_fixed:6.2f} steps/s   speed-up x{ours_fixed / ref:.2f}")
    if args.skip_rca:
        return
    trainer = DiscoveryTrainer(g, k=32, seed=0)
    elapsed, result = 0.0, {"accuracy": 0.0}
    while result["accuracy"] < args.rca_target and trainer.step < 20000:
        bank = trainer.run(250, log_every=250, score_samples=1)
        elapsed = trainer.train_seconds
        result = rca(g, bank, trainer, n=1024)
        print(f"  step {trainer.step:6d}  {elapsed:7.1f} s  RCA {result['accuracy']:.3f}  "
              f"shift error {result['shift_error']:.3f}")
    print(f"time to RCA >= {args.rca_target}: {elapsed:.0f} s of training ({trainer.step} steps)")


if __name__ == "__main__":
    main()
