"""Previews while dragging: StyleGAN2 stopped early is exactly its image before the finer blocks, the planner picks
sizes from measured times, and the Explorer sends previews then one full frame once the input rests."""

import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import ganexplorer as gx
from ganexplorer.generators.preview import PreviewPlanner, preview_resolutions, render_preview
from ganexplorer.generators.stylegan2 import StyleGAN2Generator


def test_stylegan2_preview_is_the_image_before_the_last_block():
    torch.manual_seed(0)
    module = StyleGAN2Generator(resolution=16, latent_dim=8, n_mlp=2, channels=8)
    with torch.no_grad():
        for p in module.torgbs[-1].parameters():
            p.zero_()  # the last block then adds nothing: full = upsampled 8x8 image
    g = gx.Generator(module, device="cpu", name="toy-sg2")
    assert preview_resolutions(g) == [4, 8]
    w = g.sample_latents(3, seed=1)
    with torch.no_grad():
        preview = module(w, resolution=8)
        full = module(w)
    assert preview.shape == (3, 3, 8, 8)
    up = F.conv_transpose2d(preview, module.rgb_up, stride=2, padding=1, groups=3)
    torch.testing.assert_close(full, up, atol=1e-5, rtol=1e-5)
    assert render_preview(g, w, 4).shape == (3, 4, 4, 3)
    with pytest.raises(ValueError, match="cannot preview at 16"):
        render_preview(g, w, 16)


class Slow(nn.Module):
    """A generator whose render time is known: ``cost[size]`` seconds per call, 64 px full frames."""

    latent_dim, preview_resolutions = 4, [8, 16, 32]

    def __init__(self):
        super().__init__()
        self.cost = {8: 0.0, 16: 0.03, 32: 0.3, 64: 0.5}
        self.lin = nn.Linear(4, 3)

    def forward(self, z, resolution=None):
        size = resolution or 64
        time.sleep(self.cost[size])
        return torch.tanh(self.lin(z))[:, :, None, None].expand(-1, -1, size, size)


def test_planner_picks_the_largest_size_that_fits_the_measured_budget():
    g = gx.Generator(Slow(), device="cpu", name="slow")
    planner = PreviewPlanner(g, budget=0.1)
    assert not planner.wanted()  # nothing measured yet
    planner.record_full(0.05)
    assert not planner.wanted()  # full frames already fit the budget
    planner.record_full(0.5)
    planner.record_full(0.5)
    assert planner.wanted()
    frames, size = planner.render(g.sample_latents(2, 0))
    assert size == 16 and frames.shape == (2, 16, 16, 3)
    assert set(planner.seconds) == {8, 16, 32} and planner.seconds[32] > 0.1
    g.module.cost[16] = 0.2  # the machine got busy: the next choice follows the measurement
    planner.render(g.sample_latents(2, 0))
    planner.render(g.sample_latents(2, 0))
    assert planner.render(g.sample_latents(2, 0))[1] == 8


def test_explorer_previews_a_drag_and_sends_one_full_frame_when_it_rests(monkeypatch):
    from ganexplorer.widget import Explorer

    sent = []
    monkeypatch.setattr(Explorer, "send", lambda self, msg, buffers=None: sent.append(msg))
    torch.manual_seed(0)
    g = gx.Generator(Slow(), device="cpu", name="slow")
    ex = Explorer(g, bank=gx.DirectionBank(torch.eye(4)[:2]), preview_budget=0.1)
    ex.settle_seconds = 0.2
    frames = lambda: [m for m in sent if m["type"] == "frame"]  # noqa: E731
    start = len(frames())
    for i in range(5):
        ex.set_shift(0, 0.1 * (i + 1))
        time.sleep(0.05)
    drag = frames()[start:]
    assert [m["quality"] for m in drag] == ["preview"] * 5 and {m["size"] for m in drag} == {16}
    time.sleep(1.5)
    after = frames()[start + 5:]
    assert [(m["quality"], m["size"]) for m in after] == [("full", 64)]  # one, for the final position only
    assert after[0]["seq"] > drag[-1]["seq"]
    ex.close_background()


class SlowFlat(Slow):
    """Slow full frames and no way to stop early (like ProGAN)."""

    preview_resolutions: list[int] = []


def test_without_early_stop_the_first_sample_follows_the_drag(monkeypatch):
    from ganexplorer.widget import Explorer

    sent = []
    monkeypatch.setattr(Explorer, "send", lambda self, msg, buffers=None: sent.append((msg, buffers)))
    torch.manual_seed(0)
    g = gx.Generator(SlowFlat(), device="cpu", name="flat")
    ex = Explorer(g, bank=gx.DirectionBank(torch.eye(4)[:2]), samples=3, preview_budget=0.1, frame_format="raw")
    ex.settle_seconds = 0.2
    before = ex.frames()
    ex.set_shift(0, 2.0)
    msg, buffers = sent[-1]
    assert msg["quality"] == "partial" and msg["tiles"]["n"] == 3
    image = np.frombuffer(buffers[0], np.uint8).reshape(msg["height"], msg["width"], 3)
    moved = ex.frames()
    assert np.array_equal(image[:64, :64], moved[0]) and not np.array_equal(moved[0], before[0])
    assert np.array_equal(image[:64, 68:132], before[1])  # the others: as last shown, until the input rests
    time.sleep(1.0)
    msg, buffers = sent[-1]
    assert msg["quality"] == "full"
    image = np.frombuffer(buffers[0], np.uint8).reshape(msg["height"], msg["width"], 3)
    assert np.array_equal(image[:64, 68:132], moved[1])
    ex.close_background()


def genforce_v1_state(channels=(8, 8, 6, 4), d=8, n_mlp=2, seed=0) -> dict:
    """A genforce StyleGAN (v1) file's tensors with random values, a to-RGB ``synthesis.output{b}`` per
    resolution as progressive growing leaves them."""
    g = torch.Generator().manual_seed(seed)
    r = lambda *shape, scale=1.0: torch.randn(shape, generator=g) * scale  # noqa: E731
    blur = torch.outer(torch.tensor([1.0, 2, 1]), torch.tensor([1.0, 2, 1])) / 16
    s = {"truncation.w_avg": r(d), "synthesis.lod": torch.zeros(())}
    for i in range(n_mlp):
        s[f"mapping.dense{i}.weight"], s[f"mapping.dense{i}.bias"] = r(d, d, scale=100.0), r(d)
    for b, c in enumerate(channels):
        for i in (2 * b, 2 * b + 1):
            p = f"synthesis.layer{i}."
            s[p + ("const" if i == 0 else "weight")] = r(1, c, 4, 4) if i == 0 else r(
                c, channels[b - 1] if i == 2 * b else c, 3, 3)
            s[p + "bias"], s[p + "apply_noise.weight"] = r(c, scale=0.1), r(c, scale=0.3)
            s[p + "apply_noise.noise"] = r(1, 1, 4 * 2 ** b, 4 * 2 ** b)
            s[p + "style.weight"], s[p + "style.bias"] = r(2 * c, d), r(2 * c, scale=0.2)
            if i == 2 * b and b > 0:
                s[p + "blur.kernel"] = blur.expand(c, 1, 3, 3).clone()
        s[f"synthesis.output{b}.weight"], s[f"synthesis.output{b}.bias"] = r(3, c, 1, 1), r(3, scale=0.1)
    return s


def test_stylegan_v1_preview_is_the_network_grown_to_that_size():
    """genforce's lod: a preview at size s is what the file's network renders when grown only to s, i.e. the
    same file cut after block s (its layers and that block's own to-RGB, synthesis.output{b})."""
    from ganexplorer.generators.genforce import build_stylegan

    state = genforce_v1_state()
    full, _ = build_stylegan(state)
    g = gx.Generator(full, device="cpu", name="toy-sg1")
    assert preview_resolutions(g) == [4, 8, 16]
    w = g.sample_latents(2, seed=3)
    assert render_preview(g, w, 4).shape == (2, 4, 4, 3)
    for b, size in [(1, 8), (2, 16)]:  # a genforce file has at least two resolutions
        cut = {k: v for k, v in state.items() if not (
            (k.startswith("synthesis.layer") and int(k.split(".")[1][5:]) >= 2 * (b + 1))
            or (k.startswith("synthesis.output") and int(k.split(".")[1][6:]) > b))}
        grown, _ = build_stylegan(cut)
        with torch.no_grad():
            expected = grown(w)
        assert expected.shape == (2, 3, size, size)
        with torch.no_grad():
            torch.testing.assert_close(full(w, resolution=size), expected)  # channels-last weights: ~1e-7
        assert render_preview(g, w, size).shape == (2, size, size, 3)
    with torch.no_grad():
        assert full(w).shape == (2, 3, 32, 32)
    with pytest.raises(ValueError, match="cannot stop at 32"):
        full(w, resolution=32)


def test_stylegan3_cannot_stop_early_so_a_drag_renders_the_first_sample_only():
    """StyleGAN3 has no skip RGB path (one to-RGB after the last layer, every layer at its own sampling rate):
    no preview sizes, and the planner's preview is the full image of the first sample (a reduced batch)."""
    from ganexplorer.generators.stylegan2 import SG3Input, SG3Layer, StyleGAN3Generator

    torch.manual_seed(0)
    layers = [SG3Layer(8, 8, 8, 3, False, 1, 1, [0, 0, 0, 0], None, None, None),
              SG3Layer(8, 8, 3, 1, True, 1, 1, [0, 0, 0, 0], None, None, None)]
    module = StyleGAN3Generator(8, 2, 0.01, SG3Input(8, 8, (12, 12), 12.0, 2.0), layers, 0.5, 16, 3)
    g = gx.Generator(module, device="cpu", name="toy-sg3")
    planner = PreviewPlanner(g, budget=0.0)
    planner.record_full(1.0)
    assert preview_resolutions(g) == [] and planner.sizes == []
    assert not planner.wanted(samples=1) and planner.wanted(samples=3)
    z = g.sample_latents(3, seed=1)
    frames, size = planner.render(z)
    assert size is None and frames.shape == (1, 14, 14, 3)
    assert np.array_equal(frames[0], g.render_uint8(z)[0])
