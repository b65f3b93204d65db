"""Reading users' checkpoints as data: what is refused, and what the errors tell the user."""


import pytest
import torch
from conftest import Evil
from safetensors.torch import save_file

from ganexplorer import load_generator
from ganexplorer.cli import main, parse_options
from ganexplorer.generators.checkpoints import FAMILIES, load_family, read_checkpoint


def test_a_malicious_torch_file_is_refused_without_running_anything(tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"g_ema": {"style.1.weight": torch.zeros(2, 2)}, "payload": Evil(marker)}, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match="refused to load.*system.*could run code.*Generator\\(module"):
        load_generator(tmp_path / "evil.pt")
    assert not marker.exists()


def test_damaged_and_unknown_files_say_what_is_recognised(tmp_path):
    (tmp_path / "cut.pt").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ValueError, match="not a readable torch checkpoint"):
        load_generator(tmp_path / "cut.pt")
    torch.save({"encoder.weight": torch.zeros(3, 3)}, tmp_path / "other.pt")
    with pytest.raises(ValueError) as err:
        load_generator(tmp_path / "other.pt")
    message = str(err.value)
    assert "not a checkpoint of any recognised family" in message and "encoder.weight" in message
    for family in ("StyleGAN2", "ProGAN", "BigGAN", "SN-GAN", "Generator(module, latent_dim=d)"):
        assert family in message
    with pytest.raises(ValueError, match="not a stylegan2 checkpoint"):
        load_family(tmp_path / "other.pt", family="stylegan2")
    with pytest.raises(ValueError, match="unknown family 'stylegan9'"):
        load_generator(tmp_path / "other.pt", family="stylegan9")
    with pytest.raises(FileNotFoundError, match="no zoo generator or file"):
        load_generator(tmp_path / "missing.pt")


def test_foreign_safetensors_and_folders_are_read_as_data(tmp_path):
    save_file({"w": torch.ones(2)}, tmp_path / "hf.safetensors", metadata={"format": "pt"})  # not JSON
    assert torch.equal(read_checkpoint(tmp_path / "hf.safetensors")["w"], torch.ones(2))
    with pytest.raises(ValueError, match="not a checkpoint of any recognised family"):
        load_generator(tmp_path / "hf.safetensors")
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "args.json").write_text('{"model": "x"}')
    torch.save({"a": torch.zeros(1)}, folder / "generator.pt")
    (folder / "notes.txt").write_text("ignored")
    content = read_checkpoint(folder)
    assert set(content) == {"args.json", "generator.pt"} and content["args.json"] == {"model": "x"}
    (folder / "args.json").write_text("{broken")
    with pytest.raises(ValueError, match="args.json is not valid JSON"):
        read_checkpoint(folder)


def test_every_family_is_importable_and_rejects_foreign_content():
    import importlib

    for name in FAMILIES:
        family = importlib.import_module(f"ganexplorer.generators.{name}")
        assert family.recognise({"encoder.weight": torch.zeros(1)}) is None
        assert family.recognise("not a dict") is None


def test_cli_passes_family_options(tmp_path, capsys):
    assert parse_options(["space=w", "truncation=0.7", "class-index=3"]) == {
        "space": "w", "truncation": 0.7, "class_index": 3}
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_options(["truncation"])
    torch.save({"encoder.weight": torch.zeros(3, 3)}, tmp_path / "other.pt")
    assert main(["sefa", "--model", str(tmp_path / "other.pt"), "--device", "cpu"]) == 2
    assert "recognised formats" in capsys.readouterr().err
    assert main(["sefa", "--model", "mnist", "--option", "space=w", "--device", "cpu"]) == 2
    assert "allowed are none" in capsys.readouterr().err


# ------------------------------------------------------------ the restricted unpickler under attack (issue 14)
def _legacy_storage_bytes(numel_op: bytes | None = None) -> bytes:
    """A 2-float storage as the official pickles hold it (legacy torch.save); ``numel_op`` replaces the
    declared element count (the pickle op ``K\\x02``)."""
    import io
    import warnings

    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # TypedStorage is deprecated (the official pickles hold them)
        torch.save(torch.arange(2.0).storage(), buf, _use_new_zipfile_serialization=False)
    data = buf.getvalue()
    assert b"K\x02N" in data
    return data if numel_op is None else data.replace(b"K\x02N", numel_op + b"N", 1)


class _Call:
    """Pickles as ``func(*args)``."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _storage_pickle(offset: int, size: tuple = (4,)) -> bytes:
    import collections
    import pickle

    from torch.storage import _load_from_bytes

    storage = _Call(_load_from_bytes, _legacy_storage_bytes())
    return pickle.dumps(_Call(torch._utils._rebuild_tensor_v2, storage, offset, size, (1,), False,
                              collections.OrderedDict()), protocol=2)


def _big_storage_pickle() -> bytes:
    import pickle

    from torch.storage import _load_from_bytes
    return pickle.dumps(_Call(_load_from_bytes, _legacy_storage_bytes(b"J\x00\x00\x00\x40")), protocol=2)


# name -> (pickle bytes, what the refusal says); every one was accepted by the C unpickler before issue 14
SETATTR = b"N}X\x05\x00\x00\x00pwnedK\x01s\x86b."  # BUILD (None, {'pwned': 1}): setattr on what is on the stack
PICKLE_ATTACKS = {
    "setattr on PersistentObject": (b"\x80\x02ctorch_utils.persistence\n_reconstruct_persistent_obj\n" + SETATTR,
                                    "did not create"),
    "replace PersistentObject.__init__": (
        b"\x80\x02ctorch_utils.persistence\n_reconstruct_persistent_obj\nN}X\x08\x00\x00\x00__init__"
        b"c_codecs\nencode\ns\x86b.", "did not create"),
    "setattr on EasyDict": (b"\x80\x02cdnnlib.util\nEasyDict\n" + SETATTR, "did not create"),
    "rewrite _numpy_reconstruct.__defaults__": (
        b"\x80\x02cnumpy.core.multiarray\n_reconstruct\nN}X\x0c\x00\x00\x00__defaults__K\x01K\x02\x86s\x86b.",
        "did not create"),
    "bytearray(2**31)": (b"\x80\x02cbuiltins\nbytearray\n\x8a\x05\x00\x00\x00\x80\x00\x85R.", "bytearray\\(int\\)"),
    "torch.Tensor(2**30)": (b"\x80\x02ctorch\nTensor\n\x8a\x04\x00\x00\x00\x40\x85R.",
                            "torch.Tensor\\(...\\) directly"),
    "NEWOBJ torch.Tensor(2**30)": (b"\x80\x02ctorch\nTensor\n\x8a\x04\x00\x00\x00\x40\x85\x81.", "through __new__"),
    "numpy _reconstruct shape 2**30": (
        b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n\x8a\x04\x00\x00\x00\x40\x85C\x01b\x87R.",
        "numpy array of shape"),
    "BINBYTES8 of 2**40": (b"\x80\x04\x8e" + (2**40).to_bytes(8, "little") + b"x.", "declares 1099511627776 bytes"),
    "BYTEARRAY8 of 2**33": (b"\x80\x05\x96" + (2**33).to_bytes(8, "little") + b"x.", "bytearray of 8589934592"),
    "tensor offset 2**30 past an 8-byte storage": (_storage_pickle(2**30), "reaches element 1073741828 of a storage "
                                                                           "of 2 elements"),
    "legacy storage declaring 2**30 elements": (_big_storage_pickle(), "declares 1073741824 elements"),
}


@pytest.mark.parametrize("name", list(PICKLE_ATTACKS))
def test_pickle_attacks_are_refused_and_change_nothing(tmp_path, name):
    """Issue 14: BUILD set attributes on allowed classes and functions for the rest of the process, and
    37-byte pickles allocated 2-4 GiB."""
    import resource

    from ganexplorer.generators import pickles

    data, message = PICKLE_ATTACKS[name]
    path = tmp_path / "attack.pkl"
    path.write_bytes(data)
    watched = (pickles.PersistentObject, pickles.EasyDict, pickles._numpy_reconstruct)
    before = [dict(vars(x)) for x in watched] + [pickles._numpy_reconstruct.__defaults__]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ValueError, match=message):
        pickles.load_pickle(path)
    assert [dict(vars(x)) for x in watched] + [pickles._numpy_reconstruct.__defaults__] == before
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss < 200_000  # KiB: nothing near a GiB


def test_a_storage_pickle_within_bounds_still_loads(tmp_path):
    from ganexplorer.generators.pickles import load_pickle

    path = tmp_path / "ok.pkl"
    path.write_bytes(_storage_pickle(0, (2,)))  # size (2,) at offset 0: fits
    assert torch.equal(load_pickle(path), torch.arange(2.0))


def test_a_whole_module_checkpoint_is_refused_naming_its_class(tmp_path, monkeypatch):
    """Issue 14: torch >= 2.6 words it "Unsupported global: GLOBAL model.Generator ..."; the message said
    "(global: GLOBAL)" instead of naming model.Generator."""
    import sys
    import types

    from ganexplorer.generators.checkpoints import refused_global

    model = types.ModuleType("model")

    class Generator(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(2, 2)

    Generator.__module__, Generator.__qualname__ = "model", "Generator"
    model.Generator = Generator
    monkeypatch.setitem(sys.modules, "model", model)
    torch.save(Generator(), tmp_path / "g_ema.pt")
    torch.save({"g_ema": Generator()}, tmp_path / "wrapped.pt")
    for name in ("g_ema.pt", "wrapped.pt"):
        with pytest.raises(ValueError, match=r"holds Python objects, not just tensors \(model\.Generator\).*"
                                             r"save model\.state_dict\(\) instead") as err:
            load_generator(tmp_path / name)
        assert "GLOBAL)" not in str(err.value)
    # the wordings of the torch versions we support
    assert refused_global("Unsupported global: GLOBAL model.Generator was not an allowed global") == "model.Generator"
    assert refused_global("Trying to load unsupported GLOBAL posix.system whose module posix is blocked.") == \
        "posix.system"
    assert refused_global("Unsupported class model.Generator") == "model.Generator"
    assert refused_global("Unsupported global: model.Generator") == "model.Generator"
    assert refused_global("magic number mismatch") is None


def test_deeply_nested_json_in_checkpoints_and_weight_headers_is_refused_clearly(tmp_path):
    """Beyond issue 14's list: the same 50k-deep JSON as in banks, in a checkpoint folder's args.json and in a
    weights file's header, gave a raw RecursionError."""
    from ganexplorer.files import read_header

    deep = "[" * 50_000 + "]" * 50_000
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "args.json").write_text(deep)
    with pytest.raises(ValueError, match="args.json is JSON nested too deeply"):
        read_checkpoint(folder)
    save_file({"w": torch.ones(1)}, tmp_path / "w.safetensors", metadata={"config": deep})
    with pytest.raises(ValueError, match="nested too deeply"):
        read_header(tmp_path / "w.safetensors")
