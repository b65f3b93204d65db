"""The shipped generators are measured, not eyeballed: these are the README's quality numbers."""

from ganexplorer.evaluation.judges import judge_path
from ganexplorer.evaluation.quality import digit_quality, shapes_quality
from ganexplorer.files import read_header


def test_judges_are_accurate_on_held_out_real_data():
    assert read_header(judge_path("digits"))["score"]["heldout_accuracy"] >= 0.98
    assert min(read_header(judge_path("factors"))["score"]["heldout_r2"].values()) >= 0.98


def test_mnist_digits_are_recognisable_and_cover_all_classes(mnist):
    q = digit_quality(mnist, n=1000, seed=0)
    assert q["recognised"] >= 0.85 and q["classes_covered"] == 10 and q["smallest_class_share"] > 0.05


def test_shapes_are_explained_by_their_factors_and_cover_the_prior(shapes):
    q = shapes_quality(shapes, n=1000, seed=0)
    assert q["pixel_r2"] >= 0.9
    assert max(q["coverage_w1"].values()) <= 0.06  # 0.25 would be a single value
    assert min(q["cycle_r2"].values()) >= 0.95


def test_the_stylegan2_shapes_generator_learns_the_factors():
    from ganexplorer import load_generator

    q = shapes_quality(load_generator("shapes-stylegan2", device="cpu"), n=1000, seed=0)
    assert q["pixel_r2"] >= 0.75 and min(q["cycle_r2"].values()) >= 0.95
    assert max(q["coverage_w1"].values()) <= 0.12


def test_coarse_layers_move_geometry_and_fine_layers_move_colour():
    """SeFa's layer-wise finding, on ground truth: layers 0-1 (4x4) vs 6-7 (32x32) of the StyleGAN2."""
    from ganexplorer import load_generator, sefa
    from ganexplorer.evaluation.factors import factor_table

    g = load_generator("shapes-stylegan2", device="cpu")
    coarse, _ = factor_table(g, sefa(g, layers="0-1", k=4), n=16)
    fine, _ = factor_table(g, sefa(g, layers="6-7", k=4), n=16)
    assert all(r["factor"] in ("x", "y", "rotation", "scale") for r in coarse)
    assert sum(r["factor"] in ("brightness", "hue") for r in fine) >= 3
