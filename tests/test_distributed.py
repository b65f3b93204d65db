"""Discovery on several processes (gloo on CPU, 127.0.0.1 only): N ranks x B pairs take the same step as one
process x N*B pairs on the same pairs; a 2-process run checkpoints, is cancelled from rank 0 and resumes on one
process; a dying rank is named; rca and describe's per-direction work shard across ranks and give one process's
answer. Workers are spawned (one torch thread each) and the whole file stays well under a minute."""

import os
import socket
import threading

import pytest
import torch

from ganexplorer import DirectionBank, DiscoveryTrainer, discover, load_generator, rca
from ganexplorer.directions.describe import PROBES, measure_traversals
from ganexplorer.directions.discovery import distributed as gxd
from ganexplorer.directions.discovery.reconstructors import make_reconstructor
from ganexplorer.directions.discovery.sampling import sample_shifts

K, PER_RANK, WORLD, STEPS = 6, 8, 2, 3


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _join(rank: int, world: int, port: int) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), OMP_NUM_THREADS="1")
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo", rank=rank, world_size=world)


def _batches(generator, steps: int, n: int) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Fixed global batches, drawn once: both sides train on exactly these pairs."""
    gen = torch.Generator().manual_seed(123)
    out = []
    for _ in range(steps):
        z = generator.latents_from_noise(torch.randn(n, generator.latent_dim, generator=gen))
        out.append((z, torch.randint(K, (n,), generator=gen), sample_shifts(n, 6.0, 0.5, "cpu", gen)))
    return out


def _record_grads(trainer) -> list[dict[str, torch.Tensor]]:
    """Every step's gradients as the optimiser sees them (after DDP's all-reduce)."""
    grads: list[dict[str, torch.Tensor]] = []
    step = trainer.optimizer.step
    named = {**{f"A.{k}": p for k, p in trainer.deformator.named_parameters()},
             **{f"R.{k}": p for k, p in trainer.reconstructor.named_parameters()}}

    def recorded(*args, **kwargs):
        grads.append({k: p.grad.clone() for k, p in named.items() if p.grad is not None})
        return step(*args, **kwargs)

    trainer.optimizer.step = recorded
    return grads


def _state(trainer) -> dict[str, torch.Tensor]:
    return {**{f"A.{k}": v.clone() for k, v in trainer.deformator.state_dict().items()},
            **{f"R.{k}": v.clone() for k, v in trainer.reconstructor.state_dict().items()}}


def _equivalence_worker(rank: int, world: int, port: int, folder: str, batches: list) -> None:
    _join(rank, world, port)
    g = load_generator("mnist", device="cpu")
    trainer = gxd.DistributedDiscoveryTrainer(g, k=K, batch_size=PER_RANK, seed=0, lr=1e-3)
    grads = _record_grads(trainer)
    feed = iter(batches)

    def my_share(n):
        z, index, eps = next(feed)
        part = slice(rank * n, (rank + 1) * n)
        return z[part], index[part], eps[part]

    trainer.sample_batch = my_share
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
    torch.save({"state": _state(trainer), "grads": grads, "history": trainer.history, "own": own, "rca": scores,
                "traversals": traversals, "settings": trainer.settings}, f"{folder}/rank{rank}.pt")
    torch.distributed.destroy_process_group()


def _spawn(worker, *args) -> None:
    import torch.multiprocessing as mp

    mp.start_processes(worker, args=(WORLD, _port(), *args), nprocs=WORLD, start_method="spawn")


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory, mnist):
    """One 2-process gloo run of the equivalence worker, shared by the tests below; and its 1-process twin."""
    folder = tmp_path_factory.mktemp("ranks")
    batches = _batches(mnist, STEPS, WORLD * PER_RANK)
    _spawn(_equivalence_worker, str(folder), batches)
    ranks = [torch.load(folder / f"rank{r}.pt", weights_only=False) for r in range(WORLD)]
    # the same global batch in one process, with the lead's plain trainer (plain BatchNorm on all 16 pairs)
    single = DiscoveryTrainer(mnist, k=K, batch_size=WORLD * PER_RANK, seed=0, lr=1e-3)
    grads = _record_grads(single)
    feed = iter(batches)
    single.sample_batch = lambda n: next(feed)
    single.run(STEPS, log_every=1, score_samples=1, progress=False)
    return ranks, {"state": _state(single), "grads": grads, "history": single.history}


def test_two_ranks_take_the_same_steps_as_one_process_on_the_global_batch(two_ranks):
    ranks, single = two_ranks
    for name, ref in single["state"].items():
        for r in ranks:  # every rank holds the same A and R as the single process, buffers (BN stats) included
            assert torch.allclose(r["state"][name], ref, rtol=1e-4, atol=2e-6), name
    for step, ref in enumerate(single["grads"]):
        for name, g in ref.items():
            for r in ranks:
                assert torch.allclose(r["grads"][step][name], g, rtol=1e-3, atol=1e-6 * g.abs().max().item()), \
                    (step, name)
    metrics = [[h[m] for h in single["history"]] for m in ("loss", "accuracy")]
    for r in ranks:  # the logged metrics are the global batch's
        assert [[h[m] for h in r["history"]] for m in ("loss", "accuracy")] == pytest.approx(metrics, rel=1e-4)
    assert ranks[0]["settings"]["batch_size"] == WORLD * PER_RANK
