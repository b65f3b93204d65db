"""The Explorer's mask preview, on the scenes renderer as a generator: a known background direction."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

import ganexplorer as gx
from ganexplorer.data.scenes import BACKGROUND_FACTORS, SCENE_FACTORS, SceneRenderer, render_scenes
from ganexplorer.data.shapes import FACTORS

BG_VALUE = len(FACTORS) + BACKGROUND_FACTORS.index("bg_value")


def mask_sheet(*args):
    from ganexplorer.widget.explorer import mask_sheet

    return mask_sheet(*args)


@pytest.fixture
def explorer(monkeypatch):
    from ganexplorer.widget import Explorer

    sent = []
    monkeypatch.setattr(Explorer, "send", lambda self, msg, buffers=None: sent.append((msg, buffers)))
    g = gx.Generator(SceneRenderer(), device="cpu", name="scenes-renderer")
    ex = Explorer(g, bank=gx.DirectionBank(torch.eye(len(SCENE_FACTORS))), samples=6, seed=3, frame_format="raw")
    ex.sent = sent
    return ex


def test_mask_preview_of_the_background_direction_gives_the_true_masks(explorer):
    ex = explorer
    out = ex.mask_preview(BG_VALUE)
    assert out["k"] == BG_VALUE and out["shift"] in (-3.0, -4.0, -5.0) and out["keep"].all()  # darkening
    true = render_scenes(ex.generator.module.factors(ex.z))[1].numpy() > 0.5
    iou = (out["masks"] & true).sum() / (out["masks"] | true).sum()
    assert iou > 0.85  # the ratio rule (default); the brightness rule's masks are checked below
    frames = out["traversal"]  # (N, 5, H, W, C): from the sample to the shifted image
    assert frames.shape == (6, 5, 32, 32, 3)
    assert np.array_equal(frames[:, 0], ex.frames())
    assert frames[:, -1][~out["masks"]].max(-1).mean() < 15  # the background went (near) black
    msg, buffers = ex.sent[-1]
    assert msg["type"] == "masks" and msg["k"] == BG_VALUE and msg["columns"][-2:] == ["mask", "object"]
    sheet = np.asarray(Image.open(io.BytesIO(buffers[0])))
    assert sheet.shape[1] > sheet.shape[0]  # 7 columns x 6 rows of cells
    assert "looks like background removal" in ex.status["text"]
    object_x = ex.mask_preview(FACTORS.index("x"))  # moves the object: not a background direction
    assert object_x["stats"]["score"] < 0.5 * out["stats"]["score"]
    assert "does not look like background removal" in ex.status["text"]


def test_mask_preview_threshold_size_filter_and_refusals(explorer):
    ex = explorer
    tight = ex.mask_preview(BG_VALUE, shift=5.0, threshold=0.5, samples=3)
    assert tight["shift"] == -5.0 and tight["masks"].shape == (3, 32, 32)  # the sign is chosen, not taken
    sheet = mask_sheet(tight["traversal"], tight["masks"], np.array([True, False, True]))
    cell = 32 + 2  # grid_tile puts a 2 px gap between 32 px cells
    discarded = sheet[cell: cell + 32, 5 * cell: 5 * cell + 32][tight["masks"][1]]
    kept = sheet[0:32, 5 * cell: 5 * cell + 32][tight["masks"][0]]
    assert (discarded == [230, 60, 60]).all() and (kept == 255).all()  # red marks a discarded mask
    first = tight["traversal"][0, 0].astype(int)  # the cut-out: the sample, its background at a quarter
    expected = np.where(tight["masks"][0][..., None], first, first // 4)
    assert np.array_equal(sheet[0:32, 6 * cell: 6 * cell + 32], expected)
    for args, needle in [({"k": BG_VALUE, "threshold": 1.5}, "mask threshold"),
                         ({"k": BG_VALUE, "threshold": "1"}, "below 1"),
                         ({"k": BG_VALUE, "shift": -2}, "mask shift"), ({"k": BG_VALUE, "samples": 0}, "mask samples"),
                         ({"k": 99}, "99")]:
        ex._command(7, "mask_preview", args)
        msg, _ = ex.sent[-1]
        assert msg == {"type": "reply", "id": 7, "ok": False, "error": msg["error"], "status": ex.status}
        assert needle in msg["error"] and ex.status["text"] == msg["error"]  # shown beside the control too
        assert ex.status["kind"] == "error"
    ex._command(8, "mask_preview", {"k": BG_VALUE})
    assert ex.sent[-1][0]["ok"] and ex.sent[-2][0]["type"] == "masks"


def test_mask_rules_ratio_by_default_and_the_papers_brightness_rule_on_request(explorer):
    ex = explorer
    true = render_scenes(ex.generator.module.factors(ex.z))[1].numpy() > 0.5
    ratio = ex.mask_preview(BG_VALUE)
    paper = ex.mask_preview(BG_VALUE, threshold=0.3, rule="brightness")
    assert ratio["rule"] == "ratio" and paper["rule"] == "brightness" and ex.sent[-1][0]["rule"] == "brightness"
    assert paper["shift"] == ratio["shift"]  # the shift is chosen the same way; only the shown masks differ
    for out in (ratio, paper):  # the verdict's numbers describe the masks shown
        assert out["stats"]["plausible"] == pytest.approx(out["keep"].mean(), abs=1e-3)
    shifted = paper["traversal"][:, -1].max(-1) / 255.0  # the shifted images' brightness, as shown
    assert np.array_equal(paper["masks"], shifted > 0.3)
    for out, least in ((ratio, 0.85), (paper, 0.9)):  # this renderer leaves the object alone, so both rules
        assert (out["masks"] & true).sum() / (out["masks"] | true).sum() > least  # find it (rims aside)
    ex._command(9, "mask_preview", {"k": BG_VALUE, "rule": "edges"})
    assert not ex.sent[-1][0]["ok"] and "mask rule must be one of brightness, ratio" in ex.sent[-1][0]["error"]
