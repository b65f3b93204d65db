"""Discovery training speed, honestly: our trainer vs a loop that does per step what the reference implementation
(anvoynov/GANLatentDiscovery, ``trainer.py``) does, on the same generator, batch, K and hardware, in one process
with the two sides alternating round by round (so machine load hits both alike).

The reference-style step, rewritten here from the reference's description (no code copied):
two generator calls (G(z), then G(z + shift)); G's weights left requiring gradients (backward computes weight
gradients nobody uses, zeroed every step); the one-hot * eps matrix built by a Python loop over the batch; the
shift as that matrix times A; two Adam optimisers (A, R); four host syncs per step (loss, CE, shift loss,
accuracy read as Python floats); a log line every 10 steps. ``reference_extras_seconds`` adds what it does every
1000 steps (validation on 100 batches, ~210 batch-1 generator calls for its charts).

Sections:
1. same R: both sides with the reference's LeNet R and the same A (the ratio that compares like with like), and
   the generator's work alone on each side (the ceiling of that ratio: R, A and Adam cost the same on both);
2. own R: ours with its default (LeNet) vs the reference with its command-line default R (ResNet-18) and its
   own ortho deformator (expm of a K x K skew matrix, zero-padded to d);
3. speed levers of ours, each against the reference-style step in the same rounds;
4. time-to-RCA: both sides train (same R, same hyperparameters) until RCA on fresh pairs reaches a level.

    OMP_NUM_THREADS=1 python benchmarks/discovery.py [--rounds 5] [--steps 20] [--rca-target 0.5] [--quick]
    OMP_NUM_THREADS=1 python benchmarks/discovery.py --nproc-per-node 2   # scaling over processes (DDP)

(One thread per process: on a shared, busy machine two threads spin-wait on each other and the numbers collapse
for both sides alike; on a quiet machine, try OMP_NUM_THREADS=2.)
"""

from __future__ import annotations

import argparse
import copy
import io
import os
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from ganexplorer import DiscoveryTrainer, load_generator, rca
from ganexplorer.directions.bank import DirectionBank
from ganexplorer.directions.discovery.reconstructors import make_reconstructor


class ReferenceOrtho(nn.Module):
    """The reference's ortho deformator: expm(L - L^T) with L ~ N(0, 1), K x K, the shift zero-padded to d."""

    def __init__(self, k: int, latent_dim: int):
        super().__init__()
        self.k, self.latent_dim = k, latent_dim
        self.log_mat_half = nn.Parameter(torch.randn(k, k))

    def directions(self) -> torch.Tensor:
        mat = torch.linalg.matrix_exp(self.log_mat_half - self.log_mat_half.T)  # rows: A e_k for one-hot e_k
        return F.pad(mat.T, (0, self.latent_dim - self.k))


class ReferenceStyleLoop:
    """What the reference does per step (see the module docstring), with a given G, A and R."""

    def __init__(self, generator, deformator: nn.Module, reconstructor: nn.Module, k: int, batch_size: int = 32,
                 lr: float = 1e-4, shift_scale: float = 6.0, min_shift: float = 0.5, shift_weight: float = 0.25):
        self.g = copy.deepcopy(generator.module).requires_grad_(True)  # not frozen, like the reference
        self.latent_dim, self.device = generator.latent_dim, generator.device
        self.deformator, self.reconstructor = deformator, reconstructor
        self.k, self.batch, self.shift_scale, self.min_shift = k, batch_size, shift_scale, min_shift
        self.shift_weight = shift_weight
        self.opt_a = torch.optim.Adam(self.deformator.parameters(), lr=lr) \
            if any(p.requires_grad for p in self.deformator.parameters()) else None
        self.opt_r = torch.optim.Adam(self.reconstructor.parameters(), lr=lr)
        self.step_count, self.log = 0, io.StringIO()
        self.sums = [0.0, 0.0, 0.0, 0.0]

    def make_shifts(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        target = torch.randint(0, self.k, [self.batch], device=self.device)
        shifts = self.shift_scale * (2.0 * torch.rand(target.shape, device=self.device) - 1.0)
        shifts[(shifts < self.min_shift) & (shifts > 0)] = self.min_shift
        shifts[(shifts > -self.min_shift) & (shifts < 0)] = -self.min_shift
        return target, shifts, self.one_hot(target, shifts)

    def one_hot(self, target: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
        basis = torch.zeros(len(target), self.k, device=self.device)
        for i, (index, val) in enumerate(zip(target, shifts)):  # a Python loop over the batch
            basis[i][index] += val
        return basis

    def losses(self, z: torch.Tensor, target: torch.Tensor, shifts: torch.Tensor, basis: torch.Tensor):
        shift = basis @ self.deformator.directions()
        imgs = self.g(z)  # two generator calls
        imgs_shifted = self.g(z + shift)
        logits, shift_prediction = self.reconstructor(torch.cat([imgs, imgs_shifted], dim=1))
        logit_loss = F.cross_entropy(logits, target)
        shift_loss = self.shift_weight * torch.mean(torch.abs(shift_prediction - shifts))
        accuracy = torch.mean((torch.argmax(logits, dim=1) == target).float())
        return logit_loss + shift_loss, logit_loss, shift_loss, accuracy

    def __call__(self) -> None:
        self.g.zero_grad()
        self.deformator.zero_grad()
        self.reconstructor.zero_grad()
        z = torch.randn(self.batch, self.latent_dim, device=self.device)
        target, shifts, basis = self.make_shifts()
        loss, logit_loss, shift_loss, accuracy = self.losses(z, target, shifts, basis)
        loss.backward()
        if self.opt_a is not None:
            self.opt_a.step()
        self.opt_r.step()
        values = (loss.detach().item(), logit_loss.detach().item(), float(shift_loss.detach()),
                  float(accuracy))  # four host syncs
        self.sums = [a + b for a, b in zip(self.sums, values)]
        self.step_count += 1
        if self.step_count % 10 == 0:
            self.log.write(f"[step {self.step_count}] " + " | ".join(f"{v / 10:.2f}" for v in self.sums) + "\n")
            self.sums = [0.0, 0.0, 0.0, 0.0]

    def bank(self) -> DirectionBank:
        return DirectionBank(self.deformator.directions().detach().cpu(), source="discovery")


@torch.no_grad()
def reference_extras_seconds(loop: ReferenceStyleLoop) -> float:
    """What the reference adds every 1000 steps besides its checkpoint: validation on 100 batches (two G calls
    each) and interpolation charts, ~210 batch-1 generator calls (15 directions x 7 shifts x 2 latents; the
    matplotlib drawing at dpi 500 is left out, which favours the reference)."""
    start = time.perf_counter()
    for _ in range(100):
        z = torch.randn(loop.batch, loop.latent_dim, device=loop.device)
        target, shifts, basis = loop.make_shifts()
        loop.reconstructor(torch.cat([loop.g(z), loop.g(z + basis @ loop.deformator.directions())], 1))
    for _ in range(210):
        loop.g(torch.randn(1, loop.latent_dim, device=loop.device))
    return time.perf_counter() - start


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def interleaved(sides: dict[str, object], rounds: int, steps: int, device: torch.device) -> dict[str, list[float]]:
    """steps/s of each side per round; the sides alternate within every round (order rotated each round)."""
    names = list(sides)
    for name in names:  # warm-up
        for _ in range(3):
            sides[name]()
    rates: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            sync(device)
            start = time.perf_counter()
            for _ in range(steps):
                sides[name]()
            sync(device)
            rates[name].append(steps / (time.perf_counter() - start))
    return rates


def ratio(rates: dict[str, list[float]], ours: str, ref: str) -> tuple[float, float, float]:
    """Median, min and max over rounds of the per-round ratio ours / ref."""
    per_round = [a / b for a, b in zip(rates[ours], rates[ref])]
    return statistics.median(per_round), min(per_round), max(per_round)


def generator_work(trainer: DiscoveryTrainer, loop: ReferenceStyleLoop) -> dict[str, object]:
    """Only the generator's share of one step on each side, to show the ceiling of the whole-step ratio: the
    reference-style step runs G twice with autograd and G's weights unfrozen (backward through both calls,
    weight gradients included); ours renders the base half without autograd and backpropagates to the latent
    only, through its private training copy."""
    batch, d, dev = loop.batch, loop.latent_dim, loop.device

    def ref() -> None:
        z = torch.randn(batch, d, device=dev)
        shift = torch.randn(batch, d, device=dev, requires_grad=True)
        (loop.g(z).sum() + loop.g(z + shift).sum()).backward()
        loop.g.zero_grad()

    def ours() -> None:  # base images: one per trainer.shifts_per_latent pairs
        z = torch.randn(-(-batch // trainer.shifts_per_latent), d, device=dev)
        shift = torch.randn(batch, d, device=dev, requires_grad=True)
        with torch.no_grad():
            trainer._g(z)
        trainer._g(z.repeat_interleave(trainer.shifts_per_latent, dim=0)[:batch] + shift).sum().backward()

    return {"ref": ref, "ours": ours}


def our_step(trainer: DiscoveryTrainer):
    sums = torch.zeros(4, device=trainer.device)
    return lambda: trainer._train_step(sums)


def same_r_pair(g, k: int, seed: int = 0, **options) -> tuple[DiscoveryTrainer, ReferenceStyleLoop]:
    """Ours and the reference-style loop starting from the same A and the same R weights."""
    trainer = DiscoveryTrainer(g, k=k, seed=seed, reconstructor="lenet", **options)
    loop = ReferenceStyleLoop(g, copy.deepcopy(trainer.deformator), copy.deepcopy(trainer.reconstructor), k,
                              lr=trainer.lr)
    return trainer, loop


def load_line() -> str:
    try:
        one, five, _ = os.getloadavg()
        return f"load average {one:.1f} (1 min) / {five:.1f} (5 min) on {os.cpu_count()} CPUs"
    except OSError:
        return "load average unknown"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="mnist")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--k", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20, help="steps per side per round")
    parser.add_argument("--rca-target", type=float, default=0.5)
    parser.add_argument("--rca-lr", type=float, default=1e-3)
    parser.add_argument("--rca-chunk", type=int, default=125)
    parser.add_argument("--rca-max-steps", type=int, default=6000)
    parser.add_argument("--skip-rca", action="store_true")
    parser.add_argument("--skip-compile", action="store_true")
    parser.add_argument("--quick", action="store_true", help="2 rounds of 5 steps, no RCA, no compile")
    parser.add_argument("--nproc-per-node", type=int, default=None,
                        help="instead: scaling over 1..N processes (benchmarks/discovery_scaling.py)")
    args = parser.parse_args()
    if args.nproc_per_node:
        import discovery_scaling

        discovery_scaling.main(["--model", args.model, "--device", args.device, "-k", str(args.k),
                                "--nproc", ",".join(str(n) for n in range(1, args.nproc_per_node + 1)),
                                "--rounds", str(args.rounds)])
        return
    if args.quick:
        args.rounds, args.steps, args.skip_rca, args.skip_compile = 2, 5, True, True
    g = load_generator(args.model, device=args.device)
    dev = g.device
    card = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"{args.model} on {dev.type} ({card}), batch 32, K={args.k}, ortho A, torch {torch.__version__}")
    print(f"conditions: {load_line()} at start; sides alternate within each of {args.rounds} rounds of "
          f"{args.steps} steps; ratios are medians of per-round ratios [min-max]")

    # 1. same G, same R (the reference's LeNet), same A
    trainer, loop = same_r_pair(g, args.k)
    rates = interleaved({"ref": loop, "ours": our_step(trainer)}, args.rounds, args.steps, dev)
    med, lo, hi = ratio(rates, "ours", "ref")
    extras = reference_extras_seconds(loop)
    ref_rate = statistics.median(rates["ref"])
    ref_loop = 1 / (1 / ref_rate + extras / 1000)
    print("\n1. same R (reference LeNet, 75k params), same A")
    print(f"   reference-style step {ref_rate:7.2f} steps/s   (with its per-1000-step validation and charts "
          f"amortised: {ref_loop:.2f})")
    print(f"   ganexplorer step     {statistics.median(rates['ours']):7.2f} steps/s   x{med:.2f} [{lo:.2f}-{hi:.2f}]"
          f"   (x{statistics.median(rates['ours']) / ref_loop:.2f} against the reference loop with extras)")
    work = interleaved(generator_work(trainer, loop), args.rounds, args.steps, dev)
    med, lo, hi = ratio(work, "ours", "ref")
    print(f"   G's work alone: reference-style {1000 / statistics.median(work['ref']):.1f} ms, ours "
          f"{1000 / statistics.median(work['ours']):.1f} ms per step: x{med:.2f} [{lo:.2f}-{hi:.2f}], the ceiling of "
          "the step ratio while R, A and Adam cost the same on both sides")

    # 2. each side with its own default R
    ours = DiscoveryTrainer(g, k=args.k, seed=0)
    channels, height, width = g.image_shape
    ref_own = ReferenceStyleLoop(g, ReferenceOrtho(args.k, g.latent_dim).to(dev),
                                 make_reconstructor("resnet", channels, max(height, width), args.k).to(dev), args.k)
    ref_lenet = ReferenceStyleLoop(g, ReferenceOrtho(args.k, g.latent_dim).to(dev),
                                   make_reconstructor("lenet", channels, max(height, width), args.k).to(dev), args.k)
    rates = interleaved({"ref-resnet": ref_own, "ref-lenet": ref_lenet, "ours": our_step(ours)},
                        max(2, args.rounds // 2), max(5, args.steps // 2), dev)
    print("\n2. own R: ours (default: LeNet) vs the reference with its command-line default R (ResNet-18) and with "
          "its MNIST LeNet, each with its own ortho deformator")
    for name in ("ref-resnet", "ref-lenet"):
        med, lo, hi = ratio(rates, "ours", name)
        print(f"   ours {statistics.median(rates['ours']):6.2f} vs {name} {statistics.median(rates[name]):6.2f} "
              f"steps/s   x{med:.2f} [{lo:.2f}-{hi:.2f}]")

    # 3. levers, each measured against the reference-style step in the same rounds (same R and A)
    print("\n3. speed levers (same R and A; ratio against the reference-style step of the same rounds)")
    variants: dict[str, object] = {"ref": loop}
    plain, _ = same_r_pair(g, args.k, channels_last=False, shifts_per_latent=1)
    plain._g, plain._base_without_grad = g.module, False  # the caller's G as it is, one call with autograd
    variants["one G call, both halves with autograd"] = our_step(plain)
    unfolded, _ = same_r_pair(g, args.k, channels_last=False, shifts_per_latent=1)
    unfolded._g = g.module
    variants["base half without autograd"] = our_step(unfolded)
    variants["+ batch norms folded (private G copy)"] = our_step(
        same_r_pair(g, args.k, channels_last=False, shifts_per_latent=1)[0])
    variants["+ channels-last G copy"] = our_step(same_r_pair(g, args.k, shifts_per_latent=1)[0])
    variants["+ 2 shifts per base image"] = our_step(same_r_pair(g, args.k, shifts_per_latent=2)[0])
    variants["+ 4 shifts per base image (default)"] = our_step(same_r_pair(g, args.k)[0])
    if dev.type == "cpu":  # bf16 autocast: the default on CUDA; on a CPU it pays only with native bf16 (AVX512-BF16)
        variants["+ bf16 autocast (amp=True, opt-in on CPU)"] = our_step(same_r_pair(g, args.k, amp=True)[0])
    fixed = DiscoveryTrainer(g, k=args.k, deformator="random", seed=0, reconstructor="lenet")
    variants["fixed A (random baseline)"] = our_step(fixed)
    if not args.skip_compile:
        compiled, _ = same_r_pair(g, args.k, compile=True)
        step = our_step(compiled)
        start = time.perf_counter()
        try:
            step()
            variants["+ torch.compile"] = step
            print(f"   torch.compile cold start: {time.perf_counter() - start:.1f} s")
        except Exception as exc:  # no C++ compiler, unsupported op, ...
            print(f"   torch.compile unavailable here: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}")
    rates = interleaved(variants, args.rounds, args.steps, dev)
    for name in list(variants)[1:]:
        med, lo, hi = ratio(rates, name, "ref")
        print(f"   {name:42s} {statistics.median(rates[name]):7.2f} steps/s   x{med:.2f} [{lo:.2f}-{hi:.2f}]")
    if dev.type == "cpu":
        threads = torch.get_num_threads()
        rows = {}
        for n in sorted({1, threads}):
            torch.set_num_threads(n)
            trainer, loop = same_r_pair(g, args.k)
            rows[n] = interleaved({"ref": loop, "ours": our_step(trainer)}, 2, args.steps, dev)
        torch.set_num_threads(threads)
        for n, r in rows.items():
            med, lo, hi = ratio(r, "ours", "ref")
            print(f"   {n} thread(s): ours {statistics.median(r['ours']):6.2f}, reference-style "
                  f"{statistics.median(r['ref']):6.2f} steps/s   x{med:.2f}")
    if args.skip_rca:
        return

    # 4. time to RCA: same R, same A, same hyperparameters; the sides alternate chunk by chunk
    print(f"\n4. time to RCA >= {args.rca_target} on 1024 fresh pairs (K={args.k}, lr {args.rca_lr} on both sides, "
          f"same R and A at the start; training time only, RCA checks every {args.rca_chunk} steps not counted)")
    trainer, loop = same_r_pair(g, args.k, lr=args.rca_lr)
    sums = torch.zeros(4, device=dev)
    state = {"ours": [0.0, 0, None], "ref": [0.0, 0, None]}  # seconds, steps, reached at
    while any(s[2] is None and s[1] < args.rca_max_steps for s in state.values()):
        for name in ("ours", "ref"):
            s = state[name]
            if s[2] is not None or s[1] >= args.rca_max_steps:
                continue
            sync(dev)
            start = time.perf_counter()
            for _ in range(args.rca_chunk):
                trainer._train_step(sums) if name == "ours" else loop()
            sync(dev)
            s[0] += time.perf_counter() - start
            s[1] += args.rca_chunk
            if name == "ours":
                trainer.step += args.rca_chunk
                acc = rca(g, trainer._bank(trainer.deformator.directions().detach(), True), trainer, n=1024,
                          seed=7, progress=False)["accuracy"]
                trainer.reconstructor.train()
            else:
                loop.reconstructor.eval()
                acc = rca(g, loop.bank(), loop.reconstructor, n=1024, seed=7, progress=False)["accuracy"]
                loop.reconstructor.train()
            print(f"   {name:4s} step {s[1]:5d}  {s[0]:7.1f} s  RCA {acc:.3f}", flush=True)
            if acc >= args.rca_target:
                s[2] = s[0]
    for name, s in state.items():
        print(f"   {name}: " + (f"RCA >= {args.rca_target} after {s[1]} steps, {s[0]:.0f} s of training"
                                if s[2] is not None else f"not reached in {s[1]} steps ({s[0]:.0f} s)"))
    if state["ours"][2] is not None and state["ref"][2] is not None:
        ref_with_extras = state["ref"][0] + extras * state["ref"][1] / 1000
        print(f"   time-to-RCA speed-up x{state['ref'][0] / state['ours'][0]:.2f} "
              f"(x{ref_with_extras / state['ours'][0]:.2f} with the reference's per-1000-step extras)")
    print(f"conditions at the end: {load_line()}")


if __name__ == "__main__":
    main()
