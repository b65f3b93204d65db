"""genforce / SeFa files: PGGAN with fused_scale true and false, genforce training checkpoints, and the layout
variants we refuse (each refusal names the variant). Tiny random weights under genforce's real key names, shapes
and containers, checked against a slow forward written here from genforce's published semantics."""

import math

import pytest
import torch
import torch.nn.functional as F

from ganexplorer import Generator
from ganexplorer.generators.checkpoints import load_family

D = 8


def pggan_weights(channels, fused, latent=D, rgb=3, seed=0):
    """genforce PGGANGenerator tensors: layer{2b}, layer{2b+1} (3x3; layer0 is the 4x4 'dense'), output{b} per
    resolution, lod. With fused_scale the up-sampling layers' weights are (in, out, 3, 3), otherwise (out, in, 3, 3)."""
    g = torch.Generator().manual_seed(seed)
    sd = {"lod": torch.zeros(())}
    sd["layer0.weight"], sd["layer0.bias"] = torch.randn(channels[0], latent, 4, 4, generator=g), \
        0.1 * torch.randn(channels[0], generator=g)
    for b, c in enumerate(channels):
        if b:
            shape = (channels[b - 1], c, 3, 3) if fused else (c, channels[b - 1], 3, 3)
            sd[f"layer{2 * b}.weight"] = torch.randn(shape, generator=g)
            sd[f"layer{2 * b}.bias"] = 0.1 * torch.randn(c, generator=g)
        sd[f"layer{2 * b + 1}.weight"] = torch.randn(c, c, 3, 3, generator=g)
        sd[f"layer{2 * b + 1}.bias"] = 0.1 * torch.randn(c, generator=g)
        sd[f"output{b}.weight"] = torch.randn(rgb, c, 1, 1, generator=g)
        sd[f"output{b}.bias"] = 0.1 * torch.randn(rgb, generator=g)
    return sd


def slow_transposed_conv(x, k, stride, padding):
    """Transposed conv by its definition: every input pixel scatters k (in, out, K, K) times its value."""
    n, _, h, w = x.shape
    size = k.shape[-1]
    out = torch.zeros(n, k.shape[1], (h - 1) * stride + size, (w - 1) * stride + size, dtype=x.dtype)
    for i in range(h):
        for j in range(w):
            out[:, :, i * stride:i * stride + size, j * stride:j * stride + size] += \
                torch.einsum("nc,cokl->nokl", x[:, :, i, j], k)
    return out[:, :, padding:out.shape[2] - padding, padding:out.shape[3] - padding]


def pggan_reference(sd, channels, fused, z):
    """genforce's PGGAN forward at lod 0, in float64: per layer pixel norm, (nearest x2 | fused), conv with weight
    * sqrt(2)/sqrt(fan_in) (1/sqrt(fan_in) for to-RGB), bias, leaky ReLU 0.2; the last resolution's to-RGB."""
    def pn(x):
        return x / torch.sqrt((x ** 2).mean(1, keepdim=True) + 1e-8)

    x = z.double().view(len(z), -1, 1, 1)
    n = 2 * len(channels)
    for i in range(n):
        w, b = sd[f"layer{i}.weight"].double(), sd[f"layer{i}.bias"].double()
        x = pn(x)
        if i == 0:
            x = F.conv2d(x, w * math.sqrt(2) / math.sqrt(w.shape[1] * 16), padding=3)
        elif i % 2 == 0 and fused:  # weight (in, out, 3, 3); fan_in = in * 9
            ws = w * math.sqrt(2) / math.sqrt(w.shape[0] * 9)
            k = torch.zeros(w.shape[0], w.shape[1], 4, 4, dtype=w.dtype)
            for di in (0, 1):
                for dj in (0, 1):
                    k[:, :, di:di + 3, dj:dj + 3] += ws
            x = slow_transposed_conv(x, k, 2, 1)
        else:
            if i % 2 == 0:
                x = x.repeat_interleave(2, 2).repeat_interleave(2, 3)
            x = F.conv2d(x, w * math.sqrt(2) / math.sqrt(w.shape[1] * 9), padding=1)
        x = F.leaky_relu(x + b.view(1, -1, 1, 1), 0.2)
    last = len(channels) - 1
    w, b = sd[f"output{last}.weight"].double(), sd[f"output{last}.bias"].double()
    return (F.conv2d(pn(x), w / math.sqrt(w.shape[1])) + b.view(1, -1, 1, 1)).float()


def test_the_fused_kernel_is_nearest_upsampling_then_the_flipped_conv():
    """Sanity of the reference itself: the stride-2 transposed conv with the shift-summed kernel equals nearest x2
    then a 3x3 conv with the transposed, flipped weight (the point of TF ProGAN's fused upscale2d_conv2d)."""
    torch.manual_seed(0)
    x, w = torch.randn(2, 3, 5, 5, dtype=torch.float64), torch.randn(3, 4, 3, 3, dtype=torch.float64)
    k = torch.zeros(3, 4, 4, 4, dtype=torch.float64)
    for di in (0, 1):
        for dj in (0, 1):
            k[:, :, di:di + 3, dj:dj + 3] += w
    up = F.conv2d(x.repeat_interleave(2, 2).repeat_interleave(2, 3), w.transpose(0, 1).flip(2, 3), padding=1)
    torch.testing.assert_close(slow_transposed_conv(x, k, 2, 1), up)


def _render(module, z):
    return Generator(module, device="cpu").render(z)


@pytest.mark.parametrize("fused", [True, False])
def test_pggan_fused_scale_read_from_the_shapes(tmp_path, fused):
    channels = [8, 8, 4]  # the 8 -> 4 layer tells the layout
    smooth, raw = pggan_weights(channels, fused, seed=1), pggan_weights(channels, fused, seed=2)
    path = tmp_path / "pggan_celebahq1024.pth"
    torch.save({"generator": raw, "discriminator": {"layer0.weight": torch.zeros(1)}, "generator_smooth": smooth},
               path)
    module, info = load_family(path)
    assert info["family"] == "progan" and info["fused_scale"] is fused and info["channels"] == channels
    z = torch.randn(3, D, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(_render(module, z), pggan_reference(smooth, channels, fused, z), rtol=1e-5,
                               atol=1e-5)
    with pytest.raises(ValueError, match=f"fused_scale={not fused} was asked.*fused_scale={fused} layout"):
        load_family(path, fused_scale=not fused)


def test_pggan_fused_scale_must_be_said_when_shapes_cannot_tell(tmp_path):
    channels = [8, 8, 8]  # no up-sampling layer changes the channel count
    sd = pggan_weights(channels, True, seed=3)
    path = tmp_path / "pggan_fused.pth"
    torch.save({"generator_smooth": sd}, path)
    with pytest.raises(ValueError, match="do not record fused_scale.*cannot tell.*fused_scale=False.*"
                                         "fused_scale=True"):
        load_family(path)
    z = torch.randn(3, D, generator=torch.Generator().manual_seed(6))
    images = {}
    for fused in (True, False):
        module, info = load_family(path, fused_scale=fused)
        assert info["fused_scale"] is fused
        images[fused] = _render(module, z)
        torch.testing.assert_close(images[fused], pggan_reference(sd, channels, fused, z), rtol=1e-5, atol=1e-5)
    assert (images[True] - images[False]).abs().max() > 0.1  # the wrong reading is a visibly different image


def test_pggan_fused_scale_is_a_genforce_option_only(tmp_path):
    from ganexplorer.generators.progan import ProGANGenerator

    path = tmp_path / "netdissect.pth"
    torch.save(ProGANGenerator(16, latent_dim=D, channels=[8, 8, 4]).state_dict(), path)
    with pytest.raises(ValueError, match="fused_scale=True is a genforce PGGAN option"):
        load_family(path, fused_scale=True)
    with pytest.raises(TypeError, match="only fused_scale"):
        load_family(path, truncation=0.5)


@pytest.mark.parametrize("fused", [True, False])
def test_genforce_training_checkpoint_is_unwrapped(tmp_path, fused):
    """genforce's runner saves {'models': {name: state_dict}, 'running_metadata', 'optimizers',
    'learning_rates'}; the smoothed generator is the one rendered."""
    channels = [8, 4, 4]
    smooth, raw = pggan_weights(channels, fused, seed=4), pggan_weights(channels, fused, seed=5)
    path = tmp_path / "checkpoint_iter140000.pth"
    torch.save({"models": {"generator": raw, "discriminator": {"layer0.weight": torch.zeros(2, 3, 1, 1)},
                           "generator_smooth": smooth},
                "running_metadata": {"iter": 140000, "seen_img": 140000 * 16},
                "optimizers": {"generator": {"state": {}, "param_groups": [{"lr": 0.001, "params": [0, 1]}]},
                               "discriminator": {"state": {}, "param_groups": [{"lr": 0.001, "params": [0]}]}},
                "learning_rates": {"generator": {"base_lrs": [0.001], "last_epoch": 140000}}}, path)
    module, info = load_family(path)
    assert info["family"] == "progan" and info["fused_scale"] is fused
    z = torch.randn(2, D, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(_render(module, z), pggan_reference(smooth, channels, fused, z), rtol=1e-5,
                               atol=1e-5)


# ------------------------------------------------------------------------------------------- refused variants

def swagan_state(size=8, d=D, c=8, n_mlp=2, seed=0):
    """rosinality's swagan.py Generator state dict: StyleGAN2 port names plus Haar wavelet buffers and 12-channel
    (4 sub-bands x RGB) to-RGB layers."""
    g = torch.Generator().manual_seed(seed)
    haar = {"ll": torch.full((2, 2), 0.5), "lh": torch.tensor([[-0.5, -0.5], [0.5, 0.5]]),
            "hl": torch.tensor([[-0.5, 0.5], [-0.5, 0.5]]), "hh": torch.tensor([[0.5, -0.5], [-0.5, 0.5]])}
    s = {}
    for i in range(1, n_mlp + 1):
        s[f"style.{i}.weight"], s[f"style.{i}.bias"] = torch.randn(d, d, generator=g), torch.zeros(d)
    s["input.input"] = torch.randn(1, c, 4, 4, generator=g)

    def styled(p, up):
        s[p + "conv.weight"] = torch.randn(1, c, c, 3, 3, generator=g)
        s[p + "conv.modulation.weight"], s[p + "conv.modulation.bias"] = torch.randn(c, d, generator=g), torch.ones(c)
        if up:
            s[p + "conv.blur.kernel"] = torch.ones(4, 4) / 4
        s[p + "noise.weight"], s[p + "activate.bias"] = torch.zeros(1), torch.zeros(c)

    def torgb(p, up):
        s[p + "conv.weight"] = torch.randn(1, 12, c, 1, 1, generator=g)
        s[p + "conv.modulation.weight"], s[p + "conv.modulation.bias"] = torch.randn(c, d, generator=g), torch.ones(c)
        s[p + "bias"] = torch.zeros(1, 12, 1, 1)
        if up:
            for name, f in haar.items():
                s[p + f"iwt.{name}"], s[p + f"dwt.{name}"] = f, f
            s[p + "upsample.kernel"] = torch.ones(4, 4) / 4

    styled("conv1.", False)
    torgb("to_rgb1.", False)
    n_blocks = int(math.log2(size)) - 2
    for i in range(n_blocks):
        styled(f"convs.{2 * i}.", True)
        styled(f"convs.{2 * i + 1}.", False)
        torgb(f"to_rgbs.{i}.", True)
    for i in range(2 * n_blocks + 1):
        r = 4 * 2 ** ((i + 1) // 2)
        s[f"noises.noise_{i}"] = torch.randn(1, 1, r, r, generator=g)
    for name, f in haar.items():
        s[f"iwt.{name}"] = f
    return s


@pytest.mark.parametrize("family", [None, "stylegan2"])
def test_swagan_is_refused_by_name(tmp_path, family):
    path = tmp_path / "swagan_ffhq.pt"
    torch.save({"g_ema": swagan_state(), "latent_avg": torch.zeros(D)}, path)
    with pytest.raises(ValueError, match="SWAGAN generator.*not supported.*gx.Generator"):
        load_family(path, family=family)


# ------------------------------------------------------------------------------------------ genforce StyleGAN2

SG_CH = [16, 16, 8]  # channels at 4, 8, 16
SG_L = 2 * len(SG_CH)  # w indices (genforce num_layers): layer0 .. layer{L-2}, the last read by output{last}
BLUR = torch.outer(torch.tensor([1.0, 3, 3, 1]), torch.tensor([1.0, 3, 3, 1])) / 64


def genforce_sg2_state(channels=SG_CH, d=D, n_mlp=2, rgb=3, seed=0):
    """genforce StyleGAN2Generator (skip, const input, repeat_w) tensors under its names: mapping.dense{i},
    truncation.w_avg, synthesis.early_layer.const, synthesis.layer{i}.{weight, bias, style.*, noise,
    noise_strength, filter.kernel (up-sampling convs)}, synthesis.output{b}.{weight, bias, style.*},
    synthesis.upsample.kernel. Style biases are stored without genforce's additional bias of 1."""
    g = torch.Generator().manual_seed(seed)

    def r(*shape, scale=1.0):
        return torch.randn(shape, generator=g) * scale

    s = {}
    for i in range(n_mlp):  # stored divided by lr_mul 0.01, as genforce keeps them
        s[f"mapping.dense{i}.weight"], s[f"mapping.dense{i}.bias"] = r(d, d, scale=100.0), r(d, scale=5.0)
    s["truncation.w_avg"] = r(d)
    s["synthesis.early_layer.const"] = r(1, channels[0], 4, 4)

    def layer(i, cin, cout, res, up):
        p = f"synthesis.layer{i}."
        s[p + "weight"], s[p + "bias"] = r(cout, cin, 3, 3), r(cout, scale=0.1)
        s[p + "style.weight"], s[p + "style.bias"] = r(cin, d), r(cin, scale=0.1)
        s[p + "noise"], s[p + "noise_strength"] = r(1, 1, res, res), r(scale=0.3)
        if up:
            s[p + "filter.kernel"] = (BLUR * 4)[None, None].clone()

    for b, c in enumerate(channels):
        res = 4 * 2 ** b
        if b == 0:
            layer(0, c, c, res, False)
        else:
            layer(2 * b - 1, channels[b - 1], c, res, True)
            layer(2 * b, c, c, res, False)
        p = f"synthesis.output{b}."
        s[p + "weight"], s[p + "bias"] = r(rgb, c, 1, 1), r(rgb, scale=0.1)
        s[p + "style.weight"], s[p + "style.bias"] = r(c, d), r(c, scale=0.1)
    s["synthesis.upsample.kernel"] = (BLUR * 4)[None, None].clone()
    return s


def _filter(x, kernel, pad):
    """Depthwise 2-D filtering with zero padding (left, right, top, bottom)."""
    c = x.shape[1]
    return F.conv2d(F.pad(x, pad), kernel.flip(0, 1)[None, None].repeat(c, 1, 1, 1).to(x), groups=c)


def genforce_sg2_reference(s, wp):
    """genforce's skip synthesis per sample in float64, from its published forward: styles = affine(w) + 1;
    weight * 1/sqrt(fan_in) modulated per input channel, demodulated per output channel (eps 1e-8); up-sampling
    layers: the weight laid out (k, k, in, out), spatially flipped, as a stride-2 transposed conv, then the
    [1,3,3,1] filter (gain 4, padding 1); noise * strength, bias, leaky ReLU 0.2 * sqrt(2); to-RGB: 1x1 modulated
    conv without demodulation; image = output(x) + up-sampled previous image (zero insertion, padding 2/1)."""
    s = {k: v.double() for k, v in s.items()}
    wp = wp.double()
    d = wp.shape[-1]
    n_blocks = len([k for k in s if k.startswith("synthesis.output") and k.endswith(".style.weight")])

    def style(p, w):
        return w @ (s[p + "style.weight"] / math.sqrt(d)).T + s[p + "style.bias"] + 1.0

    def modconv(p, x, w, up):
        weight = s[p + "weight"]
        cout, cin, k, _ = weight.shape
        weight = weight / math.sqrt(cin * k * k)
        st = style(p, w)
        out = []
        for n in range(len(x)):
            wn = weight * st[n].view(1, cin, 1, 1)
            wn = wn / torch.sqrt((wn ** 2).sum((1, 2, 3), keepdim=True) + 1e-8)
            if up:
                wt = wn.permute(2, 3, 1, 0).flip(0, 1).permute(2, 3, 0, 1)  # (in, out, k, k)
                y = F.conv_transpose2d(x[n:n + 1], wt, stride=2)
                y = _filter(y, BLUR * 4, (1, 1, 1, 1))
            else:
                y = F.conv2d(x[n:n + 1], wn, padding=1)
            out.append(y)
        x = torch.cat(out) + s[p + "noise"] * s[p + "noise_strength"]
        return F.leaky_relu(x + s[p + "bias"].view(1, -1, 1, 1), 0.2) * math.sqrt(2)

    def to_rgb(b, x, w):
        p = f"synthesis.output{b}."
        weight = s[p + "weight"] / math.sqrt(s[p + "weight"].shape[1])
        st = style(p, w)
        return torch.cat([F.conv2d(x[n:n + 1], weight * st[n].view(1, -1, 1, 1)) for n in range(len(x))]) \
            + s[p + "bias"].view(1, -1, 1, 1)

    x = s["synthesis.early_layer.const"].repeat(len(wp), 1, 1, 1)
    x = modconv("synthesis.layer0.", x, wp[:, 0], False)
    image = to_rgb(0, x, wp[:, 1])
    for b in range(1, n_blocks):
        x = modconv(f"synthesis.layer{2 * b - 1}.", x, wp[:, 2 * b - 1], True)
        x = modconv(f"synthesis.layer{2 * b}.", x, wp[:, 2 * b], False)
        n, c, h, w = image.shape
        up = F.pad(image.reshape(n, c, h, 1, w, 1), [0, 1, 0, 0, 0, 1]).reshape(n, c, 2 * h, 2 * w)
        image = to_rgb(b, x, wp[:, 2 * b + 1]) + _filter(up, BLUR * 4, (2, 1, 2, 1))
    return image.float()


def genforce_mapping_reference(s, z):
    """pixel norm, then dense layers: weight * 0.01/sqrt(in), bias * 0.01, leaky ReLU 0.2 * sqrt(2)."""
    x = z.double() / torch.sqrt((z.double() ** 2).mean(1, keepdim=True) + 1e-8)
    i = 0
    while f"mapping.dense{i}.weight" in s:
        w, b = s[f"mapping.dense{i}.weight"].double(), s[f"mapping.dense{i}.bias"].double()
        x = F.leaky_relu(x @ (w * 0.01 / math.sqrt(w.shape[1])).T + b * 0.01, 0.2) * math.sqrt(2)
        i += 1
    return x.float()


@pytest.mark.parametrize("container", ["model_file", "training_checkpoint"])
def test_genforce_stylegan2_renders_as_genforce(tmp_path, container):
    smooth, raw = genforce_sg2_state(seed=1), genforce_sg2_state(seed=2)
    models = {"generator": raw, "discriminator": {"layer0.weight": torch.zeros(4, 3, 1, 1)},
              "generator_smooth": smooth}
    path = tmp_path / "stylegan2_ffhq1024.pth"
    if container == "model_file":  # SeFa's model zoo files
        torch.save(models, path)
    else:
        torch.save({"models": models, "running_metadata": {"iter": 10, "seen_img": 320},
                    "optimizers": {"generator": {"state": {}, "param_groups": [{"lr": 0.002, "params": [0]}]}},
                    "learning_rates": {"generator": {"base_lrs": [0.002]}}}, path)
    module, info = load_family(path)
    assert info["family"] == "stylegan2" and "genforce" in info["format"] and info["num_layers"] == SG_L
    assert info["channels"] == SG_CH and info["w_avg"] == "the checkpoint's truncation.w_avg"
    assert "mapping_lr_mul=0.01" in info["assumed"]
    gen = torch.Generator().manual_seed(3)
    wp = torch.randn(3, SG_L, D, generator=gen)
    with torch.no_grad():
        torch.testing.assert_close(module(wp), genforce_sg2_reference(smooth, wp), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(module(wp[:1]), genforce_sg2_reference(smooth, wp[:1]), rtol=1e-5, atol=1e-5)
        z = torch.randn(2, D, generator=gen)
        torch.testing.assert_close(module.map(z), genforce_mapping_reference(smooth, z), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(module.w_avg, smooth["truncation.w_avg"])


def test_genforce_stylegan2_sefa_uses_factorize_weights_per_layer_range(tmp_path):
    """genforce's factorize_weight: layer i's synthesis.layer{i}.style.weight, the last index
    synthesis.output{i // 2}.style.weight; columns normalised, eigenvectors of W W^T."""
    from ganexplorer import sefa

    s = genforce_sg2_state(seed=4)
    path = tmp_path / "stylegan2_car512.pth"
    torch.save({"generator": s}, path)
    module, _ = load_family(path)
    G = Generator(module, device="cpu")
    for layers, idx in (("all", list(range(SG_L))), ("0-1", [0, 1]), ("2-5", [2, 3, 4, 5]), ("5", [5])):
        mats = [s[f"synthesis.output{i // 2}.style.weight" if i == SG_L - 1 else f"synthesis.layer{i}.style.weight"]
                for i in idx]
        torch.testing.assert_close(module.sefa_weight(layers), torch.cat(mats))
        weight = torch.cat([m.T for m in mats], 1).double()
        weight = weight / weight.norm(dim=0, keepdim=True)
        values, vectors = torch.linalg.eigh(weight @ weight.T)
        reference = vectors.T.flip(0)[:3]  # the three largest eigenvalues first
        bank = sefa(G, layers=layers, k=3)
        cos = (bank.directions.double() * reference).sum(1).abs()
        assert (cos > 0.99999).all(), (layers, cos)
        assert bank.layers == [layers] * 3  # the directions move only the factorised layers (W+)


@pytest.mark.parametrize("variant, match", [
    ("conditional", "conditional genforce StyleGAN2.*label_weight"),
    ("resnet", "'resnet' or 'origin' architecture"),
    ("repeat_w", "repeat_w=False"),
    ("channel_noise", "noise_type='channel'"),
])
def test_genforce_variants_are_refused_by_name(tmp_path, variant, match):
    s = genforce_sg2_state(seed=5)
    if variant == "conditional":
        s["mapping.label_weight"] = torch.randn(10, D)
        s["mapping.dense0.weight"] = torch.randn(D, 2 * D)
    elif variant == "resnet":
        for b in range(len(SG_CH) - 1):
            for k in ("weight", "bias", "style.weight", "style.bias"):
                del s[f"synthesis.output{b}.{k}"]
        del s["synthesis.upsample.kernel"]
    elif variant == "repeat_w":
        s["mapping.dense1.weight"] = torch.randn(SG_L * D, D)
        s["mapping.dense1.bias"] = torch.zeros(SG_L * D)
    elif variant == "channel_noise":
        for k in list(s):
            if k.endswith(".noise"):
                s[k] = torch.randn(1, s[k.replace(".noise", ".bias")].shape[0], 1, 1)
    path = tmp_path / "g.pth"
    torch.save({"generator_smooth": s}, path)
    with pytest.raises(ValueError, match=match):
        load_family(path)
    with pytest.raises(ValueError, match=match):
        load_family(path, family="stylegan2")


def test_conditional_pggan_is_refused_when_its_discriminator_shows_it(tmp_path):
    """genforce's PGGANDiscriminator ends in a dense layer with 1 + label_size outputs (layer{2 * blocks})."""
    channels = [8, 8, 4]
    g = pggan_weights(channels, False, latent=D + 10, seed=6)  # layer0 reads z and the 10-way label
    disc = {"input0.weight": torch.randn(4, 3, 1, 1), "layer0.weight": torch.randn(4, 4, 3, 3),
            "layer5.weight": torch.randn(8, 8 * 16), "layer6.weight": torch.randn(11, 8),
            "layer6.bias": torch.zeros(11)}
    path = tmp_path / "pggan_conditional.pth"
    torch.save({"generator": g, "discriminator": disc, "generator_smooth": g}, path)
    with pytest.raises(ValueError, match="conditional genforce PGGAN \\(label_size=10.*not supported"):
        load_family(path)
    disc["layer6.weight"], disc["layer6.bias"] = torch.randn(1, 8), torch.zeros(1)  # unconditional: loads
    torch.save({"generator": g, "discriminator": disc, "generator_smooth": g}, path)
    module, info = load_family(path)
    assert info["latent_dim"] == D + 10


# ------------------------------------------------------------------------------------ genforce StyleGAN (v1)

V1_CH = [8, 8, 8, 6, 4, 4]  # 4 .. 128: the 128 x 128 up-sampling layer is fused under genforce's 'auto'
V1_L = 2 * len(V1_CH)
BLUR3 = torch.outer(torch.tensor([1.0, 2, 1]), torch.tensor([1.0, 2, 1])) / 16


def genforce_sg1_state(channels=V1_CH, d=D, n_mlp=2, rgb=3, seed=0):
    """genforce StyleGANGenerator tensors: mapping.dense{i}, truncation.w_avg, synthesis.lod,
    synthesis.layer{i}.{const (layer 0) | weight, bias, apply_noise.{noise, weight}, style.{weight, bias},
    blur.kernel (up-sampling layers)}, synthesis.output{b} for every resolution (progressive growing)."""
    g = torch.Generator().manual_seed(seed)

    def r(*shape, scale=1.0):
        return torch.randn(shape, generator=g) * scale

    s = {}
    for i in range(n_mlp):
        s[f"mapping.dense{i}.weight"], s[f"mapping.dense{i}.bias"] = r(d, d, scale=100.0), r(d, scale=5.0)
    s["truncation.w_avg"] = r(d)
    s["synthesis.lod"] = torch.zeros(())
    for b, c in enumerate(channels):
        res = 4 * 2 ** b
        for i in (2 * b, 2 * b + 1):
            p = f"synthesis.layer{i}."
            if i == 0:
                s[p + "const"] = r(1, c, 4, 4)
            else:
                s[p + "weight"] = r(c, channels[b - 1] if i == 2 * b else c, 3, 3)
            s[p + "bias"] = r(c, scale=0.1)
            s[p + "apply_noise.noise"], s[p + "apply_noise.weight"] = r(1, 1, res, res), r(c, scale=0.3)
            s[p + "style.weight"], s[p + "style.bias"] = r(2 * c, d), r(2 * c, scale=0.2)
            if i == 2 * b and b > 0:
                s[p + "blur.kernel"] = BLUR3.expand(c, 1, 3, 3).clone()
        s[f"synthesis.output{b}.weight"], s[f"synthesis.output{b}.bias"] = r(rgb, c, 1, 1), r(rgb, scale=0.1)
    return s


def genforce_sg1_reference(s, wp, fused_from=128):
    """genforce's StyleGAN synthesis at lod 0 in float64: per layer (const | [nearest x2 or, from ``fused_from``,
    the fused transposed conv] conv * sqrt(2)/sqrt(fan_in), [1,2,1] blur after up-sampling), noise * per-channel
    weight, bias, leaky ReLU 0.2, instance norm, x * (1 + scale) + shift with (scale, shift) = style(w); the last
    to-RGB (1x1, gain 1)."""
    s = {k: v.double() for k, v in s.items()}
    wp = wp.double()
    n, d = len(wp), wp.shape[-1]
    x = None
    for i in range(wp.shape[1]):
        p = f"synthesis.layer{i}."
        if i == 0:
            x = s[p + "const"].repeat(n, 1, 1, 1)
        else:
            w = s[p + "weight"]
            w = w * math.sqrt(2) / math.sqrt(w.shape[1] * 9)
            up = i % 2 == 0
            if up and x.shape[-1] * 2 >= fused_from:
                k = torch.zeros(w.shape[0], w.shape[1], 4, 4, dtype=w.dtype)
                for di in (0, 1):
                    for dj in (0, 1):
                        k[:, :, di:di + 3, dj:dj + 3] += w
                x = slow_transposed_conv(x, k.transpose(0, 1), 2, 1)
            else:
                if up:
                    x = x.repeat_interleave(2, 2).repeat_interleave(2, 3)
                x = F.conv2d(x, w, padding=1)
            if up:
                x = F.conv2d(x, BLUR3.double().expand(x.shape[1], 1, 3, 3), padding=1, groups=x.shape[1])
        c = x.shape[1]
        x = x + s[p + "apply_noise.noise"] * s[p + "apply_noise.weight"].view(1, c, 1, 1)
        x = F.leaky_relu(x + s[p + "bias"].view(1, c, 1, 1), 0.2)
        x = x - x.mean((2, 3), keepdim=True)
        x = x / torch.sqrt((x ** 2).mean((2, 3), keepdim=True) + 1e-8)
        st = wp[:, i] @ (s[p + "style.weight"] / math.sqrt(d)).T + s[p + "style.bias"]
        x = x * (1 + st[:, :c, None, None]) + st[:, c:, None, None]
    last = wp.shape[1] // 2 - 1
    w = s[f"synthesis.output{last}.weight"]
    return (F.conv2d(x, w / math.sqrt(w.shape[1])) + s[f"synthesis.output{last}.bias"].view(1, -1, 1, 1)).float()


def genforce_sg1_mapping_reference(s, z):
    x = z.double() / torch.sqrt((z.double() ** 2).mean(1, keepdim=True) + 1e-8)
    i = 0
    while f"mapping.dense{i}.weight" in s:
        w, b = s[f"mapping.dense{i}.weight"].double(), s[f"mapping.dense{i}.bias"].double()
        x = F.leaky_relu(x @ (w * math.sqrt(2) * 0.01 / math.sqrt(w.shape[1])).T + b * 0.01, 0.2)
        i += 1
    return x.float()


@pytest.mark.parametrize("container", ["model_file", "training_checkpoint"])
def test_genforce_stylegan_v1_renders_as_genforce(tmp_path, container):
    smooth, raw = genforce_sg1_state(seed=1), genforce_sg1_state(seed=2)
    models = {"generator": raw, "discriminator": {"layer0.weight": torch.zeros(4, 3, 1, 1)},
              "generator_smooth": smooth}
    path = tmp_path / "stylegan_car512.pth"
    torch.save(models if container == "model_file" else
               {"models": models, "running_metadata": {"iter": 1, "seen_img": 32}, "optimizers": {}}, path)
    with pytest.raises(ValueError, match="do not record fused_scale.*cannot tell.*fused_scale='auto'.*"
                                         r"layers \[10\] fused at 128 px.*fused_scale=False.*fused_scale=True"):
        load_family(path)
    module, info = load_family(path, fused_scale="auto")
    assert info["family"] == "stylegan2" and info["architecture"] == "StyleGAN v1" and "StyleGAN (v1)" in info["format"]
    assert info["num_layers"] == V1_L and info["channels"] == V1_CH and info["fused_layers"] == [V1_L - 2]
    gen = torch.Generator().manual_seed(3)
    wp = torch.randn(2, V1_L, D, generator=gen)
    with torch.no_grad():
        torch.testing.assert_close(module(wp), genforce_sg1_reference(smooth, wp), rtol=1e-5, atol=1e-5)
        z = torch.randn(2, D, generator=gen)
        torch.testing.assert_close(module.map(z), genforce_sg1_mapping_reference(smooth, z), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(module.w_avg, smooth["truncation.w_avg"])
        # fused_scale=False: nearest up-sampling everywhere, a visibly different image
        plain, info = load_family(path, fused_scale=False)
        assert info["fused_layers"] == []
        expected = genforce_sg1_reference(smooth, wp, fused_from=10 ** 6)
        torch.testing.assert_close(plain(wp), expected, rtol=1e-5, atol=1e-5)
        assert (expected - module(wp)).abs().max() > 1e-2
    G = Generator(module, device="cpu")
    images = G.render(G.sample_latents(2, seed=0))
    assert images.shape == (2, 3, 128, 128) and torch.isfinite(images).all()


def test_genforce_stylegan_v1_at_64px_must_say_fused_scale(tmp_path):
    """Issue 28: a 64 px model trained with fused_scale=True loaded under 'auto' (no layer fused below 128 px)
    with no warning and rendered a wrong image; the file cannot tell, so it is refused until fused_scale says."""
    channels = V1_CH[:5]  # 4 .. 64 px
    smooth = genforce_sg1_state(channels=channels, seed=5)
    path = tmp_path / "stylegan_mine64.pth"
    torch.save({"generator": smooth}, path)
    with pytest.raises(ValueError, match="do not record fused_scale.*at 64 px the same as False.*"
                                         "fused_scale=True.*--option fused_scale=auto"):
        load_family(path)
    wp = torch.randn(2, 2 * len(channels), D, generator=torch.Generator().manual_seed(6))
    fused, info = load_family(path, fused_scale=True)
    assert info["fused_layers"] == [2, 4, 6, 8]
    with torch.no_grad():
        expected = genforce_sg1_reference(smooth, wp, fused_from=8)
        torch.testing.assert_close(fused(wp), expected, rtol=1e-5, atol=1e-5)
        assert (load_family(path, fused_scale="auto")[0](wp) - expected).abs().max() > 1e-2  # the wrong guess


def test_genforce_stylegan_v1_sefa_and_refusals(tmp_path):
    from ganexplorer import sefa

    s = genforce_sg1_state(seed=4)
    path = tmp_path / "stylegan_ffhq1024.pth"
    torch.save({"generator": s}, path)
    module, _ = load_family(path, fused_scale="auto")
    G = Generator(module, device="cpu")
    for layers, idx in (("all", list(range(V1_L))), ("0-1", [0, 1]), ("4-7", [4, 5, 6, 7])):
        mats = [s[f"synthesis.layer{i}.style.weight"] for i in idx]  # factorize_weight: layer{i}.style.weight.T
        torch.testing.assert_close(module.sefa_weight(layers), torch.cat(mats))
        weight = torch.cat([m.T for m in mats], 1).double()
        weight = weight / weight.norm(dim=0, keepdim=True)
        _, vectors = torch.linalg.eigh(weight @ weight.T)
        bank = sefa(G, layers=layers, k=3)
        cos = (bank.directions.double() * vectors.T.flip(0)[:3]).sum(1).abs()
        assert (cos > 0.99999).all(), (layers, cos)
        assert bank.layers == [layers] * 3
    with pytest.raises(TypeError, match="StyleGAN \\(v1\\) option.*conv_clamp"):
        load_family(path, conv_clamp=256)
    bad = dict(s, **{"synthesis.lod": torch.tensor(1.5)})
    torch.save({"generator": bad}, path)
    with pytest.raises(ValueError, match="'synthesis.lod' is 1.5: a snapshot taken mid-growth"):
        load_family(path)
    bad = dict(s, **{"mapping.label_weight": torch.randn(10, D)})
    torch.save({"generator": bad}, path)
    with pytest.raises(ValueError, match="conditional genforce StyleGAN generator"):
        load_family(path)
    bad = dict(s, **{"synthesis.layer2.blur.kernel": torch.ones(8, 1, 3, 3) / 9})
    torch.save({"generator": bad}, path)
    with pytest.raises(ValueError, match="blur"):
        load_family(path)
