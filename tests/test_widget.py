"""The Explorer's Python side: state, proposals, refusals, persistence, exports (no browser; see test_browser.py).

Frames are checked against renders made directly with the Generator (z + shift * direction, by hand), never
against the Explorer's own rendering path.
"""

import base64
import io
import time

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("anywidget")

from ganexplorer import DirectionBank, Explorer, sefa  # noqa: E402
from ganexplorer.directions.describe import suggest_labels  # noqa: E402
from ganexplorer.frames import encode, grid_tile  # noqa: E402


@pytest.fixture
def sent(monkeypatch):
    """Capture the messages the widget sends to the browser."""
    messages = []
    monkeypatch.setattr(Explorer, "send", lambda self, msg, buffers=None: messages.append((msg, buffers)))
    return messages


def last_frame(sent) -> tuple[dict, np.ndarray]:
    msg, buffers = [m for m in sent if m[0]["type"] == "frame"][-1]
    assert msg["format"] == "raw"
    return msg, np.frombuffer(buffers[0], np.uint8).reshape(msg["height"], msg["width"], 3)


def tiles(msg, image) -> list[np.ndarray]:
    t = msg["tiles"]
    out = []
    for i in range(t["n"]):
        r, c = divmod(i, t["cols"])
        out.append(image[r * (t["th"] + t["gap"]):][:t["th"], c * (t["tw"] + t["gap"]):][:, :t["tw"]])
    return out


def by_hand(G, z, direction=None, shift=0.0) -> np.ndarray:
    """uint8 (N, H, W, 3) of G(z + shift * direction), computed without the Explorer or the bank."""
    lat = z if direction is None else z + shift * direction.to(z.device)
    with torch.no_grad():
        img = G.module(lat).clamp(-1, 1)
    img = ((img + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return np.repeat(img, 3, -1) if img.shape[-1] == 1 else img


def command(ex, _command, **args):
    """What the front-end sends for a click or a typed value."""
    ex._on_message(ex, {"type": "cmd", "id": 1, "name": _command, "args": args}, [])


def test_first_frame_shows_the_samples_as_a_grid(mnist, sent):
    ex = Explorer(mnist, samples=4, seed=3)
    msg, image = last_frame(sent)
    assert msg["tiles"] == {"n": 4, "tw": 32, "th": 32, "gap": 2, "cols": 2}
    expected = by_hand(mnist, mnist.sample_latents(4, 3))
    for got, want in zip(tiles(msg, image), expected):
        np.testing.assert_array_equal(got, want)
    assert ex.bank.source == ["sefa"] * 10 and len(ex.directions) == 10
    assert ex.snapshot[:4] == b"\x89PNG"  # saved-state image for notebooks opened without a kernel
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(ex.snapshot)).convert("RGB")), image)
    bundle = ex._repr_mimebundle_()  # a picture for viewers without widgets (GitHub, nbviewer)
    bundle = bundle[0] if isinstance(bundle, tuple) else bundle
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert base64.b64decode(bundle["image/png"]) == ex.snapshot


def test_a_slider_move_from_the_browser_renders_z_plus_shift_times_direction(mnist, sent):
    ex = Explorer(mnist, samples=2)
    shifts = [0.0] * 10
    shifts[3] = 2.5
    ex.shifts = shifts  # the front-end syncs the trait
    msg, image = last_frame(sent)
    expected = by_hand(mnist, mnist.sample_latents(2, 0), ex.bank.directions[3], 2.5)
    for got, want in zip(tiles(msg, image), expected):
        np.testing.assert_array_equal(got, want)
    seqs = [m["seq"] for m, _ in sent if m["type"] == "frame"]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    ex.set_shifts({0: 1.0, 1: -1.0})
    assert ex.shifts[:4] == [1.0, -1.0, 0.0, 2.5]
    ex.reset()
    np.testing.assert_array_equal(tiles(*last_frame(sent))[0], by_hand(mnist, mnist.sample_latents(2, 0))[0])


def test_bad_shifts_are_refused_and_never_rendered(mnist, sent):
    ex = Explorer(mnist)
    frames = len(sent)
    with pytest.raises(ValueError, match="finite"):
        ex.set_shift(0, float("nan"))
    ex.shifts = [float("inf")] + [0.0] * 9  # a broken front-end value
    assert ex.shifts == [0.0] * 10
    assert all(m["type"] != "frame" for m, _ in sent[frames:])


@pytest.mark.parametrize("name,args,field,message", [
    ("set_seed", {"seed": "abc"}, "seed", "whole number"),
    ("set_seed", {"seed": "1e99"}, "seed", "whole number"),
    ("set_seed", {"seed": "-1"}, "seed", "from 0 to"),
    ("set_seed", {"seed": "2.5"}, "seed", "whole number"),
    ("set_samples", {"samples": "0"}, "samples", "from 1 to 64"),
    ("set_samples", {"samples": "5000"}, "samples", "from 1 to 64"),
    ("set_range", {"r": "0"}, "shift_range", "above 0"),
    ("set_range", {"r": "nan"}, "shift_range", "finite"),
    ("set_range", {"r": "-2"}, "shift_range", "above 0"),
    ("set_range", {"r": "1e9"}, "shift_range", "at most 100"),
])
def test_typed_values_are_used_or_refused_never_changed(mnist, sent, name, args, field, message):
    ex = Explorer(mnist, seed=7)
    before = getattr(ex, field)
    command(ex, name, **args)
    assert getattr(ex, field) == before
    assert ex.status["kind"] == "error" and message in ex.status["text"]
    reply = sent[-1][0]
    assert reply["type"] == "reply" and reply["ok"] is False and message in reply["error"]


def test_typed_values_that_are_valid_are_used_exactly(mnist, sent):
    ex = Explorer(mnist)
    command(ex, "set_seed", seed=" 42 ")
    command(ex, "set_samples", samples="3")
    command(ex, "set_range", r="2.5")
    assert (ex.seed, ex.samples, ex.shift_range) == (42, 3, 2.5) and ex.bank.shift_range == [2.5] * 10
    torch.testing.assert_close(ex.z, mnist.sample_latents(3, 42))


def test_method_settings_out_of_range_change_nothing(mnist, sent):
    ex = Explorer(mnist)
    before = ex.bank.directions.clone()
    for name, args, message in [("run_sefa", {"k": "100000"}, "from 1 to"), ("run_sefa", {"k": "abc"}, "whole"),
                                ("discover", {"steps": "-50", "k": 4}, "steps must be from 1"),
                                ("discover", {"steps": "1e99", "k": 4}, "whole number"),
                                ("discover", {"steps": 10, "k": 4, "deformator": "A"}, "must be one of"),
                                ("run_pca", {"k": 0}, "from 1 to")]:
        command(ex, name, **args)
        assert message in ex.status["text"], (name, args, ex.status)
    assert ex._thread is None and not ex.proposals and torch.equal(ex.bank.directions, before)


def test_a_run_proposes_and_applying_keeps_what_the_user_named(mnist, sent):
    ex = Explorer(mnist)
    ex.label(3, "thickness")
    ex.star(5)
    original = ex.bank.directions.clone()
    ex.run_sefa(k=4)
    assert torch.equal(ex.bank.directions, original)  # a run alone never touches the sliders
    assert ex.proposals[-1]["k"] == 4 and ex.proposals[-1]["preview"].startswith("data:image/png;base64,")
    ex.apply()  # SeFa's direction 3 is "thickness" already: kept with its name, not added again
    assert ex.bank.labels[:2] == ["thickness", "sefa 5"] and ex.bank.starred[1] and len(ex.bank) == 5
    torch.testing.assert_close(ex.bank.directions[0], original[3])
    torch.testing.assert_close(ex.bank.directions[2:], sefa(mnist, k=4).directions[:3])
    assert "1 already present" in ex.status["text"] and "kept your names" in ex.status["text"]
    assert not ex.proposals
    ex.run_pca(k=3, n_samples=2000)
    ex.apply(mode="add")
    assert len(ex.bank) == 8 and ex.bank.source[-3:] == ["pca"] * 3
    ex.undo()
    assert len(ex.bank) == 5
    ex.undo()
    assert torch.equal(ex.bank.directions, original) and ex.bank.labels[3] == "thickness"
    command(ex, "undo")
    assert "nothing to undo" in ex.status["text"]


def test_undo_keeps_a_direction_named_after_the_change(mnist, sent):
    ex = Explorer(mnist)
    ex.run_sefa(k=3)
    ex.run_pca(k=2, n_samples=2000)
    ex.apply()  # the newest proposal: PCA
    ex.label(0, "pc I named")
    ex.undo()
    assert len(ex.bank) == 11 and ex.bank.labels[-1] == "pc I named"
    assert [p["method"] for p in ex.proposals] == ["SeFa", "PCA"]  # the undone proposal is open again
    ex.discard()
    ex.discard()
    assert not ex.proposals


def wait_for(predicate, timeout=60.0):
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_cancel_leaves_the_bank_exactly_as_before(mnist, sent, tmp_path, monkeypatch):
    monkeypatch.setenv("GANEXPLORER_CHECKPOINTS", str(tmp_path / "ckpt"))
    ex = Explorer(mnist, bank_path=tmp_path / "b.gxb")
    before = (ex.bank.directions.clone(), list(ex.bank.labels))
    thread = ex.discover(steps=100000, k=6, log_every=5)
    assert ex.run["state"] in ("starting", "running")  # feedback before any training step
    assert wait_for(lambda: ex.run.get("step", 0) >= 10)
    ex.set_shift(0, 1.0)  # the sliders keep working while it trains
    assert len(list((tmp_path / "ckpt").glob("*.ckpt"))) <= 1
    ex.cancel()
    thread.join(60)
    assert ex.run["state"] == "cancelled" and ex.run["history"] and ex.run["step"] >= 10
    assert torch.equal(ex.bank.directions, before[0]) and ex.bank.labels == before[1]
    saved = DirectionBank.load(tmp_path / "b.gxb")
    assert torch.equal(saved.directions, before[0])
    p = ex.proposals[-1]
    assert p["method"] == "Discover" and p["complete"] is False and p["summary"].startswith("INCOMPLETE")
    assert not list((tmp_path / "ckpt").glob("*")), "the run's checkpoint is removed when it ends"
    assert "cancelled" in ex.status["text"] and "sliders are unchanged" in ex.status["text"]


def test_cancel_before_the_first_step_proposes_nothing(mnist, sent, tmp_path, monkeypatch):
    import threading
    import types

    import ganexplorer.widget.explorer as module

    def cancelled() -> threading.Event:  # the user pressed Cancel before the first step
        event = threading.Event()
        event.set()
        return event

    monkeypatch.setenv("GANEXPLORER_CHECKPOINTS", str(tmp_path))
    fake = types.SimpleNamespace(Thread=threading.Thread, Timer=threading.Timer, RLock=threading.RLock,
                                 Lock=threading.Lock, Event=cancelled)
    ex = Explorer(mnist)
    monkeypatch.setattr(module, "threading", fake)
    ex.discover(steps=100, k=4, block=True)
    assert ex.run["state"] == "cancelled" and ex.run["step"] == 0 and not ex.proposals
    assert "nothing to propose" in ex.status["text"]


def test_a_run_that_ends_after_something_was_applied_does_not_touch_the_sliders(mnist, sent, tmp_path,
                                                                                  monkeypatch):
    monkeypatch.setenv("GANEXPLORER_CHECKPOINTS", str(tmp_path))
    ex = Explorer(mnist)
    thread = ex.discover(steps=100000, k=6, log_every=5)
    assert wait_for(lambda: ex.run.get("step", 0) >= 5)
    ex.run_sefa(k=5, apply=True)  # the user applies SeFa while discovery trains
    applied = ex.bank.directions.clone()
    ex.cancel()
    thread.join(60)
    assert torch.equal(ex.bank.directions, applied) and ex.bank.source == ["sefa"] * 5
    assert [p["method"] for p in ex.proposals] == ["Discover"]
    command(ex, "discover", steps=10, k=3)
    assert wait_for(lambda: ex.run["state"] == "done")
    assert torch.equal(ex.bank.directions, applied)


def test_a_finished_run_is_a_complete_proposal_with_its_curve(mnist, sent, tmp_path, monkeypatch):
    monkeypatch.setenv("GANEXPLORER_CHECKPOINTS", str(tmp_path))
    ex = Explorer(mnist)
    ex.discover(steps=40, k=6, block=True, log_every=10, keep_checkpoint=True)
    assert ex.run["state"] == "done" and ex.run["step"] == 40
    assert [h[0] for h in ex.run["history"]] == [10, 20, 30, 40]
    assert ex.run["chance"] == pytest.approx(1 / 6)
    p = ex.proposals[-1]
    assert p["complete"] and p["k"] == 6
    assert len(list(tmp_path.glob("*.ckpt"))) == 1 and "checkpoint kept" in ex.status["text"]
    ex.apply(p["id"])
    assert ex.bank.source == ["discovery"] * 6


def test_an_older_error_gives_way_to_the_next_success(mnist, sent):
    ex = Explorer(mnist)
    command(ex, "set_seed", seed="1e99")
    assert ex.status["kind"] == "error"
    command(ex, "set_seed", seed="42")
    assert ex.status["kind"] == "ok" and "42" in ex.status["text"]


def test_export_name_is_checked_when_typed(mnist, sent, tmp_path):
    ex = Explorer(mnist)
    command(ex, "set_export_name", name=str(tmp_path / "missing" / "x"))
    assert ex.export_name == "ganexplorer_export" and "does not exist" in ex.status["text"]
    command(ex, "set_export_name", name=str(tmp_path / "figure"))
    assert ex.export_name == str(tmp_path / "figure") and str(tmp_path / "figure") in ex.status["text"]


def test_labels_are_saved_on_every_edit_and_restored(tmp_path, mnist, sent):
    path = tmp_path / "mnist.gxb"
    ex = Explorer(mnist, bank_path=path)
    command(ex, "label", k=2, name="slant")
    command(ex, "star", k=2, starred=True)
    command(ex, "note", k=2, text="only for 1s and 7s")
    saved = DirectionBank.load(path)
    assert saved.labels[2] == "slant" and saved.starred[2] and saved.notes[2] == "only for 1s and 7s"
    assert ex.directions[2]["label"] == "slant" and ex.directions[2]["named"] and ex.directions[2]["kept"]
    assert not ex.directions[3]["named"] and not ex.directions[3]["kept"]
    again = Explorer(mnist, bank_path=path)  # a kernel restart
    assert again.bank.labels[2] == "slant" and again.directions[2]["starred"]


def test_two_explorers_on_one_bank_keep_both_users_labels(tmp_path, mnist, sent):
    path = tmp_path / "shared.gxb"
    a = Explorer(mnist, bank_path=path)
    b = Explorer(mnist, bank_path=path)
    for i in range(5):
        a.label(2 * i, f"from a {i}")
        b.label(2 * i + 1, f"from b {i}")
    b.star(0)
    disk = DirectionBank.load(path)
    assert disk.labels[:10] == [f"from {w} {i}" for i in range(5) for w in "ab"] and disk.starred[0]
    assert b.bank.labels[0] == "from a 0"  # b picked up a's edits ...
    a.refresh()
    assert a.directions[9]["label"] == "from b 4" and a.directions[0]["starred"]  # ... and a picks up b's
    a.set_range(2.0)  # saved at once, over b's latest labels
    disk2 = DirectionBank.load(path)
    assert disk2.shift_range == [2.0] * 10 and disk2.labels[:10] == disk.labels[:10]
    b.run_sefa(k=3, apply=True)  # a new method run on b keeps a's named directions
    assert DirectionBank.load(path).labels[:10] == disk.labels[:10]


def test_hidden_directions_are_kept_by_new_runs(mnist, sent):
    ex = Explorer(mnist)
    ex.hide(4)
    assert ex.directions[4]["hidden"] and ex.directions[4]["kept"] and not ex.directions[4]["named"]
    ex.run_sefa(k=2, apply=True)
    assert ex.bank.hidden[0] and len(ex.bank) == 3


def test_gallery_thumbnails_are_traversals_of_the_direction(mnist, sent):
    ex = Explorer(mnist, samples=2)
    ex.request_thumbnails([1, 4])
    msg, buffers = sent[-1]
    assert msg["type"] == "thumbs" and [r["k"] for r in msg["rows"]] == [1, 4]
    assert msg["rows"][0]["shifts"] == [-3.0, -1.5, 0.0, 1.5, 3.0]
    sheet = np.asarray(Image.open(io.BytesIO(buffers[1])).convert("RGB"))  # direction 4: 2 samples x 5 shifts
    cells = tiles({"tiles": {"n": 10, "tw": 32, "th": 32, "gap": 2, "cols": 5}}, sheet)
    z = mnist.sample_latents(2, 0)
    np.testing.assert_array_equal(cells[2], by_hand(mnist, z)[0])  # shift 0, sample 0
    np.testing.assert_array_equal(cells[4], by_hand(mnist, z, ex.bank.directions[4], 3.0)[0])
    np.testing.assert_array_equal(cells[5], by_hand(mnist, z, ex.bank.directions[4], -3.0)[1])


def test_gallery_of_64_directions_renders_in_one_call(mnist, sent, monkeypatch):
    calls = []
    original = type(mnist).render_uint8
    monkeypatch.setattr(type(mnist), "render_uint8",
                        lambda self, z, **kw: calls.append(len(z)) or original(self, z, **kw))
    ex = Explorer(mnist, bank=sefa(mnist, k=64))
    calls.clear()
    ex.request_thumbnails(list(range(64)))
    assert calls == [64 * 1 * 5] and len(sent[-1][1]) == 64


def test_suggestions_are_measured_and_accepted_as_shown(shapes, sent):
    ex = Explorer(shapes, bank=sefa(shapes, k=4))
    ex.request_suggestions([0, 1])
    ex._suggest_thread.join(120)
    shown = ex.directions[1]["suggestion"]
    assert shown and 0 <= ex.directions[1]["confidence"] <= 1
    # what the gallery shows is describe's suggestion for that direction (the background worker uses n=8)
    assert (shown, ex.directions[1]["confidence"]) == suggest_labels(shapes, ex.bank.select([1]), n=8)[0]
    command(ex, "accept_suggestion", k=1)
    assert ex.bank.labels[1] == shown and ex.directions[1]["named"]


class ProceduralShapes(torch.nn.Module):
    """Latent i sets shapes factor i (x, y, scale, rotation, brightness, hue): every direction's effect is known."""

    latent_dim = 6

    def forward(self, z):
        from ganexplorer.data.shapes import render_shapes

        return render_shapes((0.5 + 0.12 * z).clamp(0.02, 0.98))


def test_accepted_suggestions_name_known_directions_with_their_sign(sent, monkeypatch):
    import ganexplorer.widget.gallery as explorer_module  # the gallery part measures suggestions
    from ganexplorer import Generator

    g = Generator(ProceduralShapes(), device="cpu", name="procedural")
    bank = DirectionBank(torch.tensor([[1.0, 0, 0, 0, 0, 0], [0, -1.0, 0, 0, 0, 0], [0, 0, 0, -1.0, 0, 0]]),
                         shift_range=2.0)
    ex = Explorer(g, bank=bank)
    calls = []
    original = explorer_module.suggest_labels
    monkeypatch.setattr(explorer_module, "suggest_labels", lambda *a, **kw: calls.append(1) or original(*a, **kw))
    label, confidence = ex.suggest(0)
    assert (label, confidence) == suggest_labels(g, bank.select([0]), n=12)[0] and confidence > 0.9
    assert ex.suggest(0) == (label, confidence) and len(calls) == 1  # measured once, then remembered
    assert [ex.accept_suggestion(k) for k in range(3)] == ["moves right", "moves up", "rotates clockwise"]
    assert ex.bank.labels == ["moves right", "moves up", "rotates clockwise"]
    assert [d["label"] for d in ex.directions] == ex.bank.labels


def test_exports_are_absolute_paths_sent_to_the_browser(tmp_path, mnist, sent, monkeypatch):
    import imageio_ffmpeg

    monkeypatch.chdir(tmp_path)
    ex = Explorer(mnist, samples=2)
    ex.star(1)
    command(ex, "set_export_name", name="mine")
    grid = ex.export_grid()
    assert grid == tmp_path / "mine_grid_001.png" and grid.is_absolute()
    assert Image.open(grid).height < 200  # only the starred direction
    msg, buffers = [m for m in sent if m[0]["type"] == "file"][-1]
    assert msg["path"] == str(grid) and buffers[0] == grid.read_bytes() and msg["mime"] == "image/png"
    gif = ex.export_gif(0, frames=10)
    assert Image.open(gif).n_frames == 10
    mp4 = ex.export_mp4(0, frames=12)
    frames, _ = imageio_ffmpeg.count_frames_and_secs(str(mp4))
    assert frames == 12 and mp4.read_bytes()[4:8] == b"ftyp"
    assert len(DirectionBank.load(ex.export_bank())) == 10
    assert [e["kind"] for e in ex.exports] == ["bank", "MP4", "GIF", "grid PNG"]
    command(ex, "export_grid", path=str(tmp_path / "no" / "such" / "dir.png"))
    assert ex.status["kind"] == "error" and "does not exist" in ex.status["text"]


def test_style_generators_get_layer_ranges_checked_before_use(style, tmp_path, sent):
    ex = Explorer(style, bank_path=tmp_path / "style.gxb")
    assert ex.generator_info["layer_presets"] == ["all", "0-1", "2-3"]
    ex.run_sefa(3, "2-3", apply=True)
    assert ex.bank.layers[-3:] == ["2-3"] * 3 and ex.bank.num_layers == 4
    k = len(ex.bank) - 3
    command(ex, "set_layers", k=k, layers="0")
    assert ex.bank.layers[k] == "0" and DirectionBank.load(tmp_path / "style.gxb").layers[k] == "0"
    for bad, message in [("9", "4 layers"), ("5-", "not understood"), ("0-99999999999", "4 layers"),
                         ("3-1", "backwards")]:
        command(ex, "set_layers", k=k, layers=bad)
        assert message in ex.status["text"] and ex.bank.layers[k] == "0", bad
    command(ex, "run_sefa", k=2, layers="0-7")
    assert "4 layers" in ex.status["text"]


def test_flat_generators_refuse_family_settings(mnist, sent):
    ex = Explorer(mnist)
    assert ex.generator_info["layer_presets"] == ["all"] and not ex.generator_info["truncation"]
    command(ex, "set_class", index=3)
    assert "not class-conditional" in ex.status["text"]
    command(ex, "run_sefa", k=2, layers="0-1")
    assert "only 'all'" in ex.status["text"]


def test_pad_moves_two_directions_with_one_frame(mnist, sent):
    ex = Explorer(mnist)
    command(ex, "set_pad", x=2, y=5)
    before = len([m for m in sent if m[0]["type"] == "frame"])
    ex.move_pad(0.5, -1.0)
    assert len([m for m in sent if m[0]["type"] == "frame"]) == before + 1
    assert ex.shifts[2] == 1.5 and ex.shifts[5] == -3.0


def test_frame_encoding():
    frames = np.random.default_rng(0).integers(0, 255, (3, 8, 8, 1), dtype=np.uint8)
    image = grid_tile(frames)
    assert image.shape == (8, 3 * 8 + 2, 3)
    assert encode(image, "raw") == ("raw", image.tobytes())
    fmt, data = encode(np.zeros((300, 300, 3), np.uint8), "auto")
    assert fmt == "jpeg" and data[:2] == b"\xff\xd8"
    with pytest.raises(ValueError, match="unknown frame format"):
        encode(image, "webp")
    assert grid_tile(np.zeros((16, 4, 4, 3), np.uint8)).shape == (4 * 4 + 3, 4 * 4 + 3, 3)  # 4 x 4


def test_wrong_banks_are_refused(mnist, sent):
    with pytest.raises(ValueError, match="latent size"):
        Explorer(mnist, bank=DirectionBank(np.eye(3, dtype=np.float32)))
    with pytest.raises(ValueError, match="samples must be from 1 to 64"):
        Explorer(mnist, samples=5000)


def test_only_known_commands_run(mnist, sent):
    ex = Explorer(mnist)
    command(ex, "__init__")
    assert "unknown command" in ex.status["text"]


def _toy_stylegan_explorer():
    """A random-weight 8 px StyleGAN2 (4 layers, a random w_avg) in an Explorer of 2 samples at seed 5."""
    import ganexplorer as gx
    from ganexplorer.generators.stylegan2 import StyleGAN2Generator

    torch.manual_seed(0)
    module = StyleGAN2Generator(resolution=8, latent_dim=8, n_mlp=2, channels=8)
    module.w_avg.copy_(torch.randn(8))
    g = gx.Generator(module, device="cpu", name="toy-sg2")
    return g, Explorer(g, samples=2, seed=5)


def test_truncation_resamples_the_same_seed_closer_to_the_mean(sent):
    g, ex = _toy_stylegan_explorer()
    module = g.module
    assert ex.generator_info["truncation"] and ex.generator_info["layer_presets"] == ["all", "0-1", "2-3"]  # 4 layers
    command(ex, "set_truncation", psi="0.5")
    noise = torch.randn(2, 8, generator=torch.Generator().manual_seed(5))
    by_hand_w = module.w_avg + 0.5 * (module.map(noise) - module.w_avg)  # psi-truncation, written out
    torch.testing.assert_close(ex.z, by_hand_w)
    assert ex.truncation == 0.5 and "0.5" in ex.status["text"]
    command(ex, "set_truncation", psi="3")
    assert ex.truncation == 0.5 and "from -1 to 2" in ex.status["text"]


def test_select_and_resample(mnist, sent):
    ex = Explorer(mnist)
    command(ex, "select", k=-1)
    assert ex.selected == 9
    command(ex, "select", k=10)
    assert ex.selected == 9 and "does not exist" in ex.status["text"]
    ex.resample()
    assert 0 <= ex.seed <= 2**31 - 1
    torch.testing.assert_close(ex.z, mnist.sample_latents(1, ex.seed))


def frame_tiles(sent) -> list[np.ndarray]:
    return tiles(*last_frame(sent))


def test_set_shifts_moves_several_directions_in_one_frame(mnist, sent):
    ex = Explorer(mnist, samples=2, seed=4)
    before = sum(m["type"] == "frame" for m, _ in sent)
    ex.set_shifts({0: 1.0, 2: -1.5})
    assert sum(m["type"] == "frame" for m, _ in sent) == before + 1
    d = ex.bank.directions
    expected = by_hand(mnist, mnist.sample_latents(2, 4) + 1.0 * d[0] - 1.5 * d[2])
    for got, want in zip(frame_tiles(sent), expected):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(IndexError, match="direction 10 does not exist"):
        ex.set_shifts({10: 1.0})
    assert ex.shifts[0] == 1.0 and ex.shifts[2] == -1.5


def test_set_range_pulls_shifts_in_shows_them_and_saves_the_range(tmp_path, mnist, sent):
    path = tmp_path / "bank.gxb"
    ex = Explorer(mnist, bank_path=path, samples=1, seed=2)
    ex.set_shifts({1: 2.5, 4: -0.5})
    command(ex, "set_range", r="1.0")
    assert ex.shifts[1] == 1.0 and ex.shifts[4] == -0.5 and "pulled in" in ex.status["text"]
    assert ex.bank.shift_range == [1.0] * 10 and [d["range"] for d in ex.directions] == [1.0] * 10
    assert DirectionBank.load(path).shift_range == [1.0] * 10  # saved at once
    d = ex.bank.directions
    np.testing.assert_array_equal(frame_tiles(sent)[0],
                                  by_hand(mnist, mnist.sample_latents(1, 2) + 1.0 * d[1] - 0.5 * d[4])[0])
    assert ex.thumbnail_shifts(1)[0] == -1.0 and ex.thumbnail_shifts(1)[-1] == 1.0


def test_resample_draws_the_seeds_latents_and_keeps_the_sliders(mnist, sent):
    ex = Explorer(mnist, samples=1, seed=0)
    ex.set_shift(3, 2.0)
    ex.resample(seed=11, samples=3)
    assert (ex.seed, ex.samples) == (11, 3) and ex.shifts[3] == 2.0
    z = mnist.sample_latents(3, 11)
    torch.testing.assert_close(ex.z, z)
    got = frame_tiles(sent)
    assert len(got) == 3
    for g, want in zip(got, by_hand(mnist, z, ex.bank.directions[3], 2.0)):
        np.testing.assert_array_equal(g, want)
    assert sent[-1][0] == {"type": "thumbs-stale"}  # the gallery redraws for the new samples
    ex.resample()  # a fresh random seed, same number of samples
    assert ex.samples == 3 and 0 <= ex.seed < 2**31
    torch.testing.assert_close(ex.z, mnist.sample_latents(3, ex.seed))


def test_truncation_stays_for_later_seeds_and_is_what_the_frame_shows(sent):
    g, ex = _toy_stylegan_explorer()
    module = g.module
    command(ex, "set_truncation", psi="0.0")  # psi 0: every sample is the average image
    command(ex, "set_seed", seed="9")
    torch.testing.assert_close(ex.z, module.w_avg.expand(2, -1))
    a, b = frame_tiles(sent)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, by_hand(g, module.w_avg[None])[0])
    command(ex, "set_truncation", psi="1")
    noise = torch.randn(2, 8, generator=torch.Generator().manual_seed(9))
    torch.testing.assert_close(ex.z, module.map(noise))


class ClassConditional(torch.nn.Module):
    """A toy class-conditional generator: one fixed image per class plus a latent-dependent part."""

    latent_dim, num_classes = 4, 3

    def __init__(self):
        super().__init__()
        self.class_index = 0
        self.images = torch.nn.Parameter(torch.randn(3, 3, 8, 8, generator=torch.Generator().manual_seed(1)) * 0.3)
        self.fc = torch.nn.Linear(4, 3 * 8 * 8)

    def forward(self, z):
        return torch.tanh(self.fc(z).view(-1, 3, 8, 8) * 0.1 + self.images[self.class_index])


def test_set_class_draws_that_class_and_keeps_the_sliders(sent):
    from ganexplorer import Generator

    torch.manual_seed(0)
    module = ClassConditional()
    g = Generator(module, device="cpu", name="toy-conditional")
    ex = Explorer(g, bank=DirectionBank(torch.eye(4)), samples=1, seed=3)
    assert ex.generator_info["classes"] == 3
    ex.set_shift(1, 1.5)
    command(ex, "set_class", index="2")
    assert ex.class_index == 2 and module.class_index == 2 and ex.shifts[1] == 1.5
    z = g.sample_latents(1, 3) + 1.5 * torch.eye(4)[1]
    with torch.no_grad():  # the class's image, written out from the weights
        want = torch.tanh(module.fc(z).view(-1, 3, 8, 8) * 0.1 + module.images[2])
    want = ((want + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()[0]
    np.testing.assert_array_equal(frame_tiles(sent)[0], want)
    command(ex, "set_class", index="3")
    assert ex.class_index == 2 and "from 0 to 2" in ex.status["text"]
    flat = Explorer(Generator(ProceduralShapes(), device="cpu"), bank=DirectionBank(torch.eye(6)))
    command(flat, "set_class", index="1")
    assert "not class-conditional" in flat.status["text"] and flat.class_index == 0


def test_reapplying_sefa_keeps_the_named_directions_and_adds_no_copies(mnist, sent):
    """Issue 27 point 2: SeFa K=20, name 0-9, SeFa K=10 and apply gave 10 unnamed copies of the named ones."""
    ex = Explorer(mnist)
    ex.run_sefa(k=20, apply=True)
    for i in range(10):
        ex.label(i, f"mine {i}")
    ex.run_sefa(k=10)
    ex.apply()
    assert len(ex.bank) == 10 and ex.bank.labels == [f"mine {i}" for i in range(10)]
    assert "10 already present" in ex.status["text"] and "kept your names" in ex.status["text"]
    unit = ex.bank.directions / ex.bank.directions.norm(dim=1, keepdim=True)
    cos = (unit @ unit.T).abs() - torch.eye(len(ex.bank))
    assert cos.max() < 0.999  # no two sliders are one direction
    ex.run_sefa(k=12)
    ex.apply(mode="add")  # added after all: only the 2 that are new
    assert len(ex.bank) == 12 and ex.bank.labels[:10] == [f"mine {i}" for i in range(10)]
    assert "10 already present" in ex.status["text"]
    ex.undo()
    ex.undo()
    assert len(ex.bank) == 20 and ex.bank.labels[:10] == [f"mine {i}" for i in range(10)]


def test_the_same_vector_on_other_layers_is_not_a_duplicate(style, sent):
    from ganexplorer.widget.explorer import duplicates

    bank = sefa(style, k=3)
    other = bank.select([0, 1, 2])
    other.layers = ["0-1", None, None]
    assert duplicates(bank, other) == {1: 1, 2: 2}


def test_a_huge_shift_is_refused_before_it_is_stored(mnist, sent):
    """Issue 27 point 10: set_shift(0, 1e7) was kept, and every later redraw failed until reset()."""
    ex = Explorer(mnist)
    ex.set_shift(1, 0.5)
    for bad in (1e7, float("nan"), float("inf"), "abc"):
        with pytest.raises(ValueError, match="shift of direction 0"):
            ex.set_shift(0, bad)
        assert ex.shifts[:2] == [0.0, 0.5]
    ex.set_shift(2, 1.0)  # later redraws work
    assert ex.shifts[:3] == [0.0, 0.5, 1.0]
    ex.shifts = [1e7] + [0.0] * 9  # the browser's trait: refused, the last good values stay
    assert ex.shifts[:3] == [0.0, 0.5, 1.0]


def test_the_pad_refuses_what_it_cannot_use_instead_of_moving(mnist, sent):
    """Issue 27 point 10: move_pad(nan, 0) silently moved shift 0 to +3.0."""
    ex = Explorer(mnist)
    for u, v in ((float("nan"), 0), (0, float("inf")), (1.5, 0), ("x", 0)):
        with pytest.raises(ValueError, match="pad"):
            ex.move_pad(u, v)
        assert ex.shifts == [0.0] * 10
    ex.move_pad(0.5, -1)
    assert ex.shifts[0] == 1.5 and ex.shifts[1] == -3.0


def test_empty_names_are_refused_and_shared_names_warned(mnist, sent):
    """Issue 27 point 9: label(0, "") gave a nameless slider no run could replace; twin names passed silently."""
    ex = Explorer(mnist)
    for empty in ("", "   "):
        command(ex, "label", k=0, name=empty)
        assert ex.status["kind"] == "error" and "cannot be empty" in ex.status["text"]
        assert ex.bank.labels[0] == "sefa 0"
    ex.label(0, "thickness")
    command(ex, "label", k=4, name="thickness")
    assert ex.bank.labels[4] == "thickness"  # used as typed...
    assert ex.status["kind"] == "warn" and "direction 0" in ex.status["text"]  # ...and said


def test_exports_are_named_after_the_direction_and_never_overwrite(tmp_path, mnist, sent, monkeypatch):
    """Issue 27 point 4: select(3); export_gif(); select(5); export_gif() left one file."""
    monkeypatch.chdir(tmp_path)
    ex = Explorer(mnist)
    ex.label(3, "thickness / slant")
    ex.select(3)
    a = ex.export_gif(frames=4, size=32)
    ex.select(5)
    b = ex.export_gif(frames=4, size=32)
    c = ex.export_gif(frames=4, size=32)
    assert [p.name for p in (a, b, c)] == ["ganexplorer_export_3-thickness-slant_001.gif",
                                           "ganexplorer_export_5-sefa-5_001.gif", "ganexplorer_export_5-sefa-5_002.gif"]
    assert all(p.exists() for p in (a, b, c)) and "direction 5 'sefa 5'" in ex.status["text"]
    assert ex.exports[0]["about"] == "direction 5 'sefa 5'"
    assert ex.export_grid().name == "ganexplorer_export_grid_001.png"
    assert ex.export_bank().name == "ganexplorer_export_bank_001.gxb"


def test_the_range_box_says_when_it_replaces_ranges_of_their_own(mnist, sent):
    """Issue 27 point 8: typing a range overwrote every direction's own range without a word."""
    bank = sefa(mnist, k=4)
    bank.shift_range = [1.5, 3.0, 6.5, 2.0]
    ex = Explorer(mnist, bank=bank)
    assert [d["range"] for d in ex.directions] == [1.5, 3.0, 6.5, 2.0]
    command(ex, "set_range", r="4")
    assert ex.bank.shift_range == [4.0] * 4
    assert ex.status["kind"] == "warn" and "±1.5 to ±6.5" in ex.status["text"] and "replaced" in ex.status["text"]
    bank = sefa(mnist, k=2)
    bank.shift_range = [2.5, 2.5]
    assert Explorer(mnist, bank=bank).shift_range == 2.5  # the box shows the directions' own range


def test_rough_edges_layer_example_and_rounded_shifts(style, sent):
    """Issue 27 point 11: the layer-range example fits the model; the preview's shifts are rounded."""
    from ganexplorer.widget import values

    with pytest.raises(values.Refused) as err:
        values.layer_range("5-", 8)
    assert "'0-1,7'" in str(err.value) and "'0-1,8'" not in str(err.value)
    ex = Explorer(style, bank=sefa(style, k=3))
    bank = sefa(style, k=3)
    bank.shift_range = [2.78078] * 3
    ex._propose("SeFa", bank)
    assert "2.78078" not in ex.proposals[-1]["preview_note"] and "2.78" in ex.proposals[-1]["preview_note"]


def test_discover_takes_a_learning_rate_and_reports_elapsed_time_and_eta(mnist, sent, tmp_path, monkeypatch):
    """Issue 27 point 5: the rate was fixed at 1e-4 (accuracy 0.41 after 1000 steps; 0.82 at 1e-3) and the run box
    showed no elapsed time or ETA."""
    import ganexplorer.widget.explorer as module

    monkeypatch.setenv("GANEXPLORER_CHECKPOINTS", str(tmp_path))
    rates = []
    real = module.DiscoveryTrainer

    def spy(*args, **kwargs):
        rates.append(kwargs.get("lr"))
        return real(*args, **kwargs)

    monkeypatch.setattr(module, "DiscoveryTrainer", spy)
    ex = Explorer(mnist)
    assert ex.generator_info["discover_lr"] == 1e-3
    seen = []
    ex.observe(lambda change: seen.append(dict(change["new"])), "run")
    ex.discover(steps=20, k=4, block=True, log_every=10)
    halfway = [r for r in seen if r["state"] == "running" and r["step"] == 10]
    assert halfway and halfway[-1]["elapsed"] > 0  # half the steps done: about as long again to go
    assert halfway[-1]["eta"] == pytest.approx(halfway[-1]["elapsed"], rel=0.2, abs=0.15)
    command(ex, "discover", steps=20, k=4, lr="3e-3")
    assert wait_for(lambda: ex.run["state"] == "done")
    assert rates == [1e-3, 3e-3] and ex.run["lr"] == 3e-3
    assert ex.run["elapsed"] > 0 and ex.run["eta"] == 0.0
    for bad in ("0", "abc", "nan", "2"):
        command(ex, "discover", steps=20, k=4, lr=bad)
        assert ex.status["kind"] == "error" and "learning rate" in ex.status["text"]
    assert rates == [1e-3, 3e-3]  # nothing started with a refused rate


def test_play_sweeps_the_direction_back_and_forth_and_stop_puts_it_back(mnist, sent):
    """Issue 27 deliverable 2: play a direction (an animated sweep in the live image), like StyleGAN3's viewer."""
    ex = Explorer(mnist)
    ex.set_shift(2, 0.5)
    ex.select(2)
    seen = []
    ex.observe(lambda change: seen.append(change["new"][2]), "shifts")
    frames_before = sum(m["type"] == "frame" for m, _ in sent)
    command(ex, "play", period=0.4)
    assert ex.playing == 2 and "playing direction 2" in ex.status["text"]
    assert wait_for(lambda: min(seen, default=0) < -2.5 and max(seen, default=0) > 2.5, timeout=20)
    ex.set_shift(0, 1.0)  # the other sliders keep working while it plays
    command(ex, "stop")
    assert ex.playing == -1 and ex.shifts[2] == 0.5 and ex.shifts[0] == 1.0
    assert all(-3.0 <= v <= 3.0 for v in seen)
    assert sum(m["type"] == "frame" for m, _ in sent) - frames_before >= 6  # each step of the sweep is a frame
    ex.play(3, period=0.2, loops=2).join(10)  # a fixed number of sweeps ends by itself
    assert ex.playing == -1 and ex.shifts[3] == 0.0
    command(ex, "play", k=1, period="0")
    assert ex.status["kind"] == "error" and "period" in ex.status["text"] and ex.playing == -1
    ex.play(4, period=5)
    ex.run_sefa(k=3, apply=True)  # the sliders' directions change: the playing stops
    assert ex.playing == -1 and ex.shifts == [0.0] * 3


def test_class_mode_sends_larger_thumbnails_and_previews_of_more_directions(mnist, sent):
    """Issue 27 point 6: 32 px thumbnail cells and previews of only 4 directions could not be seen on a projector."""
    ex = Explorer(mnist)
    ex.request_thumbnails([0])
    small = Image.open(io.BytesIO([b for m, b in sent if m["type"] == "thumbs"][-1][0]))
    ex.run_sefa(k=12)
    preview = Image.open(io.BytesIO(base64.b64decode(ex.proposals[-1]["preview"].split(",", 1)[1])))
    assert preview.height > 8 * 32 and "directions 0-9 of 12" in ex.proposals[-1]["preview_note"]
    command(ex, "present")
    assert ex.size == "large" and sent[-2][0] == {"type": "thumbs-stale"}
    ex.request_thumbnails([0])
    large = Image.open(io.BytesIO([b for m, b in sent if m["type"] == "thumbs"][-1][0]))
    assert large.width >= 4 * small.width and large.width >= 5 * 160  # cells of 160 px, 5 shifts
    ex.present(False)
    assert ex.size == "normal"
    with pytest.raises(ValueError, match="size"):
        Explorer(mnist, size="huge")
