"""Discovery on several processes (gloo on CPU, 127.0.0.1 only): N ranks x B pairs take the same step as one
process x N*B pairs on the same pairs; a 2-process run checkpoints, is cancelled from rank 0 and resumes on one
process; a dying rank is named; rca and describe's per-direction work shard across ranks and give one process's
answer. Workers are spawned (one torch thread each) and the whole file stays well under a minute."""

import os
import socket

import pytest
import torch

from ganexplorer import DirectionBank, DiscoveryTrainer, discover, load_generator, rca
from ganexplorer.directions.describe import PROBES, measure_traversals
from ganexplorer.directions.discovery import distributed as gxd
from ganexplorer.directions.discovery.reconstructors import make_reconstructor
from ganexplorer.directions.discovery.sampling import sample_shifts

K, PER_RANK, WORLD, STEPS, SHIFTS = 6, 8, 2, 3, 4  # SHIFTS: pairs per base latent (the trainer's default)
SGD_LR = 0.05


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _join(rank: int, world: int, port: int) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), OMP_NUM_THREADS="1")
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo", rank=rank, world_size=world)


def _batches(generator, steps: int, n: int, m: int) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Fixed global batches of n pairs, m pairs per base latent, drawn once: both sides train on these pairs."""
    gen = torch.Generator().manual_seed(123)
    out = []
    for _ in range(steps):
        z = generator.latents_from_noise(torch.randn(n // m, generator.latent_dim, generator=gen))
        out.append((z, torch.randint(K, (n,), generator=gen), sample_shifts(n, 6.0, 0.5, "cpu", gen)))
    return out


def _feed(trainer, batches, rank: int = 0, world: int = 1) -> None:
    """trainer.sample_batch returns this rank's share of each fixed batch in turn (then fresh pairs again)."""
    feed, sample = iter(batches), trainer.sample_batch

    def share(n):
        try:
            z, index, eps = next(feed)
        except StopIteration:
            return sample(n)
        bases = n // trainer.shifts_per_latent
        return z[rank * bases:(rank + 1) * bases], index[rank * n:(rank + 1) * n], eps[rank * n:(rank + 1) * n]

    trainer.sample_batch = share


def _record_grads(trainer) -> list[dict[str, torch.Tensor]]:
    """Every step's gradients as the optimiser sees them (after DDP's all-reduce). The optimiser becomes plain
    SGD (lr 0.05): Adam divides each gradient by its own running size, so an element whose gradient is rounding
    noise (e.g. a bias just before a batch norm, exactly zero in exact arithmetic) steps +-lr either way in both
    runs; SGD keeps the parameters' agreement as close as the gradients'."""
    trainer.optimizer = torch.optim.SGD([p for g in trainer.optimizer.param_groups for p in g["params"]], lr=SGD_LR)
    grads: list[dict[str, torch.Tensor]] = []
    trainer.states = []  # A and R after each step (before the bank's batch-norm refresh)
    trainer.initial = _state(trainer)
    step = trainer.optimizer.step
    named = {**{f"A.{k}": p for k, p in trainer.deformator.named_parameters()},
             **{f"R.{k}": p for k, p in trainer.reconstructor.named_parameters()}}

    def recorded(*args, **kwargs):
        grads.append({k: p.grad.clone() for k, p in named.items() if p.grad is not None})
        out = step(*args, **kwargs)
        trainer.states.append(_state(trainer))
        return out

    trainer.optimizer.step = recorded
    return grads


def _state(trainer) -> dict[str, torch.Tensor]:
    return {**{f"A.{k}": v.clone() for k, v in trainer.deformator.state_dict().items()},
            **{f"R.{k}": v.clone() for k, v in trainer.reconstructor.state_dict().items()}}


def _equivalence_worker(rank: int, world: int, port: int, folder: str, batches: list) -> None:
    _join(rank, world, port)
    g = load_generator("mnist", device="cpu")
    trainer = gxd.DistributedDiscoveryTrainer(g, k=K, batch_size=PER_RANK, seed=0, lr=1e-3, shifts_per_latent=SHIFTS)
    grads = _record_grads(trainer)
    _feed(trainer, batches, rank, world)
    trainer.run(len(batches), log_every=1, score_samples=1, progress=False)
    # the real sampler: this rank's own stream
    del trainer.sample_batch
    trainer._reseed = True
    own = trainer.sample_batch(4)
    # rca and describe's traversals, sharded, on a fixed R / the trained bank
    torch.manual_seed(7)
    r = make_reconstructor("lenet", 1, 32, K).eval()
    bank = DirectionBank(trainer.deformator.directions().detach(), generator=g.name)
    scores = rca(g, bank, r, n=40, batch_size=8, progress=False)
    z = g.sample_latents(2, 0)
    traversals = gxd.shard_over(list(range(K)), lambda ks: measure_traversals(g, bank, z, ks, [-2, 0, 2], PROBES))
    trainer.save_checkpoint(f"{folder}/written{rank}.ckpt")
    torch.distributed.barrier()
    wrote = [os.path.exists(f"{folder}/written{r}.ckpt") for r in range(world)]
    torch.save({"state": trainer.states[-1], "grads": grads, "history": trainer.history, "own": own, "rca": scores,
                "traversals": traversals, "settings": trainer.settings, "wrote": wrote, "initial": trainer.initial,
                "directions": bank.directions}, f"{folder}/rank{rank}.pt")
    torch.distributed.destroy_process_group()


def _spawn(worker, *args) -> None:
    import torch.multiprocessing as mp

    mp.start_processes(worker, args=(WORLD, _port(), *args), nprocs=WORLD, start_method="spawn")


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory, mnist):
    """One 2-process gloo run of the equivalence worker, shared by the tests below; and its 1-process twin."""
    folder = tmp_path_factory.mktemp("ranks")
    batches = _batches(mnist, STEPS, WORLD * PER_RANK, SHIFTS)
    _spawn(_equivalence_worker, str(folder), batches)
    ranks = [torch.load(folder / f"rank{r}.pt", weights_only=False) for r in range(WORLD)]
    # the same global batch in one process, with the lead's plain trainer (plain BatchNorm on all 16 pairs)
    single = DiscoveryTrainer(mnist, k=K, batch_size=WORLD * PER_RANK, seed=0, lr=1e-3, shifts_per_latent=SHIFTS)
    grads = _record_grads(single)
    _feed(single, batches)
    single.run(STEPS, log_every=1, score_samples=1, progress=False)
    return ranks, {"state": single.states[-1], "grads": grads, "history": single.history, "initial": single.initial}


def test_two_ranks_take_the_same_steps_as_one_process_on_the_global_batch(two_ranks):
    """2 ranks x 8 pairs (DDP, global-batch BN) vs the lead's plain trainer on the same 16 pairs, 3 SGD steps: every
    step's gradients as the optimiser sees them agree to 1e-4 of the step's largest gradient + 1e-3 relative;
    so do the changes the steps made to A, R and the BN running statistics, on every rank, to what those gradient
    bounds allow after SGD's steps (lr x the sum of each step's 1e-4 x largest gradient) + 1e-3 relative + float32
    rounding of the stored value. The changes, not the values: a value's size says nothing of how far three steps
    moved it, and different CPUs' kernels round differently."""
    ranks, single = two_ranks
    for step, ref in enumerate(single["grads"]):
        scale = max(g.abs().max().item() for g in ref.values())
        for name, g in ref.items():
            for r in ranks:
                assert torch.allclose(r["grads"][step][name], g, rtol=1e-3, atol=1e-4 * scale), (step, name)
    step_bound = SGD_LR * sum(1e-4 * max(g.abs().max().item() for g in ref.values()) for ref in single["grads"])
    for name, ref in single["state"].items():
        moved = ref.double() - single["initial"][name].double()
        allowed = 1e-3 * moved.abs() + step_bound + 2**-22 * ref.double().abs()
        for r in ranks:
            assert torch.equal(r["initial"][name], single["initial"][name]), name  # the same start
            theirs = r["state"][name].double() - r["initial"][name].double()
            assert ((theirs - moved).abs() <= allowed).all(), (name, (theirs - moved).abs().max().item())
    metrics = [h[m] for h in single["history"] for m in ("loss", "shift_error", "accuracy")]
    for r in ranks:  # the logged metrics are the global batch's
        assert [h[m] for h in r["history"] for m in ("loss", "shift_error", "accuracy")] == pytest.approx(metrics,
                                                                                                        rel=1e-4)
    assert ranks[0]["settings"]["batch_size"] == WORLD * PER_RANK


def test_each_rank_draws_its_own_pairs_and_only_rank_0_writes(two_ranks):
    ranks, _ = two_ranks
    (z0, _, e0), (z1, _, e1) = ranks[0]["own"], ranks[1]["own"]
    assert z0.shape == z1.shape and len(e0) == len(e1) == 4
    assert not torch.allclose(z0, z1) and not torch.allclose(e0, e1)
    assert ranks[0]["wrote"] == [True, False]


def test_rca_and_describe_shard_across_ranks_with_one_process_answers(two_ranks, mnist):
    ranks, _ = two_ranks
    bank = DirectionBank(ranks[0]["directions"], generator=mnist.name)
    torch.manual_seed(7)
    r = make_reconstructor("lenet", 1, 32, K).eval()
    one = rca(mnist, bank, r, n=40, batch_size=8, progress=False, shard=False)
    z = mnist.sample_latents(2, 0)
    traversals = measure_traversals(mnist, bank, z, list(range(K)), [-2, 0, 2], PROBES)
    for rank in ranks:
        got = rank["rca"]
        assert got["n"] == 40 and got["per_direction"] == one["per_direction"]
        assert got["accuracy"] == one["accuracy"] and got["shift_error"] == pytest.approx(one["shift_error"], rel=1e-5)
        for a, b in zip(rank["traversals"], traversals):
            assert torch.allclose(a, b, atol=1e-5)


def test_two_process_run_is_cancelled_from_rank_0_and_resumes_on_one_process(tmp_path, mnist):
    ckpt, out = tmp_path / "run.ckpt", tmp_path / "bank.gxb"
    seen = []
    handle = gxd.launch_discovery("mnist", nproc=2, steps=10_000, out=out, device="cpu", checkpoint=ckpt, k=4,
                                  batch_size=4, seed=0, lr=1e-3, log_every=2, checkpoint_every=2, score_samples=1,
                                  callback=lambda s, m: seen.append(s) or (s >= 4 and handle.cancel()))
    assert not handle.done()  # the caller's thread is free while the workers train
    bank = handle.result(timeout=120)
    info = bank.info
    assert info["complete"] is False and 4 <= info["steps"] < 100 and seen[:2] == [2, 4]
    assert info["world_size"] == 2 and info["batch_size"] == 8 and info["per_rank_batch"] == 4
    assert [h["step"] for h in info["history"]] == list(range(2, info["steps"] + 1, 2))
    # the plain trainer, one process, the same global batch: continues where the two ranks stopped
    resumed = discover(mnist, k=4, steps=2, batch_size=8, seed=0, lr=1e-3, checkpoint=ckpt, log_every=2,
                       progress=False)
    assert resumed.info["steps"] == info["steps"] + 2 and resumed.info["complete"]
    assert [h["step"] for h in resumed.info["history"]][-2:] == [info["steps"], info["steps"] + 2]
    with pytest.raises(ValueError, match="batch_size"):  # another global batch is refused, not silently mixed
        discover(mnist, k=4, steps=2, batch_size=4, seed=0, checkpoint=ckpt, progress=False)


def _dying_entry(job):
    """A worker whose rank 1 dies (no exception, no goodbye) at its 5th step."""
    if os.environ.get("RANK") == "1":
        step = gxd.DistributedDiscoveryTrainer._train_step

        def dying(self, sums):
            if self.step == 4:
                os._exit(3)
            step(self, sums)
        gxd.DistributedDiscoveryTrainer._train_step = dying
    return gxd.run_worker(job)


def test_a_dying_rank_is_named_and_the_last_checkpoint_loads(tmp_path, mnist):
    ckpt = tmp_path / "run.ckpt"
    job = gxd._job("mnist", 2, 1000, tmp_path / "bank.gxb", "cpu", None, None, ckpt, 2, 2, False,
                   {"k": 4, "batch_size": 4, "seed": 0}, score_samples=1)
    with pytest.raises(gxd.DistributedRunError, match="rank 1 exited with code 3") as caught:
        gxd._launch(job, 2, _dying_entry)
    assert caught.value.rank == 1 and str(ckpt) in str(caught.value)
    trainer = DiscoveryTrainer(mnist, k=4, batch_size=8, seed=0)
    trainer.load_checkpoint(ckpt)
    assert trainer.step in (2, 4)


def test_bad_launches_are_refused_with_the_fix(mnist):
    with pytest.raises(TypeError, match="zoo name"):
        gxd.launch_discovery(mnist, nproc=2)
    with pytest.raises(ValueError, match="nproc"):
        gxd.launch_discovery("mnist", nproc=0)
    with pytest.raises(TypeError, match="batchsize"):
        gxd.launch_discovery("mnist", nproc=2, batchsize=4)
    with pytest.raises(RuntimeError, match="torchrun"):
        gxd.DistributedDiscoveryTrainer(mnist, k=4)


def test_cli_launches_on_n_processes_and_python_m_works(tmp_path, monkeypatch, capsys):
    import runpy
    import sys

    from ganexplorer import cli

    jobs = []

    def fake_launch(job, nproc, sigint=True):
        jobs.append((job, nproc))
        raise gxd.DistributedRunError("distributed discovery stopped: rank 1 exited with code 3", 1, None)

    monkeypatch.setattr(gxd, "_launch", fake_launch)
    with pytest.raises(SystemExit, match="rank 1"):
        cli.main(["discover", "--model", "mnist", "--nproc-per-node", "2", "--batch-size", "4", "--steps", "7",
                  "--out", str(tmp_path / "b.gxb"), "--device", "cpu"])  # gloo: any number (on 1 GPU, 2 are refused)
    job, nproc = jobs[0]
    assert nproc == 2 and job.steps == 7 and job.trainer["batch_size"] == 4 and job.model == "mnist"
    assert job.cancel is not None and not job.cancel.is_set() and job.stop_on_sigint
    monkeypatch.setattr(sys, "argv", ["ganexplorer", "discover", "--help"])
    with pytest.raises(SystemExit) as done:  # python -m ganexplorer (what torchrun -m ganexplorer runs)
        runpy.run_module("ganexplorer", run_name="__main__")
    help_text = capsys.readouterr().out
    assert done.value.code == 0
    assert "--nproc-per-node" in help_text


def test_the_rank_that_died_is_named_not_the_one_that_lost_its_partner(tmp_path):
    import json

    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError, ProcessFailure

    lost = tmp_path / "rank0.json"  # rank 0 noticed first (earlier timestamp) that its peer had gone
    lost.write_text(json.dumps({"message": {"message": "DistBackendError: Connection closed by peer [127.0.0.1]",
                                            "extraInfo": {"py_callstack": "", "timestamp": "100"}}}))
    died = ProcessFailure(local_rank=1, pid=2, exitcode=-9, error_file="<N/A>")
    died.timestamp = 101
    exc = ChildFailedError("run_worker", {0: ProcessFailure(0, 1, 1, str(lost)), 1: died})
    error = gxd._failure(exc, "run.ckpt")
    assert error.rank == 1 and "rank 1 was killed by signal 9" in str(error) and "run.ckpt stays loadable" in str(error)


def test_rca_out_of_memory_scores_the_same_pairs_in_smaller_chunks(mnist):
    torch.manual_seed(7)
    r = make_reconstructor("lenet", 1, 32, K).eval()
    bank = DirectionBank(torch.eye(mnist.latent_dim)[:K], generator=mnist.name)
    calm = rca(mnist, bank, r, n=24, batch_size=12, progress=False)
    sizes = []

    class SmallMemory(torch.nn.Module):  # R that "runs out of memory" on more than 4 pairs
        def forward(self, pairs):
            sizes.append(len(pairs))
            if len(pairs) > 4:
                raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
            return r(pairs)

    tight = rca(mnist, bank, SmallMemory(), n=24, batch_size=12, progress=False)
    assert tight == calm and sizes == [12, 6] + [3] * 8  # halved until it fits, then kept small
