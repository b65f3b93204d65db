import numpy as np
import pytest
import torch
from conftest import TinyGenerator
from torch import nn

from ganexplorer import Generator
from ganexplorer.device import resolve_device


def test_auto_device_is_cpu_without_cuda_and_cuda_request_is_explained():
    if torch.cuda.is_available():
        pytest.skip("machine has CUDA")
    assert resolve_device("auto").type == "cpu"
    with pytest.raises(ValueError, match="no GPU"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu-please")


def test_latent_dim_is_read_from_the_module_or_must_be_given():
    assert Generator(TinyGenerator(latent_dim=5), device="cpu").latent_dim == 5
    with pytest.raises(ValueError, match="latent_dim="):
        Generator(nn.Sequential(nn.Linear(4, 4)), device="cpu")
    assert Generator(nn.Sequential(nn.Linear(4, 4)), latent_dim=4, device="cpu").latent_dim == 4


def test_module_is_frozen_in_eval_mode(tiny):
    assert not tiny.module.training
    assert not any(p.requires_grad for p in tiny.module.parameters())


def test_sample_latents_is_seeded_and_on_device(tiny):
    a, b, c = tiny.sample_latents(4, seed=1), tiny.sample_latents(4, seed=1), tiny.sample_latents(4, seed=2)
    assert a.shape == (4, 8) and a.device == tiny.device
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_render_shapes_range_and_chunking_agree(tiny):
    z = tiny.sample_latents(10, seed=0)
    whole = tiny.render(z)
    assert whole.shape == (10, 3, 16, 16) and whole.min() >= -1 and whole.max() <= 1
    assert torch.allclose(whole, tiny.render(z, batch_size=3), atol=1e-6)
    assert tiny.image_shape == (3, 16, 16)
    assert tiny.render(z[0]).shape == (1, 3, 16, 16)  # a single latent is accepted
    assert tiny.render(z.numpy()).shape == (10, 3, 16, 16)


def test_bad_latents_are_explained(tiny):
    with pytest.raises(ValueError, match=r"shape \(N, 8\)"):
        tiny.render(torch.zeros(2, 7))
    with pytest.raises(ValueError, match=r"shape \(N, 8\)"):
        tiny.render(torch.zeros(2, 2, 8))
    z = torch.zeros(3, 8)
    z[1, 2] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        tiny.render(z)
    z[1, 2] = float("inf")
    with pytest.raises(ValueError, match="NaN or inf"):
        tiny.render(z)


def test_module_that_does_not_return_images_is_explained():
    flat = Generator(nn.Linear(4, 10), latent_dim=4, device="cpu", name="flat")
    with pytest.raises(ValueError, match=r"flat returned a tensor of shape \(1, 10\).*\(N, C, H, W\)"):
        flat.render(torch.zeros(2, 4))


def test_to_uint8_maps_the_range_on_device_and_to_channels_last():
    images = torch.tensor([-1.0, 0.0, 1.0, 2.0]).view(1, 1, 2, 2)
    out = Generator.to_uint8(images)
    assert out.dtype == torch.uint8 and out.shape == (1, 2, 2, 1)
    assert out.flatten().tolist() == [0, 128, 255, 255]
    ramp = torch.tensor([-2.0, -0.999, -0.5, 0.25, 0.5, 0.999]).view(1, 1, 1, 6).expand(1, 3, 1, 6)
    assert Generator.to_uint8(ramp)[0, 0, :, 0].tolist() == [0, 0, 64, 159, 191, 255]  # round((x + 1) * 127.5)
    rgb = torch.stack([torch.full((2, 2), v) for v in (-1.0, 0.0, 1.0)])[None]  # channel c is constant
    assert Generator.to_uint8(rgb)[0, 1, 1].tolist() == [0, 128, 255]  # channels last, in order


def test_render_uint8_returns_host_frames(tiny):
    z = tiny.sample_latents(5, seed=0)
    frames = tiny.render_uint8(z)
    assert isinstance(frames, np.ndarray) and frames.dtype == np.uint8 and frames.shape == (5, 16, 16, 3)
    with torch.no_grad():  # the module's own output, mapped to 0..255 in numpy: no Generator code involved
        x = tiny.module(z).numpy()
    expected = np.clip(np.floor((x + 1) * 127.5 + 0.5), 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)
    assert np.abs(frames.astype(int) - expected).max() <= 1 and (frames == expected).mean() > 0.99  # ties round
    assert frames.std() > 10 and len(np.unique(frames)) > 50  # real images, not a constant
    np.testing.assert_array_equal(tiny.render_uint8(z, batch_size=2), frames)  # chunks change nothing


def test_render_is_the_module_output_and_latents_are_standard_normal(tiny):
    z = tiny.sample_latents(6, seed=3)
    torch.testing.assert_close(z, torch.randn(6, 8, generator=torch.Generator().manual_seed(3)))
    with torch.no_grad():
        torch.testing.assert_close(tiny.render(z), tiny.module(z))


def test_a_latent_hook_and_per_layer_latents_are_honoured(style):
    """A module with ``latents_from_noise`` gets its own latents; a layer-aware one accepts (N, layers, d)."""
    style.module.latents_from_noise = lambda noise: noise * 0.5 + 1.0
    noise = torch.randn(3, 8, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(style.sample_latents(3, seed=4), noise * 0.5 + 1.0)
    per_layer = torch.randn(2, 4, 8, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        torch.testing.assert_close(style.render(per_layer), style.module(per_layer))
    with pytest.raises(ValueError, match=r"\(N, 4, 8\)"):
        style.render(torch.zeros(2, 3, 8))


def test_latents_beyond_any_sample_are_refused(tiny):
    z = torch.zeros(2, 8)
    z[0, 0] = 2e6
    with pytest.raises(ValueError, match="reach 2e\\+06"):
        tiny.render(z)
    z[0, 0] = 1e6  # the limit itself is allowed
    assert tiny.render(z).shape == (2, 3, 16, 16)


def test_half_precision_rendering_stays_close_and_returns_float32(shapes):
    half = Generator(shapes.module, device="cpu", dtype="bfloat16")
    z = shapes.sample_latents(4, seed=0)
    images = half.render(z)
    assert images.dtype == torch.float32 and (images - shapes.render(z)).abs().max() < 0.1
    with pytest.raises(ValueError, match="unknown render dtype"):
        Generator(shapes.module, device="cpu", dtype="int8")


def test_large_images_render_in_chunks_of_a_pixel_budget(monkeypatch):
    import ganexplorer.generators.generator as gen_mod

    g = Generator(TinyGenerator(), device="cpu", name="tiny")  # 16x16 images
    monkeypatch.setattr(gen_mod, "PIXELS_PER_CALL", 16 * 16 * 3)  # three images per forward
    calls = []
    hook = g.module.register_forward_hook(lambda m, i, o: calls.append(len(i[0])))
    z = g.sample_latents(8, seed=0)
    frames = g.render_uint8(z)
    assert calls == [1, 3, 3, 2] and frames.shape == (8, 16, 16, 3) and frames.dtype == np.uint8
    calls.clear()
    assert torch.allclose(g.render(z, batch_size=8), g.render(z), atol=1e-6) and calls == [8, 3, 3, 2]
    hook.remove()


def test_construction_errors_name_the_problem_and_the_fix():
    with pytest.raises(TypeError, match="Generator wraps a torch.nn.Module, got int"):
        Generator(3)
    with pytest.raises(ValueError, match=r"pass it explicitly, e.g. Generator\(module, latent_dim=128\)"):
        Generator(nn.Linear(4, 4), latent_dim=0, device="cpu")
    for name in ("float16", "fp16", "half", "bfloat16", "bf16", "float32"):
        assert Generator(TinyGenerator(), device="cpu", dtype=name).dtype in (torch.float16, torch.bfloat16,
                                                                               torch.float32)
    assert Generator(TinyGenerator(), device="cpu", dtype="float16").dtype == torch.float16


def test_per_layer_latents_need_a_layer_aware_module_and_the_right_layer_count(tiny, style):
    with pytest.raises(ValueError, match=r"latents must have shape \(N, 8\) for tiny, got \(2, 4, 8\)$"):
        tiny.render(torch.zeros(2, 4, 8))  # a flat generator: no per-layer latents
    with pytest.raises(ValueError, match=r"\(N, 8\) or, one latent per layer, \(N, 4, 8\) for .*got \(2, 5, 8\)"):
        style.render(torch.zeros(2, 5, 8))
    assert style.check_latents(torch.zeros(2, 4, 8)).shape == (2, 4, 8)
    assert tiny.check_latents(torch.zeros(0, 8)).shape == (0, 8)  # no latents: nothing to check


def test_overflowing_modules_are_explained_and_half_precision_is_named():
    class Overflow(nn.Module):
        latent_dim = 2

        def forward(self, z):
            return (z * float("inf")).view(-1, 1, 1, 2)

    g = Generator(Overflow(), device="cpu", name="over")
    with pytest.raises(ValueError, match=r"over returned NaN or inf pixels .*\(they overflowed inside the network\)"):
        g.render(torch.ones(1, 2))
    half = Generator(Overflow(), device="cpu", name="over", dtype="bfloat16")
    with pytest.raises(ValueError, match="at reduced precision: try dtype='float32'"):
        half.render(torch.ones(1, 2))


def test_a_single_chunk_is_returned_as_rendered(tiny):
    z = tiny.sample_latents(4, seed=0)
    assert tiny.render(z).shape == (4, 3, 16, 16) and tiny.render(z, batch_size=4).is_contiguous()
    with pytest.raises(ValueError, match="images \\(N, C, H, W\\) with C = 1 or 3, values in \\[-1, 1\\]"):
        Generator(nn.Linear(4, 10), latent_dim=4, device="cpu").render(torch.zeros(1, 4))
