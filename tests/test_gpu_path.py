"""The GPU path, checked on a CPU where a CPU can check it, and on CUDA where it is present (tests marked ``cuda``
run only there; ``make gpu-check`` runs them with the GPU benchmarks):

- the capture-safe orthogonal map equals torch's matrix exponential (values and gradients, float64 truth);
- SeFa and PCA directions have one sign whatever the eigen-solver returns;
- everything broadcast at the distributed start is sent contiguous (NCCL refuses anything else);
- more local processes than GPUs are refused with the count and the fix;
- the whole-step graph's bookkeeping (warm-up, one capture, replays, re-capture after a checkpoint load or a smaller
  micro-batch) and its eager fallback.
"""

from __future__ import annotations

import copy
import os
import socket
import warnings

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils import parametrizations

from ganexplorer import DiscoveryTrainer, Generator, pca, sefa
from ganexplorer.directions.discovery import distributed as gxd
from ganexplorer.directions.discovery import graphs
from ganexplorer.directions.discovery.deformators import Deformator, expm_fixed, random_orthonormal
from ganexplorer.directions.sefa import canonical_sign, factorize


def cuda(test):
    """Marked ``cuda`` (``pytest -m cuda`` selects them) and skipped where torch sees no GPU."""
    return pytest.mark.cuda(pytest.mark.skipif(not torch.cuda.is_available(),
                                               reason="needs a CUDA GPU (make gpu-check runs these)")(test))


# ----------------------------------------------------------------------------------- capture-safe ortho map
@pytest.mark.parametrize("scale", [1e-3, 0.3, 3.0, 40.0])
def test_fixed_schedule_exponential_matches_the_float64_matrix_exponential(scale):
    """Values and gradients to 1e-6 (relative to the result's size) of torch.linalg.matrix_exp in float64, for skew
    matrices from near zero to norms that need many squarings."""
    torch.manual_seed(0)
    x = torch.randn(24, 24) * scale / 5
    a = (x - x.T).requires_grad_(True)
    a64 = a.detach().double().requires_grad_(True)
    ours, truth = expm_fixed(a), torch.linalg.matrix_exp(a64)
    assert ours.dtype == torch.float32
    torch.testing.assert_close(ours.double(), truth.detach(), rtol=0, atol=1e-6)
    weights = torch.randn(24, 24)
    (ours * weights).sum().backward()
    (truth * weights.double()).sum().backward()
    scale_grad = a64.grad.abs().max().item()
    torch.testing.assert_close(a.grad.double(), a64.grad, rtol=0, atol=1e-6 * max(1.0, scale_grad))


@pytest.mark.parametrize("d, k", [(16, 16), (16, 5)])
def test_capture_safe_ortho_deformator_is_torchs_parametrization_with_another_exponential(d, k):
    """Same state-dict keys and initial directions as torch's parametrizations.orthogonal(matrix_exp) (old
    checkpoints load), and after moving the parameter, the same directions and gradients with either exponential."""
    torch.manual_seed(3)
    ours = Deformator(d, k, "ortho", seed=1)
    torch.manual_seed(3)
    plain = nn.Linear(k, d, bias=False)
    parametrizations.orthogonal(plain, "weight", orthogonal_map="matrix_exp")
    plain.weight = random_orthonormal(d, k, 1).T
    assert set(ours.linear.state_dict()) == set(plain.state_dict())
    torch.testing.assert_close(ours.linear.weight, plain.weight, rtol=0, atol=0)
    with torch.no_grad():
        ours.linear.parametrizations.weight.original.normal_(0, 0.4)
    index, eps = torch.arange(k).repeat(3), torch.linspace(-6, 6, 3 * k)
    truth = copy.deepcopy(ours).double()  # torch's matrix_exp in float64: the reference for both float32 maps
    results = []
    for module, capture_safe in ((truth, False), (ours, False), (ours, True)):
        module.capture_safe(capture_safe)
        module.zero_grad()
        out = module(index, eps.to(module.linear.parametrizations.weight.original.dtype))
        (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()  # |out| alone is constant
        results.append((module.directions().detach().double(),
                        module.linear.parametrizations.weight.original.grad.double()))
    (dirs_t, grad_t), (dirs0, grad0), (dirs1, grad1) = results
    torch.testing.assert_close(dirs1, dirs_t, rtol=0, atol=1e-6)
    torch.testing.assert_close(dirs0, dirs_t, rtol=0, atol=1e-5)
    scale = grad_t.abs().max().item()
    torch.testing.assert_close(grad1, grad_t, rtol=0, atol=1e-6 * scale)
    torch.testing.assert_close(grad1, grad0, rtol=0, atol=1e-5 * scale)  # float32 matrix_exp's own rounding
    torch.testing.assert_close(dirs1 @ dirs1.T, torch.eye(k, dtype=torch.float64), rtol=0, atol=1e-5)


# ------------------------------------------------------------------------------------------ canonical signs
def test_canonical_sign_makes_each_rows_largest_component_positive():
    rows = torch.tensor([[0.1, -0.9, 0.3], [0.5, 0.2, -0.1], [-0.6, 0.6, 0.0]])
    out = canonical_sign(rows)
    torch.testing.assert_close(out, torch.tensor([[-0.1, 0.9, -0.3], [0.5, 0.2, -0.1], [0.6, -0.6, 0.0]]))
    torch.testing.assert_close(canonical_sign(-rows), out)


def test_sefa_gives_one_bank_whatever_the_eigen_solver_returns(monkeypatch, mnist):
    """torch's eigh with every vector negated (as another device's solver may return them), and numpy's
    unordered ``eig`` (the reference's solver) in float64: the same directions as plain torch eigh."""
    plain = sefa(mnist, k=10).directions
    eigh = torch.linalg.eigh
    monkeypatch.setattr(torch.linalg, "eigh", lambda m: (lambda v: (v[0], -v[1]))(eigh(m)))
    torch.testing.assert_close(sefa(mnist, k=10).directions, plain, rtol=0, atol=0)
    monkeypatch.undo()
    w = sefa(mnist).info["weight_shape"]
    assert w[1] == mnist.latent_dim
    from ganexplorer.directions.sefa import first_affine_weight

    weight = first_affine_weight(mnist.module, mnist.latent_dim).double().numpy()
    weight = weight / np.linalg.norm(weight, axis=1, keepdims=True)
    values, vectors = np.linalg.eig(weight.T @ weight)
    order = np.argsort(-values.real)[:10]
    numpy_dirs = canonical_sign(torch.from_numpy(vectors.real[:, order].T.copy())).float()
    torch.testing.assert_close(numpy_dirs, plain, rtol=0, atol=1e-4)


def test_factorize_sign_does_not_depend_on_the_input_precision():
    torch.manual_seed(0)
    w = torch.randn(200, 12)
    a, _ = factorize(w)
    b, _ = factorize(w.double())
    torch.testing.assert_close(a, b.float(), rtol=0, atol=1e-5)


def test_pca_directions_have_one_sign_whatever_the_low_rank_solver_returns(monkeypatch, mnist):
    torch.manual_seed(0)  # pca_lowrank draws its random projection from torch's global stream
    plain = pca(mnist, k=4, n_samples=400, progress=False).directions
    lowrank = torch.pca_lowrank
    monkeypatch.setattr(torch, "pca_lowrank", lambda *a, **kw: (lambda r: (-r[0], r[1], -r[2]))(lowrank(*a, **kw)))
    torch.manual_seed(0)
    flipped = pca(mnist, k=4, n_samples=400, progress=False).directions
    torch.testing.assert_close(flipped, plain, rtol=0, atol=1e-5)
    assert (plain.gather(1, plain.abs().argmax(1, keepdim=True)) > 0).all()


# ------------------------------------------------------------------------------------- distributed start
def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _broadcast_worker(rank: int, world: int, port: int, folder: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo", rank=rank, world_size=world)
    torch.manual_seed(0)  # rank 0's values; the other rank starts from zeros
    conv = nn.Conv2d(3, 8, 3).to(memory_format=torch.channels_last)
    base = torch.randn(6, 6).T  # transposed (the ortho map's base is column-major)
    gapped = torch.randn(4, 10)[:, ::2]  # a view with gaps: its storage is not the tensor
    tensors = [conv.weight.data, base, gapped]
    if rank != 0:
        for t in tensors:
            t.zero_()
    with torch.no_grad():
        for t in tensors:
            gxd.broadcast_in_place(t)
    torch.save([t.clone() for t in tensors] + [conv.weight.is_contiguous(memory_format=torch.channels_last)],
               f"{folder}/rank{rank}.pt")
    torch.distributed.destroy_process_group()


def test_everything_broadcast_at_the_start_arrives_whatever_its_layout(tmp_path):
    """A channels-last conv weight (R on a GPU), a transposed matrix and a strided view reach rank 1 equal to
    rank 0's, and keep their layout (NCCL refuses non-contiguous tensors; this runs the same path on gloo)."""
    import torch.multiprocessing as mp

    mp.start_processes(_broadcast_worker, args=(2, _port(), str(tmp_path)), nprocs=2, start_method="spawn")
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in range(2))
    for a, b in zip(r0[:3], r1[:3]):
        assert a.abs().sum() > 0
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert r0[3] and r1[3]


def test_the_trainer_broadcasts_its_buffers_through_the_contiguous_path(monkeypatch, mnist):
    """DistributedDiscoveryTrainer's start (one gloo rank in this process) with a broadcast that refuses
    non-contiguous tensors, as NCCL does: the ortho map's base (column-major) goes through as a contiguous copy."""
    sent = []
    broadcast = torch.distributed.broadcast

    def strict(tensor, src=0, **kw):
        if not tensor.is_contiguous():
            raise ValueError("Tensors must be contiguous")
        sent.append(tuple(tensor.shape))
        return broadcast(tensor, src, **kw)

    base = Deformator(mnist.latent_dim, 4, "ortho", 0).linear.parametrizations.weight[0].base
    assert not base.is_contiguous()  # what NCCL refused
    monkeypatch.setattr(torch.distributed, "broadcast", strict)
    torch.distributed.init_process_group("gloo", rank=0, world_size=1, store=torch.distributed.HashStore())
    try:
        trainer = gxd.DistributedDiscoveryTrainer(mnist, k=4, seed=0)
        assert (mnist.latent_dim, mnist.latent_dim) in sent
        assert not trainer.deformator.linear.parametrizations.weight[0].base.is_contiguous()  # layout kept
        assert trainer.cuda_graph == "off"  # DDP steps are not captured
    finally:
        torch.distributed.destroy_process_group()


def test_more_processes_than_gpus_are_refused_with_the_count_and_the_fix(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ValueError, match=r"2 processes asked for, but this machine has 1 GPU .*nproc <= 1"):
        gxd.launch_discovery("mnist", nproc=2, steps=5)
    gxd.check_gpu_count(1, "auto")  # one process per GPU is fine
    gxd.check_gpu_count(4, "cpu")  # gloo on the CPU takes any number
    from ganexplorer.cli import main

    assert main(["discover", "--model", "mnist", "--nproc-per-node", "3", "--steps", "5"]) == 2
    err = capsys.readouterr().err
    assert "3 processes asked for" in err and "--nproc-per-node 1" in err and "Traceback" not in err


# --------------------------------------------------------------------------------- whole-step graph logic
class _FakeGraph:
    """Stands in for a captured CUDA graph on a CPU: replay runs the step it captured."""

    def __init__(self, step):
        self.step, self.replays = step, 0

    def replay(self):
        self.replays += 1
        self.step()


def _graphed(generator, monkeypatch, capture=None, **options) -> DiscoveryTrainer:
    trainer = DiscoveryTrainer(generator, k=4, batch_size=8, seed=0, lr=1e-3, **options)
    trainer._graph = graphs.StepGraph(generator.name)
    trainer.captured = []

    def fake_capture(self, train_step):
        trainer.captured.append(_FakeGraph(train_step))
        return trainer.captured[-1]

    monkeypatch.setattr(graphs.StepGraph, "_side_stream_step", lambda self, train_step: train_step())
    monkeypatch.setattr(graphs.StepGraph, "_capture", capture or fake_capture)
    return trainer


def _eager(generator, **options) -> DiscoveryTrainer:
    return DiscoveryTrainer(generator, k=4, batch_size=8, seed=0, lr=1e-3, **options)


def test_graph_warms_up_captures_once_and_replays_the_same_training(monkeypatch, mnist, tmp_path):
    graphed = _graphed(mnist, monkeypatch)  # each trainer seeds torch's stream when built: build, run, then the next
    a = graphed.run(12, log_every=4, progress=False, score_samples=1)
    eager = _eager(mnist)
    b = eager.run(12, log_every=4, progress=False, score_samples=1)
    assert graphed.cuda_graph == "replayed" and len(graphed.captured) == 1
    assert graphed.captured[0].replays == 12 - graphs.WARMUP_STEPS
    torch.testing.assert_close(a.directions, b.directions, rtol=0, atol=0)
    assert [h["loss"] for h in graphed.history] == [h["loss"] for h in eager.history]
    graphed.save_checkpoint(tmp_path / "c.ckpt")
    graphed.load_checkpoint(tmp_path / "c.ckpt")  # the optimiser's tensors were replaced: capture again
    assert graphed.cuda_graph == "warming up"
    graphed.run(5, log_every=5, progress=False, score_samples=1)
    assert len(graphed.captured) == 2 and graphed.cuda_graph == "replayed"


def test_capture_failure_trains_eagerly_with_one_warning(monkeypatch, mnist):
    def refuse(self, train_step):
        raise RuntimeError("CUDA error: operation not permitted when stream is capturing\nmore detail")

    graphed = _graphed(mnist, monkeypatch, capture=refuse)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        a = graphed.run(10, log_every=5, progress=False, score_samples=1)
    said = [str(w.message) for w in caught if "CUDA graph" in str(w.message)]
    assert len(said) == 1 and "operation not permitted when stream is capturing" in said[0]
    assert "cuda_graph=False" in said[0] and "more detail" not in said[0]
    assert graphed.cuda_graph == "eager (capture failed)"
    b = _eager(mnist).run(10, log_every=5, progress=False, score_samples=1)
    torch.testing.assert_close(a.directions, b.directions, rtol=0, atol=0)


def test_out_of_memory_at_capture_halves_the_micro_batch_and_captures_again(monkeypatch, mnist):
    calls = []

    def capture(self, train_step):
        calls.append(trainer.micro_batch)
        if len(calls) == 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return _FakeGraph(train_step)

    trainer = _graphed(mnist, monkeypatch, capture=capture)
    with pytest.warns(UserWarning, match="micro-batches of 4"):
        trainer.run(10, log_every=5, progress=False, score_samples=1)
    assert calls == [8, 4] and trainer.cuda_graph == "replayed" and trainer.step == 10


def test_graphs_are_off_on_cpu_and_asking_for_one_there_is_refused(mnist):
    assert _eager(mnist).cuda_graph == "off"
    with pytest.raises(ValueError, match="cuda_graph=True needs a CUDA generator"):
        _eager(mnist, cuda_graph=True)


# ----------------------------------------------------------------------------------------- on a real GPU
class _HostSyncG(nn.Module):
    """A generator whose forward reads a value on the host (data-dependent control flow): not capturable."""

    latent_dim = 8

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 3 * 16 * 16)

    def forward(self, z):
        x = self.fc(z)
        if x.mean().item() > 1e9:  # never true; the .item() is what matters
            x = -x
        return torch.tanh(x).view(-1, 3, 16, 16)


@cuda
@pytest.mark.parametrize("deformator", ["ortho", "unit-norm", "proj", "random"])
def test_on_cuda_the_step_is_captured_and_trains(deformator):
    from ganexplorer import load_generator

    g = load_generator("mnist", device="cuda")
    trainer = DiscoveryTrainer(g, k=8, deformator=deformator, seed=0, lr=1e-3)
    bank = trainer.run(400, log_every=100, progress=False)
    assert trainer.cuda_graph == "replayed"
    assert trainer.history[-1]["accuracy"] > 3 / 8  # well above chance (1/8) after 400 steps
    if deformator == "ortho":
        d = bank.directions
        torch.testing.assert_close(d @ d.T, torch.eye(8, device=d.device), rtol=0, atol=1e-4)


@cuda
def test_on_cuda_an_uncapturable_generator_trains_eagerly_with_one_warning():
    g = Generator(_HostSyncG(), device="cuda", name="host-sync")
    with pytest.warns(UserWarning, match="could not be captured"):
        trainer = DiscoveryTrainer(g, k=4, seed=0)
        trainer.run(20, log_every=10, progress=False, score_samples=1)
    assert trainer.cuda_graph == "eager (capture failed)" and trainer.step == 20


@cuda
def test_on_cuda_sefa_gives_the_cpus_bank():
    from ganexplorer import load_generator

    for name in ("mnist", "shapes"):  # the top 16 (a near-degenerate tail has no unique eigenvectors anywhere)
        cpu, gpu = sefa(load_generator(name, device="cpu"), k=16), sefa(load_generator(name, device="cuda"), k=16)
        torch.testing.assert_close(gpu.directions.cpu(), cpu.directions, rtol=0, atol=1e-5)


@cuda
def test_on_cuda_float32_frames_stay_within_one_step_of_the_cpus():
    from ganexplorer import load_generator

    for name in ("mnist", "shapes", "scenes"):
        cpu, gpu = load_generator(name, device="cpu"), load_generator(name, device="cuda")
        z = cpu.sample_latents(16, seed=0)
        a, b = cpu.render_uint8(z), gpu.render_uint8(z.cuda())
        diff = (torch.as_tensor(a).int() - torch.as_tensor(b).cpu().int()).abs().max().item()
        assert diff <= 1, (name, diff)


@cuda
def test_on_cuda_one_process_distributed_run_starts_and_finishes(tmp_path):
    bank = gxd.discover_distributed("mnist", nproc=1, steps=20, out=tmp_path / "b.gxb", device="cuda", k=4,
                                    log_every=10)
    assert len(bank) == 4 and bank.info["steps"] == 20
