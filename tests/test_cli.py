import numpy as np
import pytest
import torch
from PIL import Image

from ganexplorer import DirectionBank, sefa
from ganexplorer.cli import main, parse_indices, parse_shifts
from ganexplorer.traversal import render_traversals


def test_grid_writes_a_labelled_png(tmp_path, capsys):
    out = tmp_path / "grid.png"
    assert main(["grid", "--model", "mnist", "--directions", "0-2", "--shifts=-3:3:5", "--samples", "2",
                 "--out", str(out), "--device", "cpu"]) == 0
    image = Image.open(out)
    assert image.width > 5 * 64 and image.height > 3 * 2 * 64
    assert "wrote" in capsys.readouterr().out


def test_sefa_saves_a_bank_that_loads(tmp_path, mnist):
    out = tmp_path / "b.gxb"
    assert main(["sefa", "--model", "mnist", "-k", "7", "--out", str(out)]) == 0
    bank = DirectionBank.load(out, generator=mnist)
    assert len(bank) == 7 and bank.source[0] == "sefa"


def test_grid_from_a_saved_bank_uses_its_labels(tmp_path, mnist):
    bank = sefa(mnist, k=3)
    bank.label(0, "slant")
    bank.save(tmp_path / "b.gxb")
    assert main(["grid", "--model", "mnist", "--bank", str(tmp_path / "b.gxb"), "--out", str(tmp_path / "g.png")]) == 0


def test_errors_are_reported_not_raised(tmp_path, capsys):
    assert main(["grid", "--model", "nope", "--out", str(tmp_path / "g.png")]) == 2
    assert "recognised: a zoo name" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="do not exist"):
        parse_indices("0-99", 10)
    with pytest.raises(SystemExit, match="from:to:count"):
        parse_shifts("a:b")


def test_parsers():
    assert parse_indices("0-2,5", 10) == [0, 1, 2, 5] and parse_indices("all", 3) == [0, 1, 2]
    assert parse_shifts("-2:2:3") == [-2.0, 0.0, 2.0] and parse_shifts("1,2.5") == [1.0, 2.5]


def test_traversal_frames_are_ordered_direction_sample_shift(mnist):
    bank = sefa(mnist, k=4)
    z = mnist.sample_latents(2, seed=0)
    frames = render_traversals(mnist, bank, z, [3, 1], [-2.0, 0.0, 2.0])
    assert frames.shape == (2, 2, 3, 32, 32, 1)
    expected = mnist.render_uint8(z[1:2] + 2.0 * bank.directions[1])
    assert np.abs(frames[1, 1, 2].astype(int) - expected[0].astype(int)).max() <= 1
    assert np.array_equal(frames[0, 0, 1], frames[1, 0, 1])  # shift 0 is the same image for every direction
    assert torch.is_tensor(z)
