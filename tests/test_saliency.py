import numpy as np
import pytest
import torch

from ganexplorer import DirectionBank, Generator
from ganexplorer.data.scenes import BACKGROUND_FACTORS, SCENE_FACTORS, SceneRenderer, make_scenes, render_scenes
from ganexplorer.data.shapes import FACTORS
from ganexplorer.directions.background import (
    REFERENCE_AREA,
    REFERENCE_THRESHOLD,
    background_masks,
    best_per_source,
    kept_brightness,
    mask_stats,
    masks_from_renders,
    rank_background_directions,
)
from ganexplorer.evaluation.saliency import (
    border_contrast_masks,
    choose_k,
    kmeans_masks,
    otsu_threshold,
    predict,
    saliency_experiment,
    saliency_scores,
    train_saliency,
)

BG_VALUE = len(FACTORS) + BACKGROUND_FACTORS.index("bg_value")


@pytest.fixture(scope="module")
def renderer():
    """The scenes renderer as a generator: coordinate BG_VALUE is an exact background-brightness direction."""
    return Generator(SceneRenderer(), device="cpu")


def test_ranking_finds_the_true_background_direction_and_its_sign(renderer):
    bank = DirectionBank(torch.eye(len(SCENE_FACTORS)), source="coordinate")
    bank.source[BG_VALUE] = "sefa"  # best_per_source names it by its method
    ranked = rank_background_directions(renderer, bank, n=32)
    top = ranked[0]
    assert top["direction"] == BG_VALUE and top["shift"] in (-2.0, -3.0, -4.0, -5.0)  # darker, not brighter
    assert top["plausible"] == 1.0 and top["bg_left"] < 0.05 and top["fg_change"] < 0.05
    assert top["score"] > 3 * ranked[1]["score"]
    movers = [r for r in ranked if r["direction"] < len(FACTORS)]  # object factors: the object changes
    assert all(r["fg_change"] > r["bg_change"] or r["score"] < 0.05 for r in movers)
    assert best_per_source(ranked)["sefa"]["direction"] == BG_VALUE
    assert best_per_source(ranked)["coordinate"]["direction"] != BG_VALUE


def test_masks_from_the_shifted_image_match_the_true_masks(renderer):
    z = renderer.sample_latents(64, seed=1)
    direction = torch.eye(len(SCENE_FACTORS))[BG_VALUE]
    out = background_masks(renderer, direction, z, shift=-5.0)
    true = render_scenes(renderer.module.factors(z))[1]
    # the ratio counts an anti-aliased rim pixel by the share of its brightness that is the object's, not by its
    # coverage, so where the object is brighter than the background it takes some pixels under half covered:
    # measured 0.88 here, 0.97 for the brightness rule on this renderer, whose object does not dim at all
    assert out.keep.all() and saliency_scores(out.masks, true)["iou"] > 0.85
    brighter = background_masks(renderer, direction, z, shift=5.0)  # the wrong sign keeps the background
    assert saliency_scores(brighter.masks, true)["iou"] < 0.6
    tight = background_masks(renderer, direction, z, shift=-5.0, area=(0.0, 0.05))  # the size filter
    assert torch.equal(tight.keep, out.masks.mean((1, 2)) <= 0.05) and not tight.keep.all()


def test_saliency_scores_by_hand():
    pred = torch.tensor([[[1.0, 1.0], [0.0, 0.0]]])
    true = torch.tensor([[[1.0, 0.0], [1.0, 0.0]]])
    s = saliency_scores(pred, true)  # TP 1, FP 1, FN 1: IoU 1/3, precision = recall = 1/2
    assert s["iou"] == pytest.approx(1 / 3) and s["f_beta"] == pytest.approx(0.5) and s["mae"] == 0.5
    s = saliency_scores(torch.tensor([[[1.0, 0.0], [0.0, 0.0]]]), true)  # precision 1, recall 1/2
    assert s["f_beta"] == pytest.approx(1.3 * 0.5 / (0.3 + 0.5))
    _, masks, _ = make_scenes(8, seed=0)
    assert saliency_scores(masks, masks) == {"iou": 1.0, "f_beta": 1.0, "mae": 0.0}
    empty = saliency_scores(torch.zeros_like(masks), masks)
    assert empty["iou"] == 0 and abs(empty["mae"] - float(masks.mean())) < 1e-6
    with pytest.raises(ValueError, match="differ in shape"):
        saliency_scores(masks[:2], masks)


def test_otsu_matches_a_brute_force_search():
    gen = torch.Generator().manual_seed(0)
    values = torch.cat([torch.rand(3, 300, generator=gen) * 0.4, 0.5 + torch.rand(3, 100, generator=gen) * 0.5], 1)
    cut = otsu_threshold(values, levels=64)
    for row, c in zip(values.numpy().astype(np.float64), cut[:, 0].tolist()):
        lo, hi = row.min(), row.max()
        best, best_var = None, -1.0
        for t in lo + (hi - lo) * np.linspace(0, 1, 66)[1:-1]:
            a, b = row[row > t], row[row <= t]
            var = len(a) * len(b) / len(row) ** 2 * (a.mean() - b.mean()) ** 2 if len(a) and len(b) else 0.0
            if var > best_var:
                best, best_var = t, var
        assert c == pytest.approx(best, abs=1e-5) and 0.4 <= c <= 0.5


def test_border_contrast_is_exact_on_a_plain_background_and_fooled_by_a_textured_one():
    images = torch.full((1, 3, 16, 16), -0.6)
    images[0, 0, 5:9, 4:11] = 0.9
    truth = torch.zeros(1, 16, 16)
    truth[0, 5:9, 4:11] = 1
    assert torch.equal(border_contrast_masks(images), truth)
    images[0, :, 0, 0] = 1.0  # a white speck on the border: the median colour ignores it, and it stands out
    truth[0, 0, 0] = 1
    assert torch.equal(border_contrast_masks(images), truth)
    real, true, factors = make_scenes(256, seed=5)
    plain = factors[:, len(FACTORS) + BACKGROUND_FACTORS.index("texture")] < 0.2
    busy = factors[:, len(FACTORS) + BACKGROUND_FACTORS.index("texture")] > 0.8
    masks = border_contrast_masks(real)
    assert saliency_scores(masks[plain], true[plain])["iou"] > saliency_scores(masks[busy], true[busy])["iou"] + 0.1


def test_the_net_learns_masks_and_bad_pairs_are_refused(renderer):
    real, true, _ = make_scenes(128, seed=2)
    direction = torch.eye(len(SCENE_FACTORS))[BG_VALUE]
    result = saliency_experiment(renderer, direction, -5.0, real, true, n_pairs=256, steps=150)
    ours, empty = result["scores"]["generated masks"], result["scores"]["empty mask"]
    assert result["kept"] == 1.0 and ours["iou"] > 0.6 and ours["mae"] < empty["mae"]
    with pytest.raises(ValueError, match="no \\(image, mask\\) pairs"):
        train_saliency(real[:0], true[:0])
    with pytest.raises(ValueError, match="threshold"):
        background_masks(renderer, direction, real[:1, 0, 0, :18], shift=1.0, threshold=1.5)
    with pytest.raises(ValueError, match="latent has 18"):
        background_masks(renderer, torch.ones(5), real[:1, 0, 0, :18], shift=1.0)


def _scene(bg: float, core: float, rim: float, spot: float | None = None) -> torch.Tensor:
    """One grey 16x16 image (1, 3, 16, 16) in [-1, 1]: background ``bg`` with a 2x2 light ``spot`` in a corner, a
    4x6 object core of brightness ``core`` and a one-pixel rim around it of brightness ``rim`` (values in [0, 1])."""
    v = torch.full((16, 16), bg)
    v[1:3, 1:3] = bg if spot is None else spot
    v[5:11, 4:12] = rim
    v[6:10, 5:11] = core
    return (v * 2 - 1).expand(1, 3, 16, 16).clone()


def test_the_ratio_rule_keeps_the_rim_that_a_dimmed_object_loses_under_a_brightness_threshold():
    # the direction darkens the background to 5 % (a light spot to 20 %) and dims the object to 45 %: in the
    # shifted image the object's core (0.405) is under the brightness threshold 0.5 and its rim (0.18) is darker
    # than what is left of the spot (0.2), so no brightness threshold separates them; the share of brightness
    # kept does (object 0.45, spot 0.2, background 0.05), on a bright and on a near-black background alike
    images = torch.cat([_scene(0.5, 0.9, 0.4, spot=1.0), _scene(0.03, 0.9, 0.4)])
    shifted = torch.cat([_scene(0.025, 0.405, 0.18, spot=0.2), _scene(0.0015, 0.405, 0.18)])
    whole = torch.zeros(2, 16, 16)
    whole[:, 5:11, 4:12] = 1
    plain = masks_from_renders(images, shifted)  # the brightness rule at 0.5: nothing left
    assert plain.masks.sum() == 0 and not plain.keep.any()
    assert not torch.equal(masks_from_renders(images, shifted, threshold="otsu").masks, whole)
    ratio = masks_from_renders(images, shifted, threshold="otsu", rule="ratio")
    assert torch.equal(ratio.masks, whole) and ratio.keep.all()
    kept = kept_brightness(images, shifted)
    assert kept[0, 0, 0] == pytest.approx(0.05, abs=1e-5) and kept[0, 7, 7] == pytest.approx(0.45, abs=1e-5)
    assert kept[1, 0, 0] == pytest.approx(0.0015 / 0.05, abs=1e-5)  # near-black originals count as RATIO_FLOOR
    # the wrong sign (a shift that brightens the background) gives no object mask
    assert not torch.equal(masks_from_renders(shifted, images, threshold="otsu", rule="ratio").masks, whole)
    with pytest.raises(ValueError, match="rule must be one of"):
        masks_from_renders(images, shifted, rule="difference")


def test_the_ratio_rule_on_the_renderer_finds_the_direction_and_the_true_masks(renderer):
    bank = DirectionBank(torch.eye(len(SCENE_FACTORS)), source="coordinate")
    ranked = rank_background_directions(renderer, bank, n=32, threshold="otsu", rule="ratio")
    assert ranked[0]["direction"] == BG_VALUE and ranked[0]["shift"] < 0
    z0 = renderer.sample_latents(32, seed=0)  # the ranking's stats are those of the ratio masks at its shift
    shifted = z0.clone()
    shifted[:, BG_VALUE] += ranked[0]["shift"]
    again = mask_stats(masks_from_renders(renderer.render(z0), renderer.render(shifted), "otsu", rule="ratio"))
    assert {k: ranked[0][k] for k in again} == again
    z = renderer.sample_latents(64, seed=1)
    out = background_masks(renderer, torch.eye(len(SCENE_FACTORS))[BG_VALUE], z, ranked[0]["shift"],
                           threshold="otsu", rule="ratio")
    true = render_scenes(renderer.module.factors(z))[1]
    # the ratio counts an anti-aliased rim pixel by the share of its brightness that is the object's, not by its
    # coverage, so where the object is brighter than the background it takes some pixels under half covered:
    # measured 0.88 here, 0.97 for the brightness rule on this renderer, whose object does not dim at all
    assert out.keep.all() and saliency_scores(out.masks, true)["iou"] > 0.85



def test_kmeans_keeps_the_cluster_off_the_border_and_beats_border_contrast_on_scenes():
    images = torch.full((2, 3, 16, 16), -0.6)
    images[:, 0, 6:10, 5:11] = 0.9  # a red object off the border
    images[1, :, :, :4] = -0.9  # the second image's background in two tones, each touching the border
    truth = torch.zeros(2, 16, 16)
    truth[:, 6:10, 5:11] = 1
    assert torch.equal(kmeans_masks(images[:1], 2), truth[:1])
    assert torch.equal(kmeans_masks(images, 3)[1], truth[1])  # per image, in a batch
    with pytest.raises(ValueError, match="k >= 2"):
        kmeans_masks(images, 1)
    val, val_true, _ = make_scenes(128, seed=123)
    k, ious = choose_k(val, val_true, ks=(2, 3, 4))
    assert ious[k] == max(ious.values()) and k > 2  # two clusters cannot split a two-part background from the object
    real, true, _ = make_scenes(256, seed=99)
    kmeans = saliency_scores(kmeans_masks(real, k), true)["iou"]
    assert kmeans > saliency_scores(border_contrast_masks(real), true)["iou"] + 0.1  # measured 0.76 vs 0.58 (512)


def test_the_reference_rule_takes_what_stays_below_095_and_its_mirror_what_stays_above_005():
    images = _scene(0.5, 0.9, 0.4, spot=0.7)
    white = _scene(0.99, 0.9, 0.6, spot=0.97)  # background pushed to white, object still below 0.95
    dark = _scene(0.01, 0.9, 0.6, spot=0.03)  # the same, to black
    whole = torch.zeros(1, 16, 16)
    whole[:, 5:11, 4:12] = 1
    out = masks_from_renders(images, white, REFERENCE_THRESHOLD, REFERENCE_AREA, rule="reference")
    assert torch.equal(out.masks, whole) and out.keep.all()  # 48 / 256 = 19 % of the image: kept
    assert torch.equal(masks_from_renders(images, dark, REFERENCE_THRESHOLD, rule="reference-dark").masks, whole)
    # the literal rule on a darkened background takes the whole image, which the 5-50 % filter discards
    assert not masks_from_renders(images, dark, REFERENCE_THRESHOLD, REFERENCE_AREA, rule="reference").keep.any()
    with pytest.raises(ValueError, match="fixed threshold"):
        masks_from_renders(images, white, "otsu", rule="reference")


def test_the_net_leaves_the_all_background_plateau_early_on_every_seed(renderer):
    # the IoU-0.000 run: with plain ReLUs a third of the units died in the first Adam steps and the net predicted
    # no foreground at all at step 50 in 3 of 4 seeds (0-3), escaping later or not depending on rounding (which
    # differs with the thread count); with leaky ReLUs every seed predicts foreground by step 50
    z = renderer.sample_latents(256, seed=3)
    out = background_masks(renderer, torch.eye(len(SCENE_FACTORS))[BG_VALUE], z, shift=-5.0)
    for seed in range(4):
        net = train_saliency(out.images, out.masks, steps=50, seed=seed)
        share = float((predict(net, out.images) > 0.5).float().mean())
        assert share > 0.02, (seed, share)
