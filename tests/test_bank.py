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
    left = [p.name for p in tmp_path.iterdir() if p.name != ".bank.gxb.lock"]  # the lock file stays
    assert left == ["bank.gxb"]  # no temp file left behind


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


# ------------------------------------------------------------ ids, hidden, concurrent writers
def test_ids_are_stable_unique_and_saved(tmp_path):
    bank = _bank()
    assert len(set(bank.ids)) == 4 and all(isinstance(i, str) and 0 < len(i) <= 32 for i in bank.ids)
    back = DirectionBank.load(bank.save(tmp_path / "b.gxb"))
    assert back.ids == bank.ids
    sub = bank.select([2, 0, 2])
    assert sub.ids[:2] == [bank.ids[2], bank.ids[0]] and sub.ids[2] not in bank.ids  # chosen twice: fresh id
    both = bank.extend(bank.select([1, 3]))
    assert both.ids[:4] == bank.ids and len(set(both.ids)) == 6  # duplicates renamed
    with pytest.raises(ValueError, match="duplicates"):
        DirectionBank(torch.randn(2, 3), ids=["a", "a"])


def test_old_files_without_ids_get_the_same_ids_in_every_process(tmp_path):
    path = _bank().save(tmp_path / "old.gxb")
    from safetensors.torch import load_file, safe_open, save_file
    with safe_open(str(path), "pt") as fh:
        meta = json.loads(fh.metadata()["bank"])
    del meta["ids"], meta["hidden"]
    save_file(load_file(str(path)), str(path), metadata={"format": "ganexplorer-bank", "bank": json.dumps(meta)})
    a, b = DirectionBank.load(path, autosave=True), DirectionBank.load(path, autosave=True)
    assert a.ids == b.ids and len(set(a.ids)) == 4 and a.hidden == [False] * 4
    a.label(0, "from a")
    b.label(1, "from b")  # merged by id: a's label kept
    assert DirectionBank.load(path).labels[:2] == ["from a", "from b"]


def test_hide_is_edited_saved_and_merged_like_star(tmp_path):
    path = _bank().save(tmp_path / "b.gxb")
    a, b = DirectionBank.load(path, autosave=True), DirectionBank.load(path, autosave=True)
    a.hide(2)
    b.star(1)
    assert b.hidden[2] and DirectionBank.load(path).hidden == [False, False, True, False]
    assert DirectionBank.load(path).starred == [False, True, False, False]
    with pytest.raises(ValueError, match="True or False"):
        a.hide(0, "yes")


@pytest.mark.parametrize("name", ["bank.gxb", "bankdir"])
def test_two_autosaved_banks_labelling_alternately_lose_nothing(tmp_path, name):
    """Issue 14: two load(p, autosave=True) objects labelling alternately lost 5 of 10 labels and a star."""
    path = _bank(k=10).save(tmp_path / name)
    a, b = DirectionBank.load(path, autosave=True), DirectionBank.load(path, autosave=True)
    for i in range(10):
        (a if i % 2 == 0 else b).label(i, f"label {i}")
    a.star(3)
    b.note(4, "note")
    disk = DirectionBank.load(path)
    assert disk.labels == [f"label {i}" for i in range(10)]
    assert disk.starred[3] and disk.notes[4] == "note"
    assert b.labels == disk.labels and b.starred[3]  # b picked up a's edits on its own last edit
    assert b.changes == [f"direction 3 (id {a.ids[3]}): star False → True by another writer"]


def test_picked_up_edits_and_conflicts_are_reported(tmp_path):
    path = _bank().save(tmp_path / "b.gxb")
    a, b = DirectionBank.load(path, autosave=True), DirectionBank.load(path, autosave=True)
    a.label(1, "from a")
    b.star(2)
    assert b.changes == [f"direction 1 (id {a.ids[1]}): label 'direction 1' → 'from a' by another writer"]
    a.note(0, "a's note")
    b.note(0, "b's note")  # the same field of the same direction: the later edit wins, and says so
    assert DirectionBank.load(path).notes[0] == "b's note"
    assert b.changes == [f"direction 0 (id {a.ids[0]}): note conflict: another writer had set \"a's note\"; "
                         f"this later edit \"b's note\" wins"]
    assert a.starred[2]  # picked up on a's note edit
    assert a.refresh() == [f"direction 0 (id {a.ids[0]}): note \"a's note\" → \"b's note\" by another writer"]
    assert a.notes[0] == "b's note" and a.refresh() == [] and a.changes == []


def test_edit_of_a_direction_another_writer_removed_raises_and_refreshes(tmp_path):
    path = _bank().save(tmp_path / "b.gxb")
    a, b = DirectionBank.load(path, autosave=True), DirectionBank.load(path, autosave=True)
    a.label(3, "kept")
    replaced = a.select([3]).extend(_bank(k=2, d=8))  # another writer replaces the bank: 3 directions
    replaced.save(path)
    with pytest.raises(DirectionBank.Conflict, match=r"direction 0 \(id .*\) is no longer in b.gxb.*3 directions"):
        b.label(0, "lost?")
    assert len(b) == 3 and b.ids == replaced.ids and b.labels[0] == "kept"  # refreshed to the disk version
    assert any("replaced the bank: 4 → 3 directions" in m for m in b.changes)
    b.label(0, "now it works")  # the kept direction is found by id
    assert DirectionBank.load(path).labels[0] == "now it works"


@pytest.mark.parametrize("name", ["b.gxb", "bankdir"])
def test_plain_save_merges_like_the_edits_and_this_save_wins_a_conflict(tmp_path, name):
    """Issue 28: load, another writer labels, label, save() lost the other writer's label."""
    path = _bank().save(tmp_path / name)
    mine, other = DirectionBank.load(path), DirectionBank.load(path, autosave=True)
    other.label(1, "theirs")
    other.note(0, "their note")
    mine.label(0, "mine")
    mine.note(0, "my note")
    mine.directions[3] *= 2  # the tensor this bank holds is the one saved
    mine.save(path)
    disk = DirectionBank.load(path)
    assert disk.labels[:2] == ["mine", "theirs"] and disk.notes[0] == "my note" and mine.labels == disk.labels
    torch.testing.assert_close(disk.directions, mine.directions)
    assert mine.changes == [f"direction 1 (id {mine.ids[1]}): label 'direction 1' → 'theirs' by another writer",
                            f"direction 0 (id {mine.ids[0]}): note conflict: another writer had set 'their note'; "
                            "this save's 'my note' wins"]
    mine.save(path)  # nothing new on disk: nothing picked up
    assert mine.changes == []


def test_plain_save_over_a_replaced_bank_writes_nothing(tmp_path):
    path = _bank().save(tmp_path / "b.gxb")
    mine = DirectionBank.load(path)
    mine.label(0, "mine")
    replaced = _bank(k=6)
    replaced.save(path)
    with pytest.raises(DirectionBank.Conflict, match=r"b.gxb changed under this bank: another writer replaced its "
                                                     r"directions \(4 → 6\).*nothing was saved.*replace=True"):
        mine.save(path)
    assert DirectionBank.load(path).ids == replaced.ids and mine.labels[0] == "mine" and len(mine) == 4
    mine.save(tmp_path / "elsewhere.gxb")  # another file: written as it is
    mine.save(path, replace=True)
    assert DirectionBank.load(path).ids == mine.ids


def test_refresh_picks_up_wholesale_replacement(tmp_path):
    path = _bank().save(tmp_path / "b.gxb")
    a = DirectionBank.load(path, autosave=True)
    other = _bank(k=6)
    other.save(path)
    messages = a.refresh()
    assert messages == ["another writer replaced the bank: 4 → 6 directions (6 new, 4 gone)"]
    assert a.ids == other.ids and len(a) == 6 and a.changes == messages


def test_threads_labelling_one_autosaved_bank_lose_nothing(tmp_path):
    """Issue 14: eight threads labelling one autosaved bank left 127 of 160 labels on disk."""
    import threading

    path = _bank(k=40).save(tmp_path / "b.gxb")
    shared = DirectionBank.load(path, autosave=True)
    own = [DirectionBank.load(path, autosave=True) for _ in range(4)]

    def work(t):
        for j in range(5):
            i = t * 5 + j
            bank = shared if t % 2 else own[t // 2]
            bank.label(i, f"t{t} {j}")

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert DirectionBank.load(path).labels == [f"t{i // 5} {i % 5}" for i in range(40)]


def test_locked_is_reentrant_and_makes_compose_and_save_atomic(tmp_path):
    import threading

    path = _bank().save(tmp_path / "b.gxb")
    a, b = DirectionBank.load(path, autosave=True), DirectionBank.load(path, autosave=True)
    started = threading.Event()

    def other_writer():
        started.set()
        b.label(0, "waited")  # blocks until the block below ends, then merges by id

    with DirectionBank.locked(path):
        thread = threading.Thread(target=other_writer)
        thread.start()
        started.wait()
        a.refresh()
        new = a.select([0, 1]).extend(_bank(k=1, d=8))
        new.save(path)  # no deadlock: save / load / edits inside the block reuse the held lock
        assert DirectionBank.load(path).ids == new.ids
        new.autosave_path = path
        new.label(1, "inside")
    thread.join()
    disk = DirectionBank.load(path)
    assert disk.labels[:2] == ["waited", "inside"] and len(disk) == 3


def test_without_autosave_edits_stay_in_memory(tmp_path):
    path = _bank().save(tmp_path / "b.gxb")
    bank = DirectionBank.load(path)
    bank.label(0, "memory only")
    assert DirectionBank.load(path).labels[0] == "direction 0" and bank.changes == []


# ------------------------------------------------------------ metadata that is not what a bank writes
def _write_meta(path, meta_text):
    """A single-file bank whose metadata JSON is ``meta_text`` (the tensor is a valid (4, 8))."""
    from safetensors.torch import save_file
    save_file({"directions": torch.randn(4, 8)}, str(path), metadata={"format": "ganexplorer-bank", "bank": meta_text})
    return path


def _meta(**changes):
    meta = _bank().metadata()
    meta.update(changes)
    return meta


@pytest.mark.parametrize("meta, message", [
    ([1, 2, 3], "metadata is a JSON list, not an object"),
    ("a string", "metadata is a JSON str"),
    (_meta(labels=5), "field 'labels' must be a list of 4 entries, each a string; got int 5"),
    (_meta(labels={"0": "x"}), "field 'labels' must be a list of 4 entries, each a string; got dict"),
    (_meta(labels=[1, 2, 3, 4]), "field 'labels' entry 0 must be a string, got int 1"),
    (_meta(starred="no"), "field 'starred' must be a list of 4 entries, each true or false; got str 'no'"),
    (_meta(starred=[0, 1, 0, 0]), "field 'starred' entry 0 must be true or false, got int 0"),
    (_meta(hidden=["no"] * 4), "field 'hidden' entry 0 must be true or false"),
    (_meta(shift_range=[float("nan")] * 4), r"field 'shift_range' entry 0 must be a number in \(0, 10000\]"),
    (_meta(shift_range=[-1.0] * 4), r"field 'shift_range' entry 0 must be a number in \(0, 10000\].*-1.0"),
    (_meta(shift_range=[1e300] * 4), r"field 'shift_range' entry 0 must be a number in \(0, 10000\]"),
    (_meta(scores=["high"] * 4), "field 'scores' entry 0 must be a number or null"),
    (_meta(ids=["a", "b", "c", "a"]), "duplicates"),
    (_meta(ids=["../x", "b", "c", "d"]), "field 'ids' entry 0 must be a short id"),
    (_meta(info=[1]), "field 'info' must be a dict"),
    (_meta(generator=7), "field 'generator' must be a name"),
    (_meta(num_layers="18"), "num_layers must be a whole number"),
    (_meta(k=4.0), "field 'k' must be a positive whole number"),
    (_meta(source=["sefa", "magic", "sefa", "sefa"]), "unknown direction source"),
])
def test_wrong_metadata_types_are_refused_not_coerced(tmp_path, meta, message):
    """Issue 14: a JSON list gave AttributeError; labels=5, a dict, starred="no" were silently coerced; NaN or
    negative shift_range was accepted."""
    path = _write_meta(tmp_path / "b.gxb", json.dumps(meta))
    data = path.read_bytes()
    with pytest.raises(ValueError, match="not a valid ganexplorer direction bank") as err:
        DirectionBank.load(path)
    assert pytest.importorskip("re").search(message, str(err.value)), str(err.value)
    assert path.read_bytes() == data


def test_deeply_nested_metadata_is_refused_clearly(tmp_path):
    path = _write_meta(tmp_path / "b.gxb", "[" * 50_000 + "]" * 50_000)
    with pytest.raises(ValueError, match="nested too deeply"):
        DirectionBank.load(path)
    folder = _bank().save(tmp_path / "bankdir")
    (folder / "bank.json").write_text('{"labels": ' + "[" * 50_000 + "]" * 50_000 + "}")
    with pytest.raises(ValueError, match="nested too deeply"):
        DirectionBank.load(folder)
    (folder / "bank.json").write_text("[]")
    with pytest.raises(ValueError, match="bank.json holds a JSON list"):
        DirectionBank.load(folder)


def test_constructor_and_edits_refuse_wrong_types():
    with pytest.raises(ValueError, match=r"shift_range' entry 0 must be a number in \(0"):
        DirectionBank(torch.randn(2, 3), shift_range=float("nan"))
    with pytest.raises(ValueError, match=r"shift_range' entry 1 must be a number in \(0"):
        DirectionBank(torch.randn(2, 3), shift_range=[1.0, -2.0])
    with pytest.raises(ValueError, match="'labels' entry 0 must be a string, got int 5"):
        DirectionBank(torch.randn(2, 3), labels=5)
    with pytest.raises(ValueError, match="'starred' entry 0 must be true or false, got str 'no'"):
        DirectionBank(torch.randn(2, 3), starred="no")
    with pytest.raises(ValueError, match="must be .* or a list of 2 of them, got dict"):
        DirectionBank(torch.randn(2, 3), labels={"a": 1})
    bank = _bank()
    with pytest.raises(ValueError, match="a label must be a string, got NoneType"):
        bank.label(0, None)
    with pytest.raises(ValueError, match="star takes True or False"):
        bank.star(0, "no")
    with pytest.raises(IndexError, match="whole number"):
        bank.label(1.5, "x")
    assert bank.labels[0] == "direction 0" and not bank.starred[0]


def test_directory_bank_is_replaced_as_a_whole_and_cleans_up(tmp_path):
    path = _bank().save(tmp_path / "bankdir")
    first = json.loads((path / "bank.json").read_text())["directions_file"]
    _bank(k=6).save(path)
    meta = json.loads((path / "bank.json").read_text())
    assert meta["directions_file"] != first and meta["k"] == 6
    assert sorted(p.name for p in path.iterdir()) == ["bank.json", meta["directions_file"]]  # old one removed
    # what a kill leaves: temp files and an unreferenced newer tensor file; the next load removes them
    (path / ".bank.json.x1.tmp").write_text("partial")
    (path / "directions.99.safetensors").write_bytes(b"partial")
    (tmp_path / ".bank.gxb.abc.tmp").write_bytes(b"x")
    (tmp_path / ".bankdir.abc.tmp").write_bytes(b"x")
    assert len(DirectionBank.load(path)) == 6
    assert sorted(p.name for p in path.iterdir()) == ["bank.json", meta["directions_file"]]
    assert not (tmp_path / ".bankdir.abc.tmp").exists() and (tmp_path / ".bank.gxb.abc.tmp").exists()


def test_directory_bank_of_the_old_layout_still_loads(tmp_path):
    from safetensors.torch import save_file
    bank = _bank()
    folder = tmp_path / "old"
    folder.mkdir()
    save_file({"directions": bank.directions}, str(folder / "directions.safetensors"))
    meta = bank.metadata()
    del meta["ids"]
    (folder / "bank.json").write_text(json.dumps(meta))
    back = DirectionBank.load(folder, autosave=True)
    assert torch.equal(back.directions, bank.directions) and len(set(back.ids)) == 4
    back.label(0, "upgraded")
    assert sorted(p.name for p in folder.iterdir()) == ["bank.json", "directions.1.safetensors"]
    assert DirectionBank.load(folder).labels[0] == "upgraded"


def test_refresh_of_a_bank_pointed_at_a_file_then_edits_merge(tmp_path):
    path = _bank().save(tmp_path / "b.gxb")
    other = DirectionBank.load(path, autosave=True)
    mine = _bank()  # a bank made in memory (its own ids), then pointed at the file
    mine.autosave_path = path
    assert mine.refresh()[0].startswith("another writer replaced the bank: 4 → 4 directions (4 new, 4 gone)")
    assert mine.ids == other.ids
    other.label(0, "other")
    mine.label(1, "mine")  # merged, not a whole save over other's label
    assert DirectionBank.load(path).labels[:2] == ["other", "mine"]
