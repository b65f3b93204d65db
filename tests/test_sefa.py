import numpy as np
import pytest
import torch
from conftest import TinyGenerator
from torch import nn

from ganexplorer import Generator, pca, sefa
from ganexplorer.directions.sefa import factorize


def reference_sefa(weight_t: np.ndarray):
    """The SeFa reference algorithm: weight (d, units) columns normalised, eig of W W^T, sorted."""
    w = weight_t / np.linalg.norm(weight_t, axis=0, keepdims=True)
    values, vectors = np.linalg.eig(w.dot(w.T))
    order = np.argsort(-values.real)
    return vectors.real.T[order], values.real[order]


def test_matches_the_reference_on_stylegan2_1024_sized_style_weights():
    rng = np.random.default_rng(0)
    weight_t = rng.standard_normal((512, 6080)).astype(np.float32)  # 18 style layers, concatenated
    ref_vectors, ref_values = reference_sefa(weight_t)
    ours, values = factorize(torch.from_numpy(weight_t.T.copy()), k=10)
    for i in range(10):
        cos = abs(float(np.dot(ref_vectors[i], ours[i].numpy())))
        assert cos >= 0.999, (i, cos)
    assert np.allclose(values.numpy(), ref_values[:10], rtol=1e-4)


def test_mnist_directions_are_orthonormal_and_sorted(mnist):
    bank = sefa(mnist)
    assert len(bank) == 64 and bank.source == ["sefa"] * 64 and bank.generator == "mnist"
    gram = bank.directions @ bank.directions.T
    assert torch.allclose(gram, torch.eye(64), atol=1e-4)
    assert bank.scores == sorted(bank.scores, reverse=True)
    assert len(sefa(mnist, k=5)) == 5


def _first_layer_change(layer, directions):
    with torch.no_grad():
        if isinstance(layer, nn.Linear):
            w = layer.weight / layer.weight.norm(dim=1, keepdim=True)
            return (directions @ w.T).norm(dim=1)
        out = nn.functional.conv_transpose2d(directions[:, :, None, None], layer.weight)
        w = layer.weight.permute(1, 2, 3, 0).reshape(-1, layer.in_channels)
        return (out.flatten(1) / w.norm(dim=1)).norm(dim=1)


@pytest.mark.parametrize("first", ["linear", "convtranspose"])
def test_top_direction_moves_the_first_layer_most(first):
    torch.manual_seed(0)
    layer = nn.Linear(16, 64) if first == "linear" else nn.ConvTranspose2d(16, 8, 4)
    head = (lambda x: x.view(-1, 1, 8, 8)) if first == "linear" else (lambda x: x[:, :1, :4, :4])

    class G(nn.Module):
        latent_dim = 16

        def __init__(self):
            super().__init__()
            self.first = layer

        def forward(self, z):
            x = z if first == "linear" else z[:, :, None, None]
            return torch.tanh(head(self.first(x)))

    bank = sefa(Generator(G(), device="cpu"))
    change = _first_layer_change(layer, bank.directions)
    assert torch.all(change[:-1] >= change[1:] - 1e-4)  # sorted by how much the first layer moves
    random = torch.nn.functional.normalize(torch.randn(200, 16), dim=1)
    assert change[0] >= _first_layer_change(layer, random).max() - 1e-4


def test_missing_first_layer_and_bad_arguments_are_explained(tiny, mnist):
    conv_only = Generator(nn.Sequential(nn.Unflatten(1, (4, 1, 1)), nn.Upsample(scale_factor=4)),
                          latent_dim=4, device="cpu")
    with pytest.raises(ValueError, match=r"sefa\(G, weight=W\)"):
        sefa(conv_only)
    bank = sefa(conv_only, weight=torch.randn(10, 4))
    assert len(bank) == 4
    with pytest.raises(ValueError, match=r"\(out_units, 4\)"):
        sefa(conv_only, weight=torch.randn(10, 3))
    with pytest.raises(ValueError, match="not layer-aware"):
        sefa(mnist, layers="0-1")
    with pytest.raises(ValueError, match="between 1 and the latent size"):
        sefa(tiny, k=9)


def test_slider_ranges_follow_the_spread_of_the_generators_latents(tiny):
    assert sefa(tiny).shift_range == [3.0] * tiny.latent_dim  # N(0, I): 3 standard deviations

    class Narrow(TinyGenerator):
        def latents_from_noise(self, noise):  # e.g. a truncated latent distribution
            return 0.1 * noise + 5.0

    narrow = Generator(Narrow(), device="cpu")
    ranges = sefa(narrow).shift_range
    assert all(0.25 < r < 0.35 for r in ranges)
    torch.manual_seed(123)  # the ranges come from a fixed sample: the same bank on every call
    assert sefa(narrow).shift_range == ranges
    assert all(0.25 < r < 0.35 for r in pca(narrow, k=3, n_samples=500).shift_range)


def test_layer_range_factorises_those_layers_and_moves_only_their_latents(style):
    """On the toy style generator (one 6x8 affine per layer): the eigenvectors of the chosen layers' stacked,
    row-normalised weights (numpy, from the module's parameters), applied to those layers' latents only."""
    bank = sefa(style, layers="1-2")
    w = torch.cat([style.module.affines[1].weight, style.module.affines[2].weight]).double().numpy()
    w = w / np.linalg.norm(w, axis=1, keepdims=True)
    values, vectors = np.linalg.eigh(w.T @ w)
    order = np.argsort(-values)
    np.testing.assert_allclose(bank.scores, values[order], rtol=1e-5, atol=1e-6)
    for ours, ref in zip(bank.directions.double().numpy(), vectors.T[order]):
        assert abs(float(ours @ ref)) == pytest.approx(1.0, abs=1e-5)
    assert bank.layers == ["1-2"] * len(bank) and bank.num_layers == 4
    assert bank.info["method"] == "sefa" and bank.info["layers"] == "1-2" and bank.info["weight_shape"] == [12, 8]
    z = style.sample_latents(3, seed=0)
    moved = bank.shift(z, [1.5] + [0.0] * (len(bank) - 1))
    assert moved.shape == (3, 4, 8)
    for layer in range(4):
        expected = z + 1.5 * bank.directions[0] if layer in (1, 2) else z
        torch.testing.assert_close(moved[:, layer], expected)
    whole = sefa(style)  # every layer: a different weight, so different directions
    assert whole.layers == ["all"] * len(whole)
    assert abs(float(whole.directions[0] @ bank.directions[0])) < 0.999
