"""Discovery as the paper and its reference implementation describe it: reconstructors, deformators, the
benchmark's reference-style loop, input checks, memory, progress and honest results."""

import ast
import importlib.util
import math
import sys
import warnings
from pathlib import Path

import pytest
import torch
from conftest import TinyGenerator
from torch import nn

from ganexplorer import DiscoveryTrainer, Generator, discover, rca
from ganexplorer.directions.discovery import Deformator, format_table, make_reconstructor, rca_comparison, summarize
from ganexplorer.directions.discovery.reconstructors import (
    LeNetReconstructor,
    ResNetReconstructor,
    WideConvReconstructor,
)
from ganexplorer.directions.discovery.sampling import sample_shifts
from ganexplorer.directions.discovery.trainer import training_copy

ROOT = Path(__file__).resolve().parents[1]


def _params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _multiply_adds(module: nn.Module, x: torch.Tensor) -> int:
    total = [0]

    def hook(mod, inputs, out):
        if isinstance(mod, nn.Conv2d):
            total[0] += out.numel() // out.shape[0] * mod.in_channels // mod.groups * math.prod(mod.kernel_size)
        elif isinstance(mod, nn.Linear):
            total[0] += mod.in_features * mod.out_features

    handles = [m.register_forward_hook(hook) for m in module.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    module.eval()(x)
    for h in handles:
        h.remove()
    return total[0]


def _benchmark():
    spec = importlib.util.spec_from_file_location("bench_discovery", ROOT / "benchmarks" / "discovery.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_discovery"] = module
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------ reconstructors
def test_lenet_is_the_reference_mnist_reconstructor():
    """Width 2: 5x5 convs with 6 and 16 channels and max-pooling, a 120-unit layer (5x5 conv on the 5x5 map),
    heads with batch norm and 84 hidden units; ~75k parameters and ~0.55M multiply-adds per pair at K = 32."""
    r = make_reconstructor("auto", channels=1, resolution=32, k=32)
    assert isinstance(r, LeNetReconstructor)
    convs = [m for m in r.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [(2, 6, (5, 5)), (6, 16, (5, 5)),
                                                                                (16, 120, (5, 5))]
    assert sum(isinstance(m, nn.MaxPool2d) for m in r.modules()) == 2
    for head, out in ((r.logits, 32), (r.shift, 1)):
        assert [type(m).__name__ for m in head] == ["Linear", "BatchNorm1d", "ReLU", "Linear"]
        assert (head[0].in_features, head[0].out_features, head[3].out_features) == (120, 84, out)
    # parameters, layer by layer from the description (weights + biases + batch-norm scale and shift)
    expected = (2 * 6 * 25 + 6 + 12) + (6 * 16 * 25 + 16 + 32) + (16 * 120 * 25 + 120 + 240) \
        + (120 * 84 + 84 + 168 + 84 * 32 + 32) + (120 * 84 + 84 + 168 + 84 + 1)
    assert _params(r) == expected == 74_595
    macs = _multiply_adds(r, torch.zeros(2, 2, 32, 32))
    assert 0.5e6 < macs < 0.6e6, macs
    logits, shift = r.train()(torch.randn(5, 2, 32, 32))
    assert logits.shape == (5, 32) and shift.shape == (5,)
    # 3-channel images: 6-channel input; larger images still work (the last map is averaged)
    assert make_reconstructor("lenet", 3, 64, 8)(torch.randn(2, 6, 64, 64))[0].shape == (2, 8)


def test_resnet18_for_large_images_and_the_wide_net_under_its_own_name():
    r = make_reconstructor("auto", channels=3, resolution=128, k=32)
    assert isinstance(r, ResNetReconstructor)
    # torchvision's resnet18 has 11,689,512 parameters: minus its 1000-class fc and 3-channel stem, plus a
    # 6-channel stem and the two heads (K logits, 1 shift) on its 512 pooled features
    assert _params(r) == 11_689_512 - (512 * 1000 + 1000) - 3 * 64 * 49 + 6 * 64 * 49 + (512 * 32 + 32) + 513
    assert r(torch.randn(2, 6, 96, 96))[0].shape == (2, 32)
    wide = make_reconstructor("wide", 1, 32, 32)
    assert isinstance(wide, WideConvReconstructor) and _params(wide) > 7 * _params(make_reconstructor("lenet", 1,
                                                                                                        32, 32))
    assert isinstance(make_reconstructor("auto", 3, 16, 4), WideConvReconstructor)  # LeNet needs >= 32 px
    with pytest.raises(ValueError, match="at least 32 px"):
        make_reconstructor("lenet", 3, 16, 4)


# -------------------------------------------------------------------- deformators
def test_proj_deformator_follows_the_reference():
    torch.manual_seed(0)
    a = Deformator(64, 32, "proj", seed=0)
    assert a.linear.bias is not None and a.linear.bias.shape == (64,)
    assert abs(a.linear.weight.std().item() - 0.1) < 0.01  # 0.1 N(0, 1)
    index, eps = torch.randint(32, (100,)), torch.linspace(-6, 6, 100)
    shift = a(index, eps)
    assert torch.allclose(shift.norm(dim=1), eps.abs(), atol=1e-5)  # rescaled to norm |eps|
    w, b = a.linear.weight.T[index], a.linear.bias
    expected = (eps[:, None] * w + b) / (eps[:, None] * w + b).norm(dim=1, keepdim=True) * eps.abs()[:, None]
    assert torch.allclose(shift, expected, atol=1e-5)
    assert torch.allclose(a.directions().norm(dim=1), torch.ones(32), atol=1e-5)
    # ours: the same norm rule without the bias, so -eps mirrors +eps
    u = Deformator(64, 32, "unit-norm", seed=0)
    assert torch.allclose(u(index, eps), -u(index, -eps)) and not torch.allclose(shift, -a(index, -eps))


def test_proj_trains_and_rca_uses_its_shifts(tiny):
    trainer = DiscoveryTrainer(tiny, k=4, deformator="proj", lr=1e-2, seed=0)
    bank = trainer.run(10, log_every=5, score_samples=1, progress=False)
    assert torch.allclose(bank.directions.norm(dim=1), torch.ones(4), atol=1e-5)
    exact = rca(tiny, bank, trainer, n=64, deformator=trainer.deformator)
    assert 0 <= exact["accuracy"] <= 1 and exact["chance"] == 0.25


# ------------------------------------------------------------- benchmark fairness
def test_reference_style_loop_computes_our_loss_on_the_same_batch(mnist):
    """Same G, A, R and batch: the benchmark's reference-style loss (two G calls, one-hot loop, one-hot @ A)
    equals ours (one no-grad base call for 8 base images, one shifted call, a gather), and so do the gradients
    for A and R: the reference-style loop gets each of our 8 base latents repeated for its 4 pairs."""
    bench = _benchmark()
    trainer, loop = bench.same_r_pair(mnist, 16, seed=3)
    torch.manual_seed(1)
    z, index, eps = trainer.sample_batch(32)
    assert len(z) == 8
    ours = trainer.batch_loss(z, index, eps)
    theirs = loop.losses(z.repeat_interleave(4, dim=0), index, eps, loop.one_hot(index, eps))
    assert torch.allclose(ours[0], theirs[0], atol=1e-5), (ours[0], theirs[0])
    assert torch.allclose(ours[1], theirs[1], atol=1e-5)
    assert torch.allclose(ours[2] * trainer.shift_weight, theirs[2], atol=1e-5)
    assert ours[3] == theirs[3]
    ours[0].backward()
    theirs[0].backward()
    for mine, ref in ((trainer.reconstructor, loop.reconstructor), (trainer.deformator, loop.deformator)):
        for p, q in zip(mine.parameters(), ref.parameters()):
            assert torch.allclose(p.grad, q.grad, atol=1e-5, rtol=1e-3)
    assert any(p.grad is not None for p in loop.g.parameters())  # the reference leaves G unfrozen
    assert all(p.grad is None for p in mnist.module.parameters())  # ours never computes G's gradients


def test_reference_style_loop_does_what_the_reference_does(mnist):
    bench = _benchmark()
    _, loop = bench.same_r_pair(mnist, 8)
    calls = []
    loop.g.register_forward_hook(lambda m, i, o: calls.append((len(o), torch.is_grad_enabled())))
    loop()
    assert calls == [(32, True), (32, True)]  # two separate generator calls, both with autograd
    assert loop.opt_a is not None and loop.opt_a is not loop.opt_r  # two optimisers


# ---------------------------------------------------------------- speed levers
def test_base_half_without_autograd_and_shared_base_images(tiny):
    seen = []
    trainer = DiscoveryTrainer(tiny, k=4, seed=0, shifts_per_latent=4)
    trainer._g.register_forward_hook(lambda m, i, o: seen.append((len(o), o.requires_grad)))
    trainer.run(2, log_every=1, score_samples=1, progress=False)
    assert seen[:4] == [(8, False), (32, True)] * 2  # 8 base images without autograd, 32 shifted with
    fixed = DiscoveryTrainer(tiny, k=4, deformator="random", seed=0, shifts_per_latent=1)
    seen.clear()
    fixed._g.register_forward_hook(lambda m, i, o: seen.append((len(o), o.requires_grad)))
    fixed.run(2, log_every=1, score_samples=1, progress=False)
    assert seen[:2] == [(64, False)] * 2  # fixed A: one batched call for both halves, no autograd
    z, index, eps = trainer.sample_batch(32)
    assert len(z) == 8 and len(index) == len(eps) == 32


def test_four_shifts_per_base_image_by_default_capped_by_the_batch(tiny):
    z, index, eps = DiscoveryTrainer(tiny, k=4, seed=0).sample_batch(32)
    assert len(z) == 8 and len(index) == len(eps) == 32
    small = DiscoveryTrainer(tiny, k=4, seed=0, batch_size=2)
    assert small.shifts_per_latent == 2 and len(small.sample_batch(2)[0]) == 1
    assert DiscoveryTrainer(tiny, k=4, seed=0, shifts_per_latent=1).sample_batch(32)[0].shape == (32, 8)


def test_training_copy_folds_batch_norms_and_renders_the_same_images(mnist):
    copy = training_copy(mnist.module)
    convs = [m for m in copy.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    body = list(copy.body)
    assert not any(isinstance(a, (nn.Conv2d, nn.ConvTranspose2d)) and isinstance(b, nn.BatchNorm2d)
                   for a, b in zip(body, body[1:]))  # every conv + batch norm pair became one layer
    assert len(convs) == 3 and all(c.bias is not None for c in convs)
    z = torch.randn(16, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = mnist.module(z)
        assert (copy(z) - expected).abs().max() < 1e-5
        assert (training_copy(mnist.module, channels_last=False)(z) - expected).abs().max() < 1e-5
    assert not any(p.requires_grad for p in copy.parameters())
    live = training_copy(mnist.module.train())  # batch statistics: nothing may be folded
    mnist.module.eval()
    assert sum(isinstance(m, nn.BatchNorm2d) for m in live.modules()) == 3


def test_refresh_batch_norm_gives_the_statistics_of_the_current_reconstructor(mnist):
    trainer = DiscoveryTrainer(mnist, k=8, seed=0)
    conv, norm = trainer.reconstructor.features[0], trainer.reconstructor.features[1]
    norm.running_mean.fill_(100.0)  # stale statistics, as after a fast-moving R
    norm.running_var.fill_(1e-3)
    trainer.refresh_batch_norm(pairs=2048)
    with torch.no_grad():  # independent estimate: the first conv's output on other fresh pairs, by hand
        z, index, eps = trainer.sample_batch(1024)
        base = mnist.module(z).repeat_interleave(4, dim=0)
        shifted = mnist.module(z.repeat_interleave(4, dim=0) + trainer.deformator(index, eps))
        h = conv(torch.cat([base, shifted], dim=1))
    mean, var = h.mean((0, 2, 3)), h.var((0, 2, 3))
    assert torch.allclose(norm.running_mean, mean, atol=0.02 + 0.05 * mean.abs().max())
    assert torch.allclose(norm.running_var, var, rtol=0.1)
    assert trainer.reconstructor.training  # left as it was


def test_checkpoint_of_another_orthogonal_map_is_refused(tiny, tmp_path):
    trainer = DiscoveryTrainer(tiny, k=4, seed=0)
    trainer.run(2, checkpoint=tmp_path / "ck.pt", progress=False, score_samples=1)
    state = torch.load(tmp_path / "ck.pt", weights_only=True)
    del state["settings"]["orthogonal_map"]  # as written before the matrix-exponential map
    torch.save(state, tmp_path / "old.pt")
    with pytest.raises(ValueError, match="orthogonal_map"):
        DiscoveryTrainer(tiny, k=4, seed=0).run(1, checkpoint=tmp_path / "old.pt", progress=False)


def test_channels_last_copy_leaves_the_callers_generator_alone(mnist):
    before = {k: v.clone() for k, v in mnist.module.state_dict().items()}
    strides = [p.stride() for p in mnist.module.parameters()]
    trainer = DiscoveryTrainer(mnist, k=4, seed=0)
    assert trainer._g is not mnist.module
    assert [p.stride() for p in mnist.module.parameters()] == strides  # its memory layout untouched too
    assert all(torch.equal(v, mnist.module.state_dict()[k]) for k, v in before.items())
    z = torch.randn(4, 64)
    with torch.no_grad():
        assert torch.allclose(trainer._g(z), mnist.module(z), atol=1e-5)


def test_the_training_copy_is_channels_last_by_default():
    g = Generator(TinyGenerator(), device="cpu", channels_last=False)  # its conv weight (16, 3, 4, 4) as built
    assert not g.module.conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert DiscoveryTrainer(g, k=4, seed=0)._g.conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert not DiscoveryTrainer(g, k=4, seed=0, channels_last=False)._g.conv.weight.is_contiguous(
        memory_format=torch.channels_last)


def test_a_generator_above_the_copy_limit_is_trained_in_place():
    class Big(TinyGenerator):  # 20.2M parameters: a private copy would double the memory of a large generator
        def __init__(self):
            super().__init__()
            self.unused = nn.Linear(1000, 20_200)

    g = Generator(Big(), device="cpu", name="big")
    assert DiscoveryTrainer(g, k=4, seed=0)._g is g.module


def test_the_deformator_learns_at_its_own_rate_when_given_one(tiny):
    trainer = DiscoveryTrainer(tiny, k=4, lr=1e-4, deformator_lr=1e-2, reconstructor="wide", seed=0)
    rates = {id(p): group["lr"] for group in trainer.optimizer.param_groups for p in group["params"]}
    assert {rates[id(p)] for p in trainer.deformator.parameters()} == {1e-2}
    assert {rates[id(p)] for p in trainer.reconstructor.parameters()} == {1e-4}
    assert trainer.settings["reconstructor"] == "wide" and trainer.settings["deformator_lr"] == 1e-2
    default = DiscoveryTrainer(tiny, k=4, lr=3e-4, seed=0)
    assert {g["lr"] for g in default.optimizer.param_groups} == {3e-4}


# --------------------------------------------------------------- input checks
@pytest.mark.parametrize("option, value, allowed", [
    ("micro_batch", -1, ">= 1"), ("micro_batch", 0, ">= 1"), ("micro_batch", 2.5, "integer"),
    ("batch_size", 0, ">= 1"), ("batch_size", -3, ">= 1"),
    ("shift_scale", 1e30, "<= 1000"), ("shift_scale", float("inf"), "> 0"), ("shift_scale", float("nan"), "> 0"),
    ("shift_scale", 0.0, "> 0"), ("shift_scale", -1.0, "> 0"),
    ("lr", 0.0, "> 0"), ("lr", -1e-3, "> 0"), ("lr", float("nan"), "> 0"), ("lr", float("inf"), "> 0"),
    ("min_shift", 7.0, "<= 6"), ("shifts_per_latent", 0, ">= 1"), ("k", 0, ">= 1"), ("k", 2.5, "integer"),
    ("batch_size", 8.5, "integer"), ("shifts_per_latent", 1.5, "integer"), ("deformator_lr", 0.0, "> 0"),
])
def test_bad_trainer_values_are_refused_before_any_work(option, value, allowed):
    calls = []
    module = TinyGenerator()
    module.register_forward_hook(lambda *_: calls.append(1))
    g = Generator(module, device="cpu")
    with pytest.raises(ValueError) as info:
        DiscoveryTrainer(g, **{"k": 4, option: value})
    message = str(info.value)
    assert option in message and repr(value) in message and allowed in message, message
    assert calls == []  # nothing rendered


class _SmallMemory(TinyGenerator):
    """Runs out of CPU memory above ``limit`` images per call, with torch's CPU allocator message."""

    def __init__(self, limit):
        super().__init__()
        self.limit = limit

    def forward(self, z):
        if len(z) > self.limit:
            raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: not enough memory: "
                               "you tried to allocate 123456789 bytes.")
        return super().forward(z)


def test_cpu_out_of_memory_shrinks_the_micro_batch():
    g = Generator(_SmallMemory(8), device="cpu", name="small-memory")
    trainer = DiscoveryTrainer(g, k=4, batch_size=32, seed=0, channels_last=False)
    with pytest.warns(UserWarning, match="out of CPU memory: continuing with micro-batches of 8"):
        bank = trainer.run(3, log_every=1, score_samples=1, progress=False)
    assert trainer.micro_batch == 8 and bank.info["steps"] == 3 and bank.info["batch_size"] == 32
    hopeless = DiscoveryTrainer(Generator(_SmallMemory(1), device="cpu", name="tiny-memory"), k=4, seed=0,
                                channels_last=False)
    hopeless._g.limit = 0  # the training copy, after the size probe: not even one image fits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(MemoryError, match="not enough CPU memory .* even one pair at a time"):
            hopeless.run(2, progress=False)


# ----------------------------------------------------------- progress, honesty
def test_discover_shows_progress_by_default_and_run_stays_quiet_in_scripts(tiny, capsys):
    discover(tiny, k=4, steps=3, seed=0)
    assert "discover ortho (chance 0.250)" in capsys.readouterr().err
    DiscoveryTrainer(tiny, k=4, seed=0).run(3, score_samples=1)  # progress=None: not a terminal or notebook
    assert "discover" not in capsys.readouterr().err


def test_results_say_chance_and_not_converged(tiny):
    with pytest.warns(UserWarning, match=r"not converged: 40 steps is short, a real run at lr 0.001 is about 3,000"):
        bank = discover(tiny, k=4, steps=40, lr=1e-3, seed=0, progress=False)
    assert bank.info["chance"] == 0.25 and "not converged" in bank.info["note"]
    rows = rca_comparison(tiny, k=4, steps=20, deformators=("ortho", "random"), seeds=[0, 1], eval_every=10,
                          n_eval=64, n_curve=32, progress=False)
    assert [(r["deformator"], r["seed"]) for r in rows] == [("ortho", 0), ("random", 0), ("ortho", 1), ("random", 1)]
    assert all(r["chance"] == 0.25 and [c[0] for c in r["curve"]] == [10, 20] for r in rows)
    assert "chance" in format_table(rows) and "not converged" in format_table(rows)
    summary = summarize(rows)
    assert [s["seeds"] for s in summary] == [2, 2]
    values = [r["accuracy"] for r in rows if r["deformator"] == "ortho"]
    assert summary[0]["accuracy"] == pytest.approx(sum(values) / 2)
    assert summary[0]["accuracy_std"] == pytest.approx(abs(values[0] - values[1]) / math.sqrt(2))
    assert "±" in format_table(summary)


def test_rca_and_trainer_do_not_import_each_other():
    def imports(name):
        tree = ast.parse((ROOT / "ganexplorer" / "directions" / "discovery" / name).read_text())
        return {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}

    assert "trainer" not in imports("rca.py") and "comparison" not in imports("rca.py")
    assert "comparison" not in imports("trainer.py")


@pytest.mark.parametrize("scale, low", [(6.0, 0.5), (3.0, 1.0), (1.0, 0.0)])
def test_shifts_follow_the_reference_rule_on_the_same_draws(scale, low):
    """The reference's rule written with its boolean masks (eps = scale * (2u - 1); positive values below
    ``low`` raised to ``low``, negative values above -``low`` lowered to -``low``), on the same uniform draws."""
    n = 20_000
    eps = sample_shifts(n, scale, low, "cpu", torch.Generator().manual_seed(3))
    u = torch.rand(n, generator=torch.Generator().manual_seed(3))
    ref = scale * (2.0 * u - 1.0)
    ref[(ref < low) & (ref > 0)] = low
    ref[(ref > -low) & (ref < 0)] = -low
    assert torch.equal(eps, ref)
    assert (eps > 0).float().mean().item() == pytest.approx(0.5, abs=0.02) and eps.abs().max() <= scale


# ------------------------------------------------------- the table's plumbing
def test_comparison_measures_with_the_trainers_own_shift_rule(tiny, monkeypatch):
    """``proj`` maps (k, eps) through a biased linear layer and a norm rule, not eps times a bank row: every RCA of
    the table (the curve's and the final one) must use the trainer's deformator, as R was trained on those shifts."""
    from ganexplorer.directions.discovery import comparison

    calls = []

    def recording_rca(generator, bank, trainer, **kw):
        calls.append((kw["deformator"] is trainer.deformator, kw["n"], kw["seed"]))
        return rca(generator, bank, trainer, **kw)

    monkeypatch.setattr(comparison, "rca", recording_rca)
    rows = rca_comparison(tiny, k=4, steps=10, deformators=("proj",), eval_every=5, n_eval=32, n_curve=24,
                          keep_banks=True, progress=False, lr=1e-2)
    assert calls == [(True, 24, 10_000), (True, 24, 10_000), (True, 32, 1)]
    bank, trainer = rows[0]["bank"], rows[0]["bank"].trainer
    own = rca(tiny, bank, trainer, n=32, seed=1, deformator=trainer.deformator, progress=False)
    rows_only = rca(tiny, bank, trainer, n=32, seed=1, progress=False)
    assert (rows[0]["accuracy"], rows[0]["shift_error"]) == (own["accuracy"], own["shift_error"])
    assert rows[0]["train_seconds"] == round(trainer.train_seconds, 1)
    assert rows_only["shift_error"] != own["shift_error"]  # the two rules differ, so the checks above can fail


def test_comparison_shows_progress_when_asked(tiny, capsys):
    rca_comparison(tiny, k=4, steps=4, deformators=("random",), n_eval=16, progress=True)
    assert "discover random (chance 0.250)" in capsys.readouterr().err
    rca_comparison(tiny, k=4, steps=4, deformators=("random",), n_eval=16, progress=False)
    assert "discover" not in capsys.readouterr().err


def test_summary_is_the_mean_and_sample_std_over_seeds():
    import statistics

    rows = [{"deformator": d, "k": 8, "steps": 100, "chance": 0.125, "accuracy": a, "shift_error": e,
             "train_seconds": t} for d, a, e, t in [("ortho", 0.5, 1.0, 3.0), ("random", 0.2, 2.0, 1.0),
                                                     ("ortho", 0.7, 0.6, 5.0), ("ortho", 0.9, 0.2, 4.0)]]
    ortho, random = summarize(rows)
    assert (ortho["deformator"], ortho["seeds"], random["seeds"]) == ("ortho", 3, 1)
    assert (ortho["k"], ortho["steps"], ortho["chance"]) == (8, 100, 0.125)
    for key, values in [("accuracy", [0.5, 0.7, 0.9]), ("shift_error", [1.0, 0.6, 0.2]),
                        ("train_seconds", [3.0, 5.0, 4.0])]:
        assert ortho[key] == pytest.approx(statistics.mean(values))
        assert ortho[key + "_std"] == pytest.approx(statistics.stdev(values))
    assert random["accuracy"] == 0.2 and random["accuracy_std"] == 0.0  # one seed: no spread
    table = format_table([ortho, random]).splitlines()
    assert table[0].split() == ["directions", "K", "steps", "seeds", "RCA", "(mean", "±", "std)", "chance", "shift",
                                "err", "train", "s"]
    assert table[1].split() == ["ortho", "8", "100", "3", "0.700", "±", "0.200", "0.125", "0.60", "±", "0.40",
                                "4.0"]
    plain = format_table(rows[:2] + [{**rows[2], "note": "not converged"}]).splitlines()
    assert plain[0].split() == ["directions", "K", "steps", "RCA", "chance", "shift", "err", "train", "s"]
    assert plain[1].split() == ["ortho", "8", "100", "0.500", "0.125", "1.000", "3.0"]
    assert plain[-1] == "(not converged)"


def test_comparisons_of_zoo_generators_in_worker_processes_match_one_in_process(mnist):
    """Two tables in two spawned single-thread workers equal the same tables computed here with one thread, and
    banks come back without their trainer; ``processes=1`` leaves this process's thread setting alone."""
    from ganexplorer.directions.discovery import rca_comparisons

    kwargs = {"k": 4, "steps": 6, "deformators": ("random",), "n_eval": 32, "keep_banks": True}
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        here = rca_comparison(mnist, progress=False, **kwargs)
        torch.set_num_threads(3)
        serial = rca_comparisons(["mnist"], processes=1, progress=False, device="cpu", **kwargs)
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(threads)
    workers = rca_comparisons(["mnist", "mnist"], processes=2, device="cpu", **kwargs)
    assert list(workers) == ["mnist"] and list(serial) == ["mnist"]
    for rows in (workers["mnist"], serial["mnist"]):
        assert [r["seed"] for r in rows] == [0] and rows[0]["accuracy"] == here[0]["accuracy"]
        assert rows[0]["shift_error"] == pytest.approx(here[0]["shift_error"], rel=1e-4)  # threads reorder sums
        assert not hasattr(rows[0]["bank"], "trainer")
        assert torch.allclose(rows[0]["bank"].directions, here[0]["bank"].directions, atol=1e-5)


def test_comparison_split_by_row_gives_the_tables_rows_in_their_order():
    """On a GPU every row (deformator x seed) is its own job; the rows, and their order, are the tables'."""
    from ganexplorer.directions.discovery import rca_comparisons

    kwargs = {"k": 4, "steps": 4, "deformators": ("unit-norm", "random"), "seeds": [0, 1], "n_eval": 32,
              "device": "cpu", "processes": 2}
    rows, table = (rca_comparisons(["mnist"], by_row=by_row, **kwargs)["mnist"] for by_row in (True, False))
    assert [(r["deformator"], r["seed"]) for r in rows] == [("unit-norm", 0), ("random", 0), ("unit-norm", 1),
                                                            ("random", 1)]
    assert [(r["deformator"], r["seed"], r["accuracy"]) for r in rows] == \
        [(r["deformator"], r["seed"], r["accuracy"]) for r in table]
    assert [r["shift_error"] for r in rows] == pytest.approx([r["shift_error"] for r in table], rel=1e-5)


@pytest.mark.parametrize("exc, oom", [
    (torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), True),
    (MemoryError(), True),
    (RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: not enough memory: you tried to "
                  "allocate 123 bytes."), True),
    (RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 123 bytes"), True),
    (RuntimeError("MPS backend out of memory"), True),
    (RuntimeError("mat1 and mat2 shapes cannot be multiplied (4x3 and 4x5)"), False),
    (ValueError("not enough memory"), False),  # only the allocators' RuntimeError counts
])
def test_out_of_memory_is_told_apart_from_other_errors(exc, oom):
    from ganexplorer.directions.discovery.sampling import is_out_of_memory

    assert is_out_of_memory(exc) is oom


def test_progress_shows_in_notebooks_and_terminals_only(monkeypatch):
    import types

    from ganexplorer.directions.discovery.sampling import progress_default

    class Stream:
        def __init__(self, tty):
            self.tty = tty

        def isatty(self):
            return self.tty

    class ZMQInteractiveShell:  # the notebook kernel's shell class
        pass

    class TerminalInteractiveShell:
        pass

    assert progress_default(True) is True and progress_default(False) is False and progress_default(0) is False
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: None))
    monkeypatch.setattr(sys, "stderr", Stream(False))
    assert progress_default(None) is False  # a script with its output redirected
    monkeypatch.setattr(sys, "stderr", Stream(True))
    assert progress_default(None) is True  # a terminal
    monkeypatch.setattr(sys, "stderr", Stream(False))
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=ZMQInteractiveShell))
    assert progress_default(None) is True  # a notebook kernel, whose stderr is not a terminal
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=TerminalInteractiveShell))
    assert progress_default(None) is False
    monkeypatch.delitem(sys.modules, "IPython")
    assert progress_default(None) is False


def test_resnet_downsamples_like_resnet18():
    """7x7/2 stem and 3x3/2 max-pool (4x), then stride 2 at the first block of stages 2-4 (8x more): a 64 px pair
    ends as 2x2 maps of 512 channels before the global pooling."""
    r = ResNetReconstructor(channels=3, k=8).eval()
    seen = []
    blocks = [m for m in r.features if m.__class__.__name__ == "_Block"]
    handles = [b.register_forward_hook(lambda m, i, o: seen.append(tuple(o.shape[1:]))) for b in blocks]
    r(torch.randn(1, 6, 64, 64))
    for h in handles:
        h.remove()
    assert seen == [(64, 16, 16)] * 2 + [(128, 8, 8)] * 2 + [(256, 4, 4)] * 2 + [(512, 2, 2)] * 2


def test_a_checkpoint_without_settings_is_refused_and_missing_time_reads_zero(tiny, tmp_path):
    ckpt = tmp_path / "run.ckpt"
    DiscoveryTrainer(tiny, k=4, seed=0).run(4, checkpoint=ckpt, log_every=2, score_samples=1, progress=False)
    state = torch.load(ckpt, weights_only=True)
    del state["train_seconds"]  # written by versions before the timer
    torch.save(state, ckpt)
    resumed = DiscoveryTrainer(tiny, k=4, seed=0)
    resumed.load_checkpoint(ckpt)
    assert resumed.step == 4 and resumed.train_seconds == 0.0
    del state["settings"]
    torch.save(state, ckpt)
    with pytest.raises(ValueError, match="was made with settings {}"):
        DiscoveryTrainer(tiny, k=4, seed=0).load_checkpoint(ckpt)


@pytest.mark.parametrize("micro_batch", [None, 8])
def test_logged_metrics_are_the_batch_means_of_the_loss_terms(tiny, micro_batch):
    """Each logged step is the mean over its window of CE + shift_weight * |eps_hat - eps| over the whole batch,
    however many micro-batches it took: at the start, CE is near ln K and accuracy a share in [0, 1]."""
    options = {} if micro_batch is None else {"micro_batch": micro_batch}
    trainer = DiscoveryTrainer(tiny, k=4, batch_size=32, shift_weight=0.25, lr=1e-6, seed=0, **options)
    trainer.run(4, log_every=2, score_samples=1, progress=False)
    assert [h["step"] for h in trainer.history] == [2, 4]
    for h in trainer.history:
        assert h["loss"] == pytest.approx(h["ce"] + 0.25 * h["shift_error"], rel=1e-5)
        assert abs(h["ce"] - math.log(4)) < 0.5 and 0 <= h["accuracy"] <= 1 and 0 < h["shift_error"] < 6


def test_converged_hint_follows_the_measured_budgets_and_a_climbing_tail():
    from ganexplorer.directions.discovery.trainer import converged_hint

    flat = [{"accuracy": 0.8}] * 8
    assert converged_hint(3000, 1e-3, flat) is None and converged_hint(100_000, 1e-4, flat) is None
    assert "2999 steps is short, a real run at lr 0.001 is about 3,000 steps" in converged_hint(2999, 1e-3, flat)
    assert "about 100,000 steps" in converged_hint(99_999, 1e-4, flat)
    assert "about 100,000 steps" in converged_hint(10, 2e-4, flat)  # the nearest measured lr on a log scale
    assert "about 3,000 steps" in converged_hint(10, 5e-4, flat)
    assert "about 300 steps" in converged_hint(10, 1e-2, flat) and converged_hint(300, 1e-2, flat) is None
    climbing = flat[:6] + [{"accuracy": 0.80}, {"accuracy": 0.83}]  # the last quarter still rises
    assert converged_hint(5000, 1e-3, climbing).startswith("not converged: accuracy still climbing")
    assert converged_hint(2000, 1e-3, climbing).startswith("not converged: 2000 steps is short")
    assert converged_hint(5000, 1e-3, flat[:6] + [{"accuracy": 0.80}, {"accuracy": 0.81}]) is None
    assert converged_hint(5000, 1e-3, climbing[-3:]) is None  # too short a history to judge a trend


@pytest.mark.parametrize("log_every", [0, -1, 2.0, "5"])
def test_log_interval_must_be_a_positive_integer(tiny, log_every):
    with pytest.raises(ValueError, match="log_every must be a positive integer"):
        DiscoveryTrainer(tiny, k=4, seed=0).run(2, log_every=log_every, progress=False)


def test_rendering_the_base_half_without_autograd_keeps_the_loss_and_the_gradient_on_a(tiny):
    """The lever only skips work: the benchmark's plain path (both halves in one call with autograd) gives the same
    loss and the same gradient on A on the same batch."""
    trainer = DiscoveryTrainer(tiny, k=4, seed=0, channels_last=False)
    batch = trainer.sample_batch(16)
    results = []
    for without_grad in (True, False):
        trainer._base_without_grad = without_grad
        trainer.optimizer.zero_grad(set_to_none=True)
        loss = trainer.batch_loss(*batch)[0]
        loss.backward()
        results.append((loss.detach(), [p.grad.clone() for p in trainer.deformator.parameters()]))
    (loss_a, grad_a), (loss_b, grad_b) = results
    assert torch.allclose(loss_a, loss_b, atol=1e-6) and all(torch.allclose(a, b, atol=1e-6) for a, b in
                                                              zip(grad_a, grad_b, strict=True))
    assert any(g.abs().sum() > 0 for g in grad_a)
