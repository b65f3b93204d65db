"""The StyleGAN2 mapping network against an independent forward written from the published equations.

Karras et al. 2020 (StyleGAN2, and the ADA code's ``MappingNetwork``): z is normalised to unit second moment
(pixel norm, eps 1e-8), then each of the 8 fully connected layers computes

    x <- lrelu(x @ (W * lr_mul / sqrt(fan_in)).T + b * lr_mul, slope 0.2) * sqrt(2)

(equalised learning rate: the stored W and b are the unscaled parameters; lr_mul = 0.01 for the mapping).
Truncation is w_avg + psi (w - w_avg). The reference below shares no code with the loader: it reads the raw
tensors of a checkpoint written under the official names and does the arithmetic in float64 numpy.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from test_stylegan2 import official_state as official_writer_state

from ganexplorer.generators.checkpoints import load_family
from ganexplorer.generators.stylegan2 import StyleGAN2Generator

D, N_MLP, LR_MUL = 32, 8, 0.01
CHANNELS = {4: 8, 8: 8}


def reference_mapping(z: np.ndarray, weights: list[np.ndarray], biases: list[np.ndarray], lr_mul: float
                      ) -> np.ndarray:
    """The published mapping network, in float64 numpy."""
    x = z / np.sqrt(np.mean(z**2, axis=-1, keepdims=True) + 1e-8)
    for w, b in zip(weights, biases):
        y = x @ (w * (lr_mul / math.sqrt(w.shape[1]))).T + b * lr_mul
        x = np.where(y >= 0, y, 0.2 * y) * math.sqrt(2.0)
    return x


def official_state(seed: int) -> dict[str, torch.Tensor]:
    """Random tensors under the stylegan2-ada-pytorch G_ema names: an 8-layer mapping whose stored weights are
    N(0, 1) / lr_mul (the official initialisation) with biases large enough to matter, and an 8x8 synthesis."""
    return official_writer_state(seed, n_mlp=N_MLP, channels=CHANNELS, mapping_scales=(1 / LR_MUL, 30.0))


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    state = official_state(seed=5)
    path = tmp_path_factory.mktemp("sg2map") / "G_ema.pt"
    torch.save(state, path)
    module, info = load_family(path, conv_clamp=None)
    return state, module, info


def _raw(state: dict[str, torch.Tensor], prefix: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    weights = [state[f"{prefix}{i}.weight"].double().numpy() for i in range(N_MLP)]
    biases = [state[f"{prefix}{i}.bias"].double().numpy() for i in range(N_MLP)]
    return weights, biases


def test_loaded_mapping_matches_the_published_network(loaded):
    state, module, info = loaded
    assert info["format"] == "stylegan2-ada-pytorch state dict" and len(module.mapping) == N_MLP
    z = torch.randn(64, D, generator=torch.Generator().manual_seed(1)) * 3  # pixel norm must undo the scale
    expected = reference_mapping(z.double().numpy(), *_raw(state, "mapping.fc"), LR_MUL)
    w = module.map(z).detach().double().numpy()
    assert np.abs(expected).max() > 0.5 and (expected < 0).mean() > 0.2  # the negative (leaky) side is exercised
    np.testing.assert_allclose(w, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_truncated_latents_from_noise_follow_the_published_lerp(loaded):
    state, module, _ = loaded
    z = torch.randn(16, D, generator=torch.Generator().manual_seed(2))
    w = reference_mapping(z.double().numpy(), *_raw(state, "mapping.fc"), LR_MUL)
    w_avg = state["mapping.w_avg"].double().numpy()
    for psi in (1.0, 0.7, 0.0):
        module.truncation = psi
        got = module.latents_from_noise(z).detach().double().numpy()
        np.testing.assert_allclose(got, w_avg + psi * (w - w_avg), rtol=1e-4, atol=1e-4 * np.abs(w).max())
    module.truncation = 1.0


def test_mapping_honours_the_learning_rate_multiplier():
    """lr_mul = 1 (a mapping trained without the 0.01 multiplier): the same equations, other gains."""
    torch.manual_seed(0)
    model = StyleGAN2Generator(resolution=8, latent_dim=D, n_mlp=N_MLP, channels=[8, 8], lr_mlp=1.0)
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for fc in model.mapping:
            fc.weight.copy_(torch.randn(D, D, generator=g))
            fc.bias.copy_(torch.randn(D, generator=g) * 0.3)
    weights = [fc.weight.detach().double().numpy() for fc in model.mapping]
    biases = [fc.bias.detach().double().numpy() for fc in model.mapping]
    z = torch.randn(32, D, generator=torch.Generator().manual_seed(3))
    expected = reference_mapping(z.double().numpy(), weights, biases, 1.0)
    np.testing.assert_allclose(model.map(z).detach().double().numpy(), expected, rtol=1e-4,
                               atol=1e-4 * np.abs(expected).max())
