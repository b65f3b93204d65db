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
