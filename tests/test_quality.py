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
