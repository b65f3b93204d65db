"""Python-side widget tests: state, persistence, errors (no browser; see test_browser.py for that)."""

import threading

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("anywidget")

from ganexplorer import DirectionBank, Explorer, sefa  # noqa: E402
from ganexplorer.widget.canvas import encode, tile  # noqa: E402


@pytest.fixture
def sent(monkeypatch):
    """Capture frames the canvas sends to the browser."""
    from ganexplorer.widget.canvas import LiveCanvas

    messages = []
    monkeypatch.setattr(LiveCanvas, "send", lambda self, msg, buffers=None: messages.append((msg, buffers)))
    return messages


def test_starts_with_sefa_and_renders_a_frame(mnist, sent):
    ex = Explorer(mnist)
    assert ex.bank.source[0] == "sefa" and len(ex._sliders) == len(ex.bank) == 10
    msg, buffers = sent[-1]
    assert msg["type"] == "frame" and msg["format"] == "raw" and len(buffers[0]) == 32 * 32 * 3


def test_sliders_move_the_image_and_frames_are_numbered(mnist, sent):
    ex = Explorer(mnist, samples=2)
    before = ex.frames()
    ex._sliders[0].value = 2.5  # as a browser drag would
    assert ex.shifts[0] == 2.5 and not np.array_equal(before, ex.frames())
    ex.set_shift(1, -1.0)
    assert ex._sliders[1].value == -1.0
    seqs = [m["seq"] for m, _ in sent]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    ex.reset()
    assert np.array_equal(before, ex.frames())
    with pytest.raises(ValueError, match="finite"):
        ex.set_shift(0, float("nan"))


def test_labels_are_saved_on_every_edit_and_restored(tmp_path, mnist, sent):
    path = tmp_path / "mnist.gxb"
    ex = Explorer(mnist, bank_path=path)
    ex.label(2, "slant")
    ex.star(2)
    ex.note(2, "only for 1s and 7s")
    ex.name_box.value = "typed in the box"  # the name box edits the selected direction (0)
    saved = DirectionBank.load(path)
    assert saved.labels[2] == "slant" and saved.starred[2] and saved.notes[2] == "only for 1s and 7s"
    assert saved.labels[0] == "typed in the box"
    again = Explorer(mnist, bank_path=path)  # a kernel restart
    assert again.bank.labels[2] == "slant" and again._sliders[2].description == "slant"


def test_new_methods_keep_what_the_user_named(mnist, sent):
    ex = Explorer(mnist)
    ex.label(3, "thickness")
    ex.run_sefa(k=4)
    assert ex.bank.labels[0] == "thickness" and len(ex.bank) == 5
    ex.run_pca(k=3, n_samples=2000)
    assert ex.bank.labels[0] == "thickness" and ex.bank.source[1:] == ["pca"] * 3


def test_discover_runs_in_background_and_can_be_cancelled(mnist, sent):
    ex = Explorer(mnist)
    ex.discover(steps=40, k=6, block=True, log_every=20)
    assert ex.bank.source == ["discovery"] * 6 and "finished" in ex.status.value
    assert ex.progress.value == 40 and ex.curve.value[:4] == b"\x89PNG"
    started = threading.Event()
    original = ex._say

    def say(html):
        original(html)
        if "step" in html:
            started.set()

    ex._say = say
    thread = ex.discover(steps=100000, k=6, log_every=5)
    assert started.wait(60)
    ex.set_shift(0, 1.0)  # sliders keep working during training
    ex.cancel()
    thread.join(60)
    assert "cancelled" in ex.status.value and ex.bank.info["complete"] is False


def test_errors_show_in_the_status_line(mnist, sent):
    ex = Explorer(mnist)
    ex.k_box.value = 64
    ex.deformator_box.value = "ortho"
    ex._guard(ex.run_pca, 99)
    assert "error" in ex.status.value and "latent size" in ex.status.value
    with pytest.raises(ValueError, match="latent size"):
        Explorer(mnist, bank=DirectionBank(np.eye(3, dtype=np.float32)))


def test_export_grid_gif_and_bank(tmp_path, mnist, sent):
    ex = Explorer(mnist, samples=2)
    ex.star(1)
    grid = Image.open(ex.export_grid(tmp_path / "g.png"))
    assert grid.height < 200  # only the starred direction
    gif = Image.open(ex.export_gif(0, tmp_path / "a.gif", frames=10))
    assert gif.n_frames == 10
    assert len(DirectionBank.load(ex.export_bank(tmp_path / "b.gxb"))) == 10


def test_suggestion_can_be_accepted(shapes, sent):
    ex = Explorer(shapes, bank=sefa(shapes, k=4))
    ex._suggest_or_accept()
    assert ex.suggestion.description.startswith("use: ")
    ex._suggest_or_accept()
    assert ex.bank.labels[0] == ex.name_box.value != "sefa 0"


def test_frame_encoding():
    frames = np.random.default_rng(0).integers(0, 255, (3, 8, 8, 1), dtype=np.uint8)
    strip = tile(frames)
    assert strip.shape == (8, 3 * 8 + 2, 3)
    assert encode(strip, "raw") == ("raw", strip.tobytes())
    fmt, data = encode(np.zeros((300, 300, 3), np.uint8), "auto")
    assert fmt == "jpeg" and data[:2] == b"\xff\xd8"
    with pytest.raises(ValueError, match="unknown frame format"):
        encode(strip, "webp")


def test_pad_moves_two_directions_with_one_frame(mnist, sent):
    ex = Explorer(mnist)
    ex.pad_x.value, ex.pad_y.value = 2, 5
    before = len(sent)
    ex.move_pad(0.5, -1.0)
    assert len(sent) == before + 1  # one redraw for both directions
    assert ex.shifts[2] == 1.5 and ex.shifts[5] == -3.0 and ex._sliders[5].value == -3.0
    ex.pad._down(ex.pad.size, 0)  # a click in the top-right corner, as the canvas reports it
    assert ex.shifts[2] == 3.0 and ex.shifts[5] == 3.0
    ex.pad._dragging = False
    ex.pad._move(0, 0)  # moving without a pressed button does nothing
    assert ex.shifts[2] == 3.0


def test_style_generators_get_a_layer_range_control(style, tmp_path, sent):
    ex = Explorer(style, bank_path=tmp_path / "style.gxb")
    assert ex.layers_box.layout.display == "flex" and ex.layers_box.options == ("all", "0-1", "2-3")
    assert ex.direction_layers.layout.display == "flex"
    ex.layers_box.value = "2-3"
    ex.run_sefa(3, ex.layers_box.value)
    assert ex.bank.layers == ["2-3"] * 3 and ex.bank.num_layers == 4
    before = ex.frames()
    ex.set_shift(0, 2.0)
    assert not np.array_equal(before, ex.frames())
    ex.direction_layers.value = "0"  # as typed in the browser
    assert ex.bank.layers[0] == "0" and DirectionBank.load(tmp_path / "style.gxb").layers[0] == "0"
    ex.direction_layers.value = "9"
    assert "error" in ex.status.value and "4 layers" in ex.status.value
    assert ex.bank.layers[0] == "0" and ex.direction_layers.value == "0"
    again = Explorer(style, bank_path=tmp_path / "style.gxb")
    assert again.bank.layers[0] == "0" and again.direction_layers.value == "0"


def test_flat_generators_hide_the_layer_and_family_controls(mnist, sent):
    ex = Explorer(mnist)
    assert ex.layers_box.layout.display == "none" and ex.truncation_box not in ex._toolbar.children
    with pytest.raises(ValueError, match="not class-conditional"):
        ex.set_class(3)
