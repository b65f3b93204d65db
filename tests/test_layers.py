"""Layer ranges of style generators: parsing, W+ shifts that touch only the chosen layers, SeFa per range."""

import pytest
import torch

from ganexplorer import DirectionBank, sefa
from ganexplorer.layers import parse_layers
from ganexplorer.traversal import traversal_grid


def test_parse_layers_accepts_the_reference_ranges_and_explains_bad_ones():
    assert parse_layers("all", 18) == list(range(18))
    assert parse_layers("0-1", 18) == [0, 1] and parse_layers("6-13", 18) == list(range(6, 14))
    assert parse_layers("0-1, 8", 18) == [0, 1, 8] and parse_layers("3", 18) == [3]
    with pytest.raises(ValueError, match="not understood"):
        parse_layers("two-five", 18)
    with pytest.raises(ValueError, match="not understood"):
        parse_layers("5-2", 18)
    with pytest.raises(ValueError, match="18 layers"):
        parse_layers("10-20", 18)


def test_a_layer_range_moves_only_those_layers_latents(style):
    bank = sefa(style, layers="1-2", k=3)
    assert bank.num_layers == 4 and bank.layers == ["1-2"] * 3
    z = style.sample_latents(2, seed=0)
    moved = bank.shift(z, [2.0, 0.0, -1.0])
    assert moved.shape == (2, 4, 8)
    assert torch.equal(moved[:, 0], z) and torch.equal(moved[:, 3], z)
    expected = z + 2.0 * bank.directions[0] - bank.directions[2]
    assert torch.allclose(moved[:, 1], expected) and torch.allclose(moved[:, 2], expected)
    # what the generator sees: only the affines of layers 1 and 2 get a different input
    seen = {}
    hooks = [a.register_forward_hook(lambda m, i, o, k=k: seen.__setitem__(k, i[0].clone()))
             for k, a in enumerate(style.module.affines)]
    style.render(z, batch_size=2)
    before = dict(seen)
    style.render(moved, batch_size=2)
    for h in hooks:
        h.remove()
    changed = [k for k in range(4) if not torch.equal(seen[k], before[k])]
    assert changed == [1, 2]


def test_mixed_ranges_and_all_layer_directions_in_one_bank(style):
    d = torch.eye(8)[:2]
    bank = DirectionBank(d, layers=["0", "all"], num_layers=4)
    z = torch.zeros(1, 8)
    moved = bank.shift(z, [1.0, 3.0])
    assert torch.allclose(moved[0, 0], d[0] + 3 * d[1]) and torch.allclose(moved[0, 1:], (3 * d[1]).expand(3, 8))
    flat = DirectionBank(d, layers="all", num_layers=4)
    assert not flat.layered and flat.shift(z, [1.0, 0.0]).shape == (1, 8)
    assert flat.shift(moved, [1.0, 0.0]).shape == (1, 4, 8)  # per-layer latents stay per layer


def test_sefa_factorises_only_the_chosen_layers(style):
    w = style.module.sefa_weight("2")
    bank = sefa(style, layers="2")
    assert bank.info["weight_shape"] == [6, 8]
    top = bank.directions[0]
    norm_w = w / w.norm(dim=1, keepdim=True)
    gains = (norm_w @ bank.directions.T).norm(dim=0)
    assert torch.allclose(gains.max(), (norm_w @ top).norm()) and torch.all(gains[:-1] >= gains[1:] - 1e-5)
    assert sefa(style).info["weight_shape"] == [24, 8]
    with pytest.raises(ValueError, match="4 layers"):
        sefa(style, layers="3-9")


def test_layered_banks_render_traverse_save_and_refuse_other_generators(style, tiny, tmp_path):
    bank = sefa(style, layers="0-1", k=4)
    bank.set_layers(3, "all")
    bank.set_layers(2, "3")
    z = style.sample_latents(2, seed=1)
    lat = bank.traverse(z, 2, [-1.0, 0.0, 1.0])
    assert lat.shape == (6, 4, 8) and torch.allclose(lat[5, 3], z[1] + bank.directions[2])
    assert torch.equal(lat[5, :3], z[1].expand(3, 8))
    assert traversal_grid(style, bank, samples=2).size[0] > 0
    path = bank.save(tmp_path / "style.gxb")
    again = DirectionBank.load(path, generator=style)
    assert again.num_layers == 4 and again.layers == ["0-1", "0-1", "3", "all"]
    with pytest.raises(ValueError, match="layer ranges of a generator with 4 layers"):
        bank.check_fits(tiny)
    with pytest.raises(ValueError, match="4 layers"):
        bank.set_layers(0, "2-7")
    with pytest.raises(ValueError, match="need num_layers"):
        DirectionBank(torch.randn(2, 8), layers="0-1")


def test_per_layer_latents_are_checked(style, tiny):
    assert style.render(torch.zeros(2, 4, 8)).shape == (2, 3, 8, 8)
    with pytest.raises(ValueError, match=r"\(N, 4, 8\)"):
        style.render(torch.zeros(2, 3, 8))
    with pytest.raises(ValueError, match=r"\(N, 8\) for tiny, got \(2, 4, 8\)"):
        tiny.render(torch.zeros(2, 4, 8))


def test_huge_layer_ranges_are_refused_before_expansion(monkeypatch):
    """Issue 14: '0-99999999999' was expanded into a set before the bound check (15 s, then MemoryError)."""
    import builtins

    import ganexplorer.limits as layers  # the rules of every typed value, layer ranges among them

    built = []

    def counting_range(*args):
        r = builtins.range(*args)
        built.append(len(r))
        assert len(r) <= 18, f"a range of {len(r)} layers was built"
        return r

    monkeypatch.setattr(layers, "range", counting_range, raising=False)
    for spec in ("0-99999999999", "3,99999999999", "99999999999-99999999999"):
        with pytest.raises(ValueError, match=r"goes past the last layer: this generator has 18 layers \(0..17\)"):
            parse_layers(spec, 18)
    for spec in ("1-", "-3", "٣", "0x3", "1" * 2000):
        with pytest.raises(ValueError, match="not understood"):
            parse_layers(spec, 18)
    assert parse_layers("2-5,0", 18) == [0, 2, 3, 4, 5] and max(built) <= 18
