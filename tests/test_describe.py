import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ganexplorer import Generator, sefa
from ganexplorer.data.shapes import FACTORS, render_shapes
from ganexplorer.directions.bank import DirectionBank
from ganexplorer.directions.describe import describe, line_fits, suggest_labels
from ganexplorer.directions.probes import PROBES, measure
from ganexplorer.evaluation.judges import load_judge


def _pair(name, lo=0.3, hi=0.7):
    f = torch.full((2, len(FACTORS)), 0.5)
    f[0, FACTORS.index(name)], f[1, FACTORS.index(name)] = lo, hi
    return render_shapes(f)


def _probe(images, name):
    return measure(images, [name])[:, 0].tolist()


def test_translating_right_raises_centroid_x_and_leaves_area_alone():
    images = _pair("x")
    cx, cy, area = (_probe(images, n) for n in ("centroid_x", "centroid_y", "area"))
    assert cx[1] - cx[0] == pytest.approx(0.16, abs=0.02)  # 0.4 of the factor range (0.3..0.7) = 0.16
    assert abs(cy[1] - cy[0]) < 0.005 and area[1] == pytest.approx(area[0], rel=0.03)


def test_each_probe_follows_its_factor():
    def rise(name, probe):
        lo, hi = _probe(_pair(name), probe)
        return hi - lo

    assert rise("y", "centroid_y") > 0.1  # y grows downwards, as on screen
    assert rise("scale", "area") > 0.01
    assert rise("brightness", "brightness") > 0.005
    hue = _probe(_pair("hue", 0.0, 0.5), "hue")
    assert hue[0] == pytest.approx(0.0, abs=0.02) or hue[0] == pytest.approx(1.0, abs=0.02)
    assert hue[1] == pytest.approx(0.35, abs=0.03)  # factor 0.5 of the hue range 0..0.7
    angle = _probe(_pair("rotation"), "angle")
    assert angle[1] - angle[0] == pytest.approx(0.4 * 2 * math.pi / 3, abs=0.1)  # counter-clockwise
    sat = _probe(torch.cat([_pair("hue")[:1], _pair("hue")[:1].mean(1, keepdim=True).expand(-1, 3, -1, -1)]),
                 "saturation")
    assert sat[0] > sat[1] + 0.3  # a grey copy has no saturation


def test_stroke_thickness_sharpness_and_contrast(mnist):
    digits = mnist.render(mnist.sample_latents(8, seed=0))
    thick = F.max_pool2d(digits, 3, 1, 1)  # dilation: thicker strokes
    assert all(a > b for a, b in zip(_probe(thick, "thickness"), _probe(digits, "thickness")))
    blurred = F.avg_pool2d(digits, 3, 1, 1, count_include_pad=False)
    assert all(a < b for a, b in zip(_probe(blurred, "sharpness"), _probe(digits, "sharpness")))
    assert all(a < b for a, b in zip(_probe(digits * 0.5, "contrast"), _probe(digits, "contrast")))


def test_measure_shapes_and_errors():
    images = _pair("x")
    assert measure(images).shape == (2, len(PROBES))
    with pytest.raises(ValueError, match="unknown probes"):
        measure(images, ["smile"])


def test_describe_table_and_suggestions(mnist):
    bank = sefa(mnist, k=4)
    rows = describe(mnist, bank, n=6, as_frame=False)
    assert [r["direction"] for r in rows] == [0, 1, 2, 3]
    for r in rows:
        assert 0 <= r["confidence"] <= 1 and 0 <= r["changed_fraction"] <= 1 and r["suggestion"]
        assert set(r) >= {"centroid_x_effect", "centroid_x_r2", "area_consistency"}
    frame = describe(mnist, bank, n=6, directions=[1], as_frame=True)
    assert list(frame.index) == [1] and "suggestion" in frame.columns
    assert len(suggest_labels(mnist, bank, n=4)) == 4
    with pytest.raises(ValueError, match="at least 3 shifts"):
        describe(mnist, bank, shifts=[-1, 1])


# Ground truth of the shapes renderer (ganexplorer.data.shapes): x grows to the right, y downwards (0 = top),
# rotation counter-clockwise, hue red -> yellow -> green -> blue. Words for a factor that rises / falls.
SIGNED_WORDS = {"x": ("moves right", "moves left"), "y": ("moves down", "moves up"),
                "scale": ("bigger / more ink", "smaller / less ink"),
                "rotation": ("rotates counter-clockwise", "rotates clockwise"),
                "hue": ("hue shifts (red→yellow→green→blue)", "hue shifts (blue→green→yellow→red)")}


def _word(factor: str, sign: float) -> str:
    return SIGNED_WORDS[factor][0 if sign > 0 else 1]


class ProceduralShapes(nn.Module):
    """A "generator" whose latent sets the shapes factors directly, so every direction's effect is known:
    latent i moves factor i (x, y, scale, brightness clamped inside [0, 1]); rotation is centred near the
    ellipse's symmetry angle, so its principal-axis angle wraps at +pi/2 mid-traversal, and hue near red, so
    the hue wraps from 0.99 to 0.01 (the effect must be measured in a circular spread); the last latent
    coordinate changes nothing."""

    latent_dim = len(FACTORS) + 1

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        f = (0.5 + 0.12 * z[:, :len(FACTORS)]).clamp(0.02, 0.98)
        r, h = FACTORS.index("rotation"), FACTORS.index("hue")
        f[:, r] = 0.9 + 0.3 * z[:, r]  # 0.84 rad +- 1.26 rad: crosses pi/2, where the angle probe wraps
        f[:, h] = 0.05 + 0.15 * z[:, h]  # hue 0.035 +- 0.21: crosses red, where the hue probe wraps (1 = 0)
        return render_shapes(f)


CASES = [("x", 1), ("x", -1), ("y", 1), ("y", -1), ("scale", 1), ("scale", -1), ("rotation", 1),
         ("rotation", -1), ("hue", 1), ("hue", -1)]


@pytest.fixture(scope="module")
def procedural_rows():
    g = Generator(ProceduralShapes(), device="cpu", name="procedural")
    directions = torch.zeros(len(CASES) + 1, ProceduralShapes.latent_dim)
    for i, (factor, sign) in enumerate(CASES):
        directions[i, FACTORS.index(factor)] = sign
    directions[-1, -1] = 1.0  # the coordinate the module ignores
    return describe(g, DirectionBank(directions, shift_range=2.0), n=8, as_frame=False)


def test_describe_names_known_directions_with_their_sign(procedural_rows):
    """Each direction moves one known factor one known way: the suggestion must say which, and which way."""
    for (factor, sign), row in zip(CASES, procedural_rows):
        expected, opposite = _word(factor, sign), _word(factor, -sign)
        if factor == "scale":  # a bigger lit ellipse on black also brightens the image: either may lead
            assert expected in (row["suggestion"], row["also"]), (factor, sign, row["suggestion"], row["also"])
            assert row["suggestion"] in (expected, "brighter" if sign > 0 else "darker")
        else:
            assert row["suggestion"] == expected, (factor, sign, row["suggestion"], row["also"])
        assert opposite not in (row["suggestion"], row["also"]) and row["confidence"] > 0.9
    by_case = dict(zip(CASES, procedural_rows))
    for factor, probe in (("x", "centroid_x"), ("y", "centroid_y"), ("scale", "area")):
        plus, minus = by_case[(factor, 1)], by_case[(factor, -1)]
        assert plus[f"{probe}_effect"] > 2 and minus[f"{probe}_effect"] == pytest.approx(-plus[f"{probe}_effect"])
        assert plus[f"{probe}_r2"] > 0.9 and plus[f"{probe}_consistency"] == 1.0
    # x moves only x: the other position probe barely moves (effects are in units of the probe's spread)
    assert abs(by_case[("x", 1)]["centroid_y_effect"]) < 0.1 and abs(by_case[("y", 1)]["centroid_x_effect"]) < 0.1
    # across the angle probe's wrap at +pi/2, and the hue's at red, the fit still sees one steady change
    assert by_case[("rotation", 1)]["angle_r2"] > 0.9 and by_case[("rotation", 1)]["angle_effect"] > 2
    assert by_case[("hue", 1)]["hue_r2"] > 0.9 and by_case[("hue", 1)]["hue_effect"] > 2


def test_a_direction_that_changes_nothing_is_unclear(procedural_rows):
    null = procedural_rows[-1]
    assert null["suggestion"] == "unclear / entangled" and null["also"] == ""
    assert null["confidence"] <= 0.3 and null["changed_fraction"] == 0.0
    assert all(procedural_rows[i]["changed_fraction"] > 0.03 for i in range(len(CASES)))


def test_sefa_directions_on_the_shapes_gan_are_named_with_the_judged_sign(shapes):
    """Ground truth from the factor judge (a network trained on procedural images with known factors), read
    with its sign: wherever a SeFa direction mostly moves x, y, scale, rotation or hue, describe's suggestion
    names that factor and the way it moves; a runner-up, when given, names a judged factor with its sign."""
    bank = sefa(shapes, k=8)
    judge = load_judge("factors", shapes.device)
    z = shapes.sample_latents(12, seed=0)
    described = describe(shapes, bank, n=12, as_frame=False)
    checked = 0
    for k, said in enumerate(described):
        r = bank.shift_range[k]
        shifts = torch.linspace(-r, r, 7)
        factors = judge(shapes.render(bank.traverse_many(z, [k], shifts.tolist()))).view(12, 7, len(FACTORS))
        slope, _ = line_fits(shifts, factors)
        change = dict(zip(FACTORS, (slope.mean(0) * 2 * r).tolist()))  # signed, in fractions of each range
        top = max(change, key=lambda f: abs(change[f]))
        if top in SIGNED_WORDS and abs(change[top]) > 0.5:
            checked += 1
            assert said["suggestion"] == _word(top, change[top]), (k, change, said)
            if said["also"] in {w for pair in SIGNED_WORDS.values() for w in pair}:  # (not "thinner strokes")
                assert said["also"] in {_word(f, change[f]) for f in SIGNED_WORDS if abs(change[f]) > 0.3}, \
                    (k, change, said)
    assert checked >= 4  # x, y, scale, rotation, hue: SeFa finds strong directions for most of them


# ---- probes on images whose answer is known exactly --------------------------------------------------------

def _canvas(background, size=32):
    """(1, 3, size, size) in [-1, 1] filled with an RGB colour given in [0, 1]."""
    return (torch.tensor(background, dtype=torch.float32)[None, :, None, None] * 2 - 1).expand(1, 3, size,
                                                                                            size).clone()


def _with_square(background, colour, top=10, left=6, side=8):
    image = _canvas(background)
    image[0, :, top:top + side, left:left + side] = torch.tensor(colour)[:, None, None] * 2 - 1
    return image


def test_brightness_uses_rec601_luminance_of_0_to_1_values():
    for rgb in [(0, 0, 0), (1, 1, 1), (1, 0, 0), (0, 1, 0), (0, 0, 1), (0.2, 0.6, 0.4)]:
        expected = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
        assert _probe(_canvas(rgb), "brightness")[0] == pytest.approx(expected, abs=1e-6), rgb
    grey = _canvas((0.5, 0.5, 0.5))
    grey[0, :, :16] = 1.0  # half white (1), half mid-grey (0.5): std of luminance is 0.25
    assert _probe(grey, "contrast")[0] == pytest.approx(0.25, rel=0.02)


def test_area_centroid_and_thickness_of_a_square_light_on_dark_and_dark_on_light():
    for background, colour in [((0.6, 0.6, 0.6), (1.0, 1.0, 1.0)), ((1.0, 1.0, 1.0), (0.0, 0.0, 0.0)),
                               ((0.0, 0.0, 0.0), (0.3, 0.9, 0.3))]:
        square = _with_square(background, colour)  # 8x8 at rows 10..17, columns 6..13
        values = measure(square, ["area", "centroid_x", "centroid_y", "thickness"])[0].tolist()
        assert values[0] == pytest.approx(64 / 1024, abs=1e-6), background
        assert values[1] == pytest.approx(10 / 32, abs=1e-6) and values[2] == pytest.approx(14 / 32, abs=1e-6)
        assert values[3] == pytest.approx(4.0, abs=1e-5)  # 2 * area / perimeter = 2 * 64 / 32 pixels


def test_hue_and_saturation_of_pure_colours():
    hues = {(1, 0, 0): 0.0, (1, 1, 0): 1 / 6, (0, 1, 0): 1 / 3, (0, 1, 1): 1 / 2, (0, 0, 1): 2 / 3,
            (1, 0, 1): 5 / 6}
    for rgb, expected in hues.items():
        square = _with_square((0, 0, 0), rgb)
        got = _probe(square, "hue")[0]
        assert min(abs(got - expected), 1 - abs(got - expected)) < 1e-5, (rgb, got)
        assert _probe(square, "saturation")[0] == pytest.approx(1.0, abs=1e-5)
    assert _probe(_with_square((0, 0, 0), (0.5, 0.5, 0.5)), "saturation")[0] == pytest.approx(0.0, abs=1e-6)


def test_sharpness_is_the_mean_absolute_laplacian():
    dot = _canvas((0, 0, 0), size=9)
    dot[0, :, 4, 4] = 1.0  # one white pixel: |laplacian| 4 at the centre and 1 at its 4 neighbours
    assert _probe(dot, "sharpness")[0] == pytest.approx(8 / 49, abs=1e-6)  # over the 7x7 valid positions
    assert _probe(_canvas((0.3, 0.3, 0.3)), "sharpness")[0] == pytest.approx(0.0, abs=1e-7)


def test_suggest_scores_confidence_and_runner_up_from_the_measured_effects():
    from ganexplorer.directions.describe import _suggest

    probes = ["centroid_x", "area", "brightness"]
    # x moves strongly and steadily; area less but still clearly (score 1.2 * 0.9 vs 3 * 0.9 * 1: under 0.6)
    label, confidence, also = _suggest(np.array([3.0, 1.2, 0.1]), np.array([0.9, 0.9, 0.9]),
                                       np.array([1.0, 1.0, 1.0]), np.array([-1.0, 1.0, 1.0]), probes)
    assert (label, also) == ("moves left", "") and confidence == pytest.approx(0.9)
    # the runner-up is named when it scores at least 0.6 of the best
    label, confidence, also = _suggest(np.array([1.0, 0.8, 0.1]), np.array([0.8, 0.9, 0.9]),
                                       np.array([1.0, 1.0, 1.0]), np.array([1.0, -1.0, 1.0]), probes)
    assert (label, also) == ("moves right", "smaller / less ink") and confidence == pytest.approx(0.5 * 0.8)
    # each of the three thresholds alone makes the best effect "unclear"
    for effects, r2, consistency in [([0.4, 0, 0], [1, 1, 1], [1, 1, 1]), ([2, 0, 0], [0.4, 1, 1], [1, 1, 1]),
                                     ([2, 0, 0], [1, 1, 1], [0.7, 1, 1])]:
        label, confidence, also = _suggest(np.array(effects, float), np.array(r2, float),
                                           np.array(consistency, float), np.ones(3), probes)
        assert (label, also) == ("unclear / entangled", "") and confidence <= 0.3


def test_line_fits_match_numpy_polyfit():
    g = torch.Generator().manual_seed(0)
    shifts = torch.linspace(-3, 3, 7)
    values = 0.7 * shifts[None, :, None] * torch.tensor([1.0, -2.0])[None, None] + torch.randn(5, 7, 2, generator=g)
    slope, r2 = line_fits(shifts, values)
    for i in range(5):
        for p in range(2):
            y = values[i, :, p].numpy()
            fit = np.polyfit(shifts.numpy(), y, 1)
            residual = y - np.polyval(fit, shifts.numpy())
            assert float(slope[i, p]) == pytest.approx(fit[0], abs=1e-5)
            assert float(r2[i, p]) == pytest.approx(1 - residual.var() / y.var(), abs=1e-5)


def test_changed_fraction_and_default_shifts_against_direct_renders(procedural_rows):
    """The changed fraction is the share of pixels whose largest channel change between the extreme shifts exceeds
    0.2 (in [-1, 1] units), computed here from two direct renders; the default traversal is 9 shifts over
    +-shift_range, and the reported numbers keep their stated precision."""
    g = Generator(ProceduralShapes(), device="cpu", name="procedural")
    d = torch.zeros(ProceduralShapes.latent_dim)
    d[FACTORS.index("x")] = 1.0
    z = g.sample_latents(8, 0)
    lo, hi = g.render(z - 2.0 * d), g.render(z + 2.0 * d)
    expected = float(((hi - lo).abs().amax(1) > 0.2).float().mean())
    assert procedural_rows[0]["changed_fraction"] == pytest.approx(expected, abs=1e-4) and expected > 0.03
    sizes = []
    g.module.register_forward_hook(lambda m, i, out: sizes.append(len(out)))
    describe(g, DirectionBank(d[None], shift_range=2.0), n=8, as_frame=False)
    assert sum(sizes) == 8 * 9
    assert any(0 < row["confidence"] < 1 for row in procedural_rows)  # a share, not rounded to a whole number
    for row in procedural_rows:
        assert row["confidence"] == round(row["confidence"], 3) and isinstance(row["centroid_x_effect"], float)
        for probe in PROBES:
            assert 0 <= row[f"{probe}_r2"] <= 1 and row[f"{probe}_r2"] == round(row[f"{probe}_r2"], 4)
            assert row[f"{probe}_consistency"] in {i / 8 for i in range(9)}


# what a probe-based suggestion may say for each factor of shapes (contrast: a shape dimmed on black loses it)
FACTOR_WORDS = {"x": ("moves right", "moves left"), "y": ("moves up", "moves down"),
                "rotation": ("rotates counter-clockwise", "rotates clockwise"),
                "scale": ("bigger / more ink", "smaller / less ink"),
                "hue": ("hue shifts (red→yellow→green→blue)", "hue shifts (blue→green→yellow→red)"),
                "brightness": ("brighter", "darker", "more contrast", "less contrast")}


def test_accept_threshold_is_measured_on_shapes(shapes):
    from ganexplorer import pca
    from ganexplorer.directions.describe import ACCEPT_CONFIDENCE
    from ganexplorer.evaluation.factors import factor_table

    random = F.normalize(torch.randn(16, shapes.latent_dim, generator=torch.Generator().manual_seed(0)), dim=1)
    right, wrong = [], []
    for bank in (sefa(shapes, k=16), pca(shapes, k=16, progress=False), DirectionBank(random)):
        truth = {r["direction"]: r["factor"] for r in factor_table(shapes, bank, n=12)[0]}
        for r in describe(shapes, bank, n=12, as_frame=False):
            (right if r["suggestion"] in FACTOR_WORDS[truth[r["direction"]]] else wrong).append(r["confidence"])
    assert all(c < ACCEPT_CONFIDENCE for c in wrong)  # nothing wrong is accepted (the worst measured 0.902)
    assert max(wrong) > ACCEPT_CONFIDENCE - 0.05  # and the threshold is not needlessly high
    assert sum(c >= ACCEPT_CONFIDENCE for c in right) >= 4  # measured: 5 (scale x2, rotation x2, contrast)


def test_directions_that_change_the_digit_say_so(mnist):
    from ganexplorer.directions.describe import CHANGES_IDENTITY

    bank = sefa(mnist, k=2)
    rows = describe(mnist, bank, n=16, as_frame=False)  # mnist: the digit judge is used by default
    # SeFa 0 and 1 turn a 0 into a 6 or 7 and a 3 into a 4 or 1 (see notebook 01): measured 0.94 and 1.0
    assert all(r["suggestion"] == CHANGES_IDENTITY and r["identity_change"] >= 0.8 for r in rows), rows
    assert all(r["also"] for r in rows)  # the pixel probes' name is kept as the runner-up
    plain = describe(mnist, bank, n=16, as_frame=False, classifier=None)
    assert all(r["suggestion"] != CHANGES_IDENTITY and r["identity_change"] is None for r in plain)
    # a classifier that never changes its answer never says so
    constant = describe(mnist, bank, n=8, as_frame=False, classifier=lambda x: torch.zeros(len(x), 10))
    assert all(r["identity_change"] == 0.0 and r["suggestion"] != CHANGES_IDENTITY for r in constant)
