"""Rendering without wasted work and in the right precision: the style cache gives exactly the uncached render and
follows every change of its inputs; the per-family dtype / memory-format policy picks half precision only on CUDA
and only where the family allows it."""

import pytest
import torch

import ganexplorer as gx
from ganexplorer.device import render_policy
from ganexplorer.generators.dcgan import DCGANGenerator
from ganexplorer.generators.genforce import StyleGANGenerator
from ganexplorer.generators.progan import ProGANGenerator
from ganexplorer.generators.stylegan2 import StyleGAN2Generator


def toy_sg2(seed: int = 0) -> StyleGAN2Generator:
    torch.manual_seed(seed)
    module = StyleGAN2Generator(resolution=16, latent_dim=8, n_mlp=2, channels=8)
    with torch.no_grad():
        for conv in module.convs:
            conv.noise_strength.fill_(0.3)  # the stored noise takes part, as in a trained file
    return module.eval()


def test_style_cache_renders_exactly_the_uncached_image_and_follows_its_inputs():
    cached, plain = toy_sg2(), toy_sg2()
    plain.style_cache = False
    assert cached.style_cache and not plain.style_cache
    w = cached.per_layer(torch.randn(1, 8)).clone()
    with torch.inference_mode():
        first = cached(w)
        kept = cached.convs[0]._mod_entry[2][2]
        assert torch.equal(first, plain(w)) and torch.equal(cached(w), first)
        moved = w.clone()
        moved[:, 3:] += 0.5  # a direction on layers 3.. only: convs 0-2 keep their modulated weights
        out = cached(moved)
        hit, miss = cached.convs[0]._mod_entry[2][2], cached.convs[3]._mod_entry[2][2]
        assert hit is kept and miss is not kept
        assert torch.equal(out, plain(moved)) and not torch.equal(out, first)
        early = moved.clone()
        early[:, 0] -= 0.25  # a change on layer 0 alone must reach the image too
        assert torch.equal(cached(early), plain(early)) and not torch.equal(cached(early), out)
    with torch.no_grad():  # weights edited in place (a new checkpoint loaded): cached norms and weights are stale
        for m in (cached, plain):
            m.convs[1].weight.mul_(1.5)
            m.convs[1].weight[0, 0, 0, 0] += 1.0
    with torch.inference_mode():
        assert torch.equal(cached(moved), plain(moved))
        assert not torch.equal(cached(moved), out)
    plain.load_state_dict(toy_sg2(seed=1).state_dict())
    cached.load_state_dict(toy_sg2(seed=1).state_dict())
    with torch.inference_mode():
        assert torch.equal(cached(moved), plain(moved))


def test_style_cache_batches_and_gradients_match_the_uncached_module():
    cached, plain = toy_sg2(), toy_sg2()
    plain.style_cache = False
    w = torch.randn(3, 8)
    g_cached, g_plain = gx.Generator(cached, device="cpu"), gx.Generator(plain, device="cpu")
    for _ in range(2):
        assert (g_cached.render_uint8(w) == g_plain.render_uint8(w)).all()
        assert (g_cached.render_uint8(w[:1]) == g_plain.render_uint8(w[:1])).all()
    grads = []
    for m in (cached, plain):  # projection: gradients through the modulation, never a cached tensor
        x = w[:1].clone().requires_grad_(True)
        m(x).square().sum().backward()
        grads.append(x.grad)
    torch.testing.assert_close(grads[0], grads[1], rtol=0, atol=0)
    assert grads[0].abs().sum() > 0


CUDA, CPU = torch.device("cuda"), torch.device("cpu")  # a device object needs no GPU: the choice logic is testable


def small_modules() -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    return {"sg2": toy_sg2(), "sg2 clamped": StyleGAN2Generator(resolution=8, latent_dim=8, n_mlp=1, channels=4,
                                                                 conv_clamp=256.0),
            "v1": StyleGANGenerator(resolution=8, latent_dim=8, n_mlp=1, channels=[4, 4]),
            "progan": ProGANGenerator(resolution=8, latent_dim=8, channels=[8, 4]),
            "dcgan": DCGANGenerator(latent_dim=8)}


def test_on_cuda_built_in_families_render_in_float32_unless_half_was_measured_to_pay():
    """No built-in family was measured faster in half precision on a GPU (x0.75-1.03 at batch 1), so all render
    in float32 there, and the policy says why; a measured gain switches the family to half."""
    from ganexplorer import device

    for name, module in small_modules().items():
        for bf16 in (True, False):
            policy = render_policy(module, CUDA, bf16_supported=bf16)
            assert policy.dtype == torch.float32, name
        if name != "dcgan":  # DCGAN is not safe in half at all (its why says so)
            assert "measured" in policy.why and "dtype='bfloat16' opts in" in policy.why, name
    assert "x0.75" in render_policy(small_modules()["progan"], CUDA, bf16_supported=True).why
    assert device.CUDA_HALF_SPEEDUP["StyleGAN2Generator"] < device.HALF_PAYS


def test_policy_is_float32_on_cpu_and_half_only_where_the_family_allows_it_on_cuda(monkeypatch):
    """The choice among half types, for families measured to pay (monkeypatched gains)."""
    from ganexplorer import device

    monkeypatch.setattr(device, "CUDA_HALF_SPEEDUP", {f: 1.5 for f in device.FAMILY_HALF})
    m = small_modules()
    for module in m.values():
        assert render_policy(module, CPU).dtype == torch.float32
        assert render_policy(module, CPU, bf16_supported=True).dtype == torch.float32
    bf16 = {k: render_policy(v, CUDA, bf16_supported=True).dtype for k, v in m.items()}
    assert bf16 == {"sg2": torch.bfloat16, "sg2 clamped": torch.bfloat16, "v1": torch.bfloat16,
                    "progan": torch.bfloat16, "dcgan": torch.float32}
    older = {k: render_policy(v, CUDA, bf16_supported=False) for k, v in m.items()}  # e.g. a T4 or V100
    assert {k: p.dtype for k, p in older.items()} == {
        "sg2": torch.float32, "sg2 clamped": torch.float16, "v1": torch.float32, "progan": torch.float32,
        "dcgan": torch.float32}
    assert "without conv_clamp" in older["sg2"].why and "bfloat16" in older["progan"].why
    own = torch.nn.Sequential(torch.nn.Linear(8, 12))  # a user's module: float32 unless it says otherwise
    assert render_policy(own, CUDA, bf16_supported=True).dtype == torch.float32
    own.render_half = ("float16",)
    assert render_policy(own, CUDA, bf16_supported=False).dtype == torch.float16


def test_generator_follows_the_policy_on_this_machine_and_explicit_choices_win(monkeypatch):
    m = small_modules()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    progan = gx.Generator(m["progan"], device="auto")
    assert progan.device.type == "cpu" and progan.dtype == torch.float32 and progan.channels_last
    conv_weights = [p for p in progan.module.parameters() if p.ndim == 4]
    assert conv_weights and all(p.is_contiguous(memory_format=torch.channels_last) and not p.is_contiguous()
                                for p in conv_weights if p.shape[-1] > 1 or p.shape[-2] > 1)
    z = progan.sample_latents(3, seed=0)
    nchw = gx.Generator(small_modules()["progan"], device="cpu", channels_last=False)
    assert not nchw.channels_last and all(p.is_contiguous() for p in nchw.module.parameters())
    torch.testing.assert_close(progan.render(z), nchw.render(z), rtol=1e-4, atol=1e-5)
    sg2 = gx.Generator(m["sg2"], device="cpu")
    assert not sg2.channels_last and sg2.policy.why.startswith("cpu: float32")
    assert gx.Generator(m["v1"], device="cpu", dtype="bfloat16").dtype == torch.bfloat16
    with pytest.raises(ValueError, match="channels_last must be 'auto', True or False"):
        gx.Generator(m["dcgan"], device="cpu", channels_last="yes")
    with pytest.raises(ValueError, match="use 'auto', 'float32'"):
        gx.Generator(m["dcgan"], device="cpu", dtype="int8")
