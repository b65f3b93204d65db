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
    with pytest.raises(SystemExit, match="KEY=VALUE"):
        parse_options(["truncation"])
    torch.save({"encoder.weight": torch.zeros(3, 3)}, tmp_path / "other.pt")
    assert main(["sefa", "--model", str(tmp_path / "other.pt"), "--device", "cpu"]) == 2
    assert "recognised formats" in capsys.readouterr().err
    assert main(["sefa", "--model", "mnist", "--option", "space=w", "--device", "cpu"]) == 2
    assert "allowed are none" in capsys.readouterr().err
