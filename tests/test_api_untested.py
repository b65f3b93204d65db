"""DirectionBank behaviour a user relies on that the bank's own tests leave open (found by mutation testing,
issue 20): index bounds, what select / extend keep, shifting per-layer latents, layer-range edits, fitting a
bank to a generator, refusals of broken input."""

import warnings

import pytest
import torch

from ganexplorer import DirectionBank, Generator


def _layered(num_layers: int = 4) -> DirectionBank:
    return DirectionBank(torch.eye(3, 5), layers=["0-1", "all", "2-3"], num_layers=num_layers, generator="toy",
                         labels=["a", "b", "c"], shift_range=[1.0, 2.0, 3.0])


def test_indices_run_from_minus_k_to_k_minus_one():
    bank = _layered()
    assert bank._index(-3) == 0 and bank._index(2) == 2
    for bad in (3, -4):
        with pytest.raises(IndexError, match=f"direction {bad} does not exist: this bank has 3 \\(0..2\\)"):
            bank.label(bad, "x")
    assert bank.labels == ["a", "b", "c"]


def test_select_and_extend_keep_layers_generator_and_per_direction_fields():
    bank = _layered()
    picked = bank.select([2, 0])
    assert picked.num_layers == 4 and picked.layers == ["2-3", "0-1"] and picked.generator == "toy"
    assert picked.labels == ["c", "a"] and picked.shift_range == [3.0, 1.0] and picked.ids == [bank.ids[2],
                                                                                                bank.ids[0]]
    torch.testing.assert_close(picked.directions, torch.eye(3, 5)[[2, 0]])
    flat = DirectionBank(torch.eye(2, 5), labels=["p", "q"])  # no layer count, no generator name
    joined = flat.extend(bank)
    assert joined.num_layers == 4 and joined.generator == "toy" and joined.labels == ["p", "q", "a", "b", "c"]
    assert joined.layers == [None, None, "0-1", "all", "2-3"] and len(set(joined.ids)) == 5
    assert bank.extend(flat).num_layers == 4


def test_a_flat_bank_shifts_every_layer_of_per_layer_latents():
    bank = DirectionBank(torch.eye(2, 5))
    z = torch.randn(3, 4, 5, generator=torch.Generator().manual_seed(0))  # (N, layers, d), e.g. a W+ latent
    moved = bank.shift(z, [1.5, -2.0])
    assert moved.shape == (3, 4, 5)
    torch.testing.assert_close(moved, z + (1.5 * torch.eye(5)[0] - 2.0 * torch.eye(5)[1]))
    rows = torch.tensor([[1.0, 0.0], [0.0, 2.0], [-1.0, 1.0]])  # one row of shifts per latent
    moved = bank.shift(z, rows)
    for i in range(3):
        torch.testing.assert_close(moved[i], z[i] + rows[i, 0] * torch.eye(5)[0] + rows[i, 1] * torch.eye(5)[1])


def test_layered_shift_moves_only_each_directions_layers_and_follows_layer_edits():
    bank = _layered()
    z = torch.zeros(2, 5)
    moved = bank.shift(z, [1.0, 0.0, 0.0])
    assert moved.shape == (2, 4, 5)
    assert moved[:, :2, 0].eq(1.0).all() and moved[:, 2:].eq(0.0).all()
    bank.set_layers(0, "2-3")  # the next shift uses the new range (the layer masks are rebuilt)
    assert bank.layers[0] == "2-3"
    moved = bank.shift(z, [1.0, 0.0, 0.0])
    assert moved[:, :2].eq(0.0).all() and moved[:, 2:, 0].eq(1.0).all()


class _Style(torch.nn.Module):
    latent_dim, num_layers = 5, 4

    def forward(self, latents):
        if latents.ndim == 2:
            latents = latents[:, None].expand(-1, 4, -1)
        return torch.tanh(latents.sum((1, 2)))[:, None, None, None].expand(-1, 3, 4, 4)


def test_check_fits_takes_the_generators_layer_count_and_warns_on_another_name():
    g = Generator(_Style(), device="cpu", name="other")
    flat = DirectionBank(torch.eye(2, 5), generator="other")
    flat.check_fits(g)
    assert flat.num_layers == 4  # a bank without a layer count takes the generator's
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        DirectionBank(torch.eye(2, 5), generator="other").check_fits(g)  # same name: no warning
    with pytest.warns(UserWarning, match="bank was made for generator 'toy', using it with 'other'"):
        _layered().check_fits(g)
    with pytest.raises(ValueError, match="restricted to layer ranges of a generator with 6 layers"):
        _layered(num_layers=6).check_fits(g)


def test_broken_directions_and_layer_counts_are_refused_with_the_reason():
    bad = torch.eye(2, 5)
    bad[1, 3] = float("nan")
    with pytest.raises(ValueError, match="^directions contain NaN or inf$"):
        DirectionBank(bad)
    for n in (0, -1, 4097, True, 2.0):
        with pytest.raises(ValueError, match="num_layers must be a whole number in 1..4096"):
            DirectionBank(torch.eye(2, 5), num_layers=n)
    assert DirectionBank(torch.eye(2, 5), shift_range=None).shift_range == [3.0, 3.0]  # the default range
