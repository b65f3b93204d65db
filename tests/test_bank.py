import json

import pytest
import torch

from ganexplorer import DirectionBank


def _bank(k=4, d=8, **kw):
    torch.manual_seed(0)
    return DirectionBank(torch.randn(k, d), scores=list(range(k, 0, -1)), source="sefa", generator="tiny", **kw)


def test_metadata_lists_have_one_entry_per_direction():
    bank = _bank()
    assert len(bank) == 4 and bank.latent_dim == 8
    for name in ("labels", "starred", "notes", "scores", "source", "layers", "shift_range"):
        assert len(getattr(bank, name)) == 4
    assert bank.labels[0] == "direction 0" and bank.starred == [False] * 4 and bank.shift_range == [3.0] * 4


def test_bad_construction_is_explained():
    with pytest.raises(ValueError, match=r"\(K, d\)"):
        DirectionBank(torch.randn(8))
    with pytest.raises(ValueError, match="3 entries for 4 directions"):
        DirectionBank(torch.randn(4, 8), labels=["a", "b", "c"])
    with pytest.raises(ValueError, match="NaN"):
        DirectionBank(torch.full((2, 3), float("nan")))
    with pytest.raises(ValueError, match="unknown direction source"):
        DirectionBank(torch.randn(2, 3), source="magic")


@pytest.mark.parametrize("name", ["bank.gxb", "bank.safetensors", "bankdir"])
def test_save_load_roundtrip_keeps_everything(tmp_path, name):
    bank = _bank(layers="all")
    bank.label(1, "thickness")
    bank.star(2)
    bank.note(3, "only on some digits")
    bank.info["method"] = "test"
    path = bank.save(tmp_path / name)
    back = DirectionBank.load(path)
    assert torch.equal(back.directions, bank.directions)
    assert back.metadata() == bank.metadata()
    assert back.labels[1] == "thickness" and back.starred[2] and back.notes[3] == "only on some digits"


def test_directory_bank_json_is_hand_editable(tmp_path):
    path = _bank().save(tmp_path / "bankdir")
    meta = json.loads((path / "bank.json").read_text())
    meta["labels"][0] = "edited by hand"
    (path / "bank.json").write_text(json.dumps(meta))
    assert DirectionBank.load(path).labels[0] == "edited by hand"


def test_autosave_writes_every_edit(tmp_path):
    path = tmp_path / "labels.gxb"
    _bank().save(path)
    bank = DirectionBank.load(path, autosave=True)
    bank.label(0, "zoom")
    bank.star(0)
    reopened = DirectionBank.load(path)
    assert reopened.labels[0] == "zoom" and reopened.starred[0]


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "wrong_json"])
def test_damaged_files_are_refused_and_left_untouched(tmp_path, damage):
    path = _bank().save(tmp_path / "bank.gxb")
    data = path.read_bytes()
    if damage == "truncate":
        data = data[: len(data) - 20]
    elif damage == "garbage":
        data = b"\x00\x01garbage" * 50
    elif damage == "empty":
        data = b""
    else:
        assert b'\\"k\\": 4' in data
        data = data.replace(b'\\"k\\": 4', b'\\"k\\": 5')  # a valid file whose metadata disagrees
    path.write_bytes(data)
    with pytest.raises(ValueError, match="not a valid ganexplorer direction bank"):
        DirectionBank.load(path)
    assert path.read_bytes() == data


def test_failed_save_keeps_the_previous_file(tmp_path, monkeypatch):
    path = _bank().save(tmp_path / "bank.gxb")
    before = path.read_bytes()
    import ganexplorer.directions.bank as bank_module

    def broken(tensors, filename, metadata=None):
        open(filename, "wb").write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(bank_module, "save_file", broken)
    bank = _bank()
    bank.labels[0] = "new"
    with pytest.raises(OSError, match="disk full"):
        bank.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["bank.gxb"]  # no temp file left behind


def test_bank_for_another_generator_is_refused_with_its_name(tmp_path, tiny):
    path = DirectionBank(torch.randn(3, 5), generator="mnist").save(tmp_path / "b.gxb")
    with pytest.raises(ValueError, match=r"made for generator 'mnist' with latent size 5.*'tiny' has latent size 8"):
        DirectionBank.load(path, generator=tiny)


def test_shift_and_traverse(tiny):
    bank = _bank()
    z = tiny.sample_latents(2, seed=0)
    shifted = bank.shift(z, [1.0, 0, 0, -2.0])
    assert torch.allclose(shifted, z + bank.directions[0] - 2 * bank.directions[3])
    per_row = bank.shift(z, torch.tensor([[1.0, 0, 0, 0], [0, 0, 0, 0]]))
    assert torch.allclose(per_row[1], z[1]) and torch.allclose(per_row[0], z[0] + bank.directions[0])
    with pytest.raises(ValueError, match="NaN"):
        bank.shift(z, [float("nan"), 0, 0, 0])
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        bank.shift(z, [1.0, 2.0])
    lat = bank.traverse(z, 2, [-1.0, 0.0, 1.0])
    assert lat.shape == (6, 8) and torch.allclose(lat[4], z[0] + bank.directions[2])


def test_select_extend_and_bad_index():
    bank = _bank()
    bank.label(3, "keep")
    sub = bank.select([3, 1])
    assert len(sub) == 2 and sub.labels[0] == "keep" and torch.equal(sub.directions[0], bank.directions[3])
    both = bank.extend(sub)
    assert len(both) == 6 and both.labels[4] == "keep"
    with pytest.raises(IndexError, match="has 4"):
        bank.label(9, "nope")
    with pytest.raises(ValueError, match="latent size"):
        bank.extend(DirectionBank(torch.randn(1, 3)))
