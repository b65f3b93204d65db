"""ProGAN / PGGAN and SN-GAN from files in their real layouts: tiny random weights under the true key names
(netdissect / GANSpace, the latent-discovery paper's ProgGAN file, genforce / SeFa; the paper's SN-GAN folders),
checked against small independent forward passes written from the reference layouts."""

import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ganexplorer import Generator, sefa
from ganexplorer.generators.checkpoints import load_family
from ganexplorer.generators.progan import ProGANGenerator, default_channels
from ganexplorer.generators.sngan import SNGANGenerator

D = 8  # latent size of the tiny files
CH = [8, 8, 4]  # ProGAN feature depths at 4x4, 8x8, 16x16


# ------------------------------------------------------------------------------------ ProGAN reference layouts

def progan_layers(channels=CH, latent=D, rgb=3, seed=0):
    """[(weight, bias, kernel)] of the conv layers then the to-RGB layer, random, in PyTorch conv layout."""
    g = torch.Generator().manual_seed(seed)
    shapes = [(channels[0], latent, 4), (channels[0], channels[0], 3)]
    for a, b in zip(channels, channels[1:]):
        shapes += [(b, a, 3), (b, b, 3)]
    shapes.append((rgb, channels[-1], 1))
    return [(torch.randn(o, i, k, k, generator=g), 0.1 * torch.randn(o, generator=g), k) for o, i, k in shapes]


def netdissect_sd(layers):
    sd = {}
    for i, (w, b, _) in enumerate(layers[:-1]):
        sd[f"layer{i + 1}.conv.weight"], sd[f"layer{i + 1}.wscale.b"] = w, b
    res = 4 * 2 ** ((len(layers) - 1) // 2 - 1)
    sd[f"output_{res}x{res}.conv.weight"], sd[f"output_{res}x{res}.wscale.b"] = layers[-1][:2]
    return sd


def ptrblck_sd(layers, scales):
    sd = {}
    for i, ((w, b, _), s) in enumerate(zip(layers[:-1], scales)):
        sd[f"features.{i}.conv.weight"], sd[f"features.{i}.wscale.b"] = w, b
        sd[f"features.{i}.wscale.scale"] = torch.tensor([s])
    sd["output.conv.weight"], sd["output.wscale.b"] = layers[-1][:2]
    sd["output.wscale.scale"] = torch.tensor([scales[-1]])
    return sd


def genforce_sd(layers, lod=0.0):
    sd = {"lod": torch.tensor(lod)}
    for i, (w, b, _) in enumerate(layers[:-1]):
        sd[f"layer{i}.weight"], sd[f"layer{i}.bias"] = w, b
    blocks = (len(layers) - 1) // 2
    for j in range(blocks):  # a to-RGB per resolution; only the last is used at lod 0
        cin = layers[2 * j][0].shape[0]
        sd[f"output{j}.weight"], sd[f"output{j}.bias"] = torch.randn(3, cin, 1, 1), torch.zeros(3)
    sd[f"output{blocks - 1}.weight"], sd[f"output{blocks - 1}.bias"] = layers[-1][:2]
    return sd


def default_scales(layers):
    return [(1.0 if k == 1 else math.sqrt(2)) / math.sqrt(w.shape[1] * k * k) for w, _, k in layers]


def progan_reference(layers, scales, z):
    """The ports' forward: per layer pixel norm, (nearest x2), conv without bias, * scale + b, leaky ReLU 0.2."""
    x = z.view(len(z), -1, 1, 1)
    for i, ((w, b, k), s) in enumerate(zip(layers, scales)):
        x = x / torch.sqrt(torch.mean(x**2, dim=1, keepdim=True) + 1e-8)
        if i >= 2 and i % 2 == 0 and i < len(layers) - 1:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = F.conv2d(x, w, padding={4: 3, 3: 1, 1: 0}[k]) * s + b.view(1, -1, 1, 1)
        if i < len(layers) - 1:
            x = F.leaky_relu(x, 0.2)
    return x


def check_render(G, shape, reference=None, unclamped=False):
    z = G.sample_latents(4, seed=1)
    images = G.render(z)
    assert images.shape == (4, *shape)
    assert torch.isfinite(images).all()
    if unclamped:
        assert images.abs().max() < 20
    else:
        assert images.min() >= -1 and images.max() <= 1
    assert torch.equal(images, G.render(z))  # deterministic
    torch.testing.assert_close(torch.cat([G.render(z[i:i + 1]) for i in range(4)]), images, rtol=1e-4, atol=1e-5)
    frames = G.render_uint8(z)
    assert frames.shape == (4, shape[1], shape[2], shape[0]) and frames.dtype.name == "uint8"
    if reference is not None:
        torch.testing.assert_close(images, reference(z), rtol=1e-4, atol=1e-5)
    return images


def check_sefa(G):
    bank = sefa(G, k=5)
    scores = bank.scores
    assert len(scores) == 5 and scores == sorted(scores, reverse=True) and scores[0] > 0
    torch.testing.assert_close(bank.directions.norm(dim=1), torch.ones(5), rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------------------------------------------- ProGAN

@pytest.mark.parametrize("wrap", [None, "state_dict"])
def test_progan_netdissect_file(tmp_path, wrap):
    layers = progan_layers()
    sd = netdissect_sd(layers)
    path = tmp_path / "proggan_celebhq.pth"
    torch.save({wrap: sd} if wrap else sd, path)
    module, info = load_family(path)
    assert info["family"] == "progan" and info["resolution"] == 16 and info["channels"] == CH
    assert "netdissect" in info["format"] and info["latent_dim"] == D
    json.dumps(info)
    G = Generator(module, device="cpu")
    check_render(G, (3, 16, 16), lambda z: progan_reference(layers, default_scales(layers), z), unclamped=True)
    check_sefa(G)
    module2, _ = load_family(path, family="progan")
    assert set(module2.state_dict()) == set(sd)  # our module saves in the netdissect layout


def test_progan_latent_discovery_file(tmp_path):
    """The paper's ProgGAN file (ptrblck's port): features.N, scales stored in the file."""
    layers = progan_layers(seed=1)
    scales = [0.5 * s for s in default_scales(layers)]
    path = tmp_path / "100_celeb_hq_network-snapshot-010403.pth"
    torch.save(ptrblck_sd(layers, scales), path)
    module, info = load_family(path, family="progan")
    assert "latent-discovery" in info["format"] and info["resolution"] == 16
    G = Generator(module, device="cpu")
    check_render(G, (3, 16, 16), lambda z: progan_reference(layers, scales, z), unclamped=True)


def test_progan_genforce_file(tmp_path):
    """SeFa's pggan_*.pth: {'generator', 'discriminator', 'generator_smooth'}; Gs is the one rendered."""
    smooth, raw = progan_layers(seed=2), progan_layers(seed=3)
    path = tmp_path / "pggan_celebahq1024.pth"
    torch.save({"generator": genforce_sd(raw), "discriminator": {"layer0.weight": torch.zeros(1)},
                "generator_smooth": genforce_sd(smooth)}, path)
    module, info = load_family(path)
    assert info["family"] == "progan" and "genforce" in info["format"]
    G = Generator(module, device="cpu")
    check_render(G, (3, 16, 16), lambda z: progan_reference(smooth, default_scales(smooth), z), unclamped=True)
    check_sefa(G)
    torch.save({"generator": genforce_sd(raw, lod=0.5)}, path)
    with pytest.raises(ValueError, match="lod"):
        load_family(path)


def test_progan_sefa_weight_is_the_first_layer_map():
    torch.manual_seed(0)
    g = ProGANGenerator(16, latent_dim=D, channels=CH)
    weight = g.sefa_weight("all")
    assert weight.shape == (CH[0] * 16, D)
    assert torch.equal(g.sefa_weight("0"), weight)
    z = torch.randn(5, D)
    zn = z / torch.sqrt(torch.mean(z**2, dim=1, keepdim=True) + 1e-8)
    # the first layer's pre-activation, minus its bias, is W @ pixelnorm(z), unit (channel, row, column)
    pre = F.conv2d(zn.view(5, D, 1, 1), g.layer1.conv.weight * g.layer1.wscale.scale, padding=3)
    torch.testing.assert_close(pre.flatten(1), zn @ weight.T, rtol=1e-4, atol=1e-5)
    # the reference's reshape (genforce: flip(2, 3).permute(1, 0, 2, 3).flatten(1), units as columns)
    ref = (g.layer1.conv.weight * g.layer1.wscale.scale).flip(2, 3).permute(1, 0, 2, 3).flatten(1)
    torch.testing.assert_close(weight, ref.T.detach())
    with pytest.raises(ValueError, match="one latent input layer"):
        g.sefa_weight("1")
    with pytest.raises(ValueError, match="one latent input layer"):
        sefa(Generator(g, device="cpu"), layers="0-3")


def test_progan_random_constructor():
    assert default_channels(1024) == [512, 512, 512, 512, 256, 128, 64, 32, 16]
    assert default_channels(256) == [512, 512, 512, 512, 256, 128, 64]
    torch.manual_seed(0)
    g = ProGANGenerator(resolution=32, latent_dim=16, channels=[16, 16, 8, 8])
    assert g.resolution == 32 and g.output_name == "output_32x32"
    images = Generator(g, device="cpu").render(torch.randn(2, 16))
    assert images.shape == (2, 3, 32, 32) and torch.isfinite(images).all()
    with pytest.raises(ValueError, match="power of two"):
        ProGANGenerator(resolution=48)
    with pytest.raises(ValueError, match="not 64"):
        ProGANGenerator(resolution=64, channels=[8, 8])


def test_progan_differentiable():
    torch.manual_seed(0)
    g = ProGANGenerator(16, latent_dim=D, channels=CH).requires_grad_(False)
    z = torch.randn(2, D, requires_grad=True)
    g(z).square().mean().backward()
    assert z.grad is not None and torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0


@pytest.mark.parametrize("layout", ["netdissect", "ptrblck", "genforce"])
def test_progan_bad_keys_are_named(tmp_path, layout):
    layers = progan_layers()
    make = {"netdissect": netdissect_sd, "genforce": genforce_sd,
            "ptrblck": lambda ls: ptrblck_sd(ls, default_scales(ls))}[layout]
    bias = {"netdissect": "layer3.wscale.b", "ptrblck": "features.2.wscale.b", "genforce": "layer2.bias"}[layout]
    weight = {"netdissect": "layer2.conv.weight", "ptrblck": "features.1.conv.weight",
              "genforce": "layer1.weight"}[layout]
    path = tmp_path / "g.pth"

    sd = make(layers)
    del sd[bias]
    torch.save(sd, path)
    with pytest.raises(ValueError, match=f"missing key '{bias}'"):
        load_family(path)
    sd = make(layers)
    sd[weight] = sd[weight][:, :-1]
    torch.save(sd, path)
    with pytest.raises(ValueError, match=f"'{weight}' has shape"):
        load_family(path, family="progan")
    sd = make(layers)
    sd["extra.weight"] = torch.zeros(1)
    torch.save(sd, path)
    with pytest.raises(ValueError, match="unexpected keys.*extra.weight"):
        load_family(path)
    torch.save(make(layers), path)
    with pytest.raises(TypeError, match="unknown ProGAN option.*truncation.*only fused_scale"):
        load_family(path, truncation=0.5)


# ------------------------------------------------------------------------------------- SN-GAN reference layout

class RefResBlock(nn.Module):
    """The reference block's module layout: conv1/conv2 registered both as attributes and inside ``model``."""

    def __init__(self, cin, cout):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(cin, cout, 3, 1, padding=1), nn.Conv2d(cout, cout, 3, 1, padding=1)
        self.model = nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU(), nn.Upsample(scale_factor=2), self.conv1,
                                   nn.BatchNorm2d(cout), nn.ReLU(), self.conv2)
        self.bypass = nn.Upsample(scale_factor=2) if cin == cout else \
            nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(cin, cout, 3, 1, padding=1))

    def forward(self, x):
        return self.model(x) + self.bypass(x)


class RefView(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c

    def forward(self, x):
        return x.view(-1, self.c, 4, 4)


class RefWrapper(nn.Module):
    """The reference generator wrapper: ``model`` = Linear, reshape, blocks, BN, ReLU, conv, tanh."""

    def __init__(self, latent, channels, rgb):
        super().__init__()
        blocks = [RefResBlock(a, b) for a, b in zip(channels, channels[1:])]
        self.model = nn.Sequential(nn.Linear(latent, 16 * channels[0]), RefView(channels[0]), *blocks,
                                   nn.BatchNorm2d(channels[-1]), nn.ReLU(), nn.Conv2d(channels[-1], rgb, 3, 1, 1),
                                   nn.Tanh())


def ref_sngan(latent, channels, rgb, seed=0):
    torch.manual_seed(seed)
    ref = RefWrapper(latent, channels, rgb)
    with torch.no_grad():  # trained-looking batch-norm statistics
        for m in ref.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
    return ref.eval()


MNIST_ARGS = {"model": "sn_resnet32", "latent_dim": D, "image_channels": 1, "distribution": "normal",
              "distribution_params": "{}", "gen_sn": False}
ANIME_ARGS = {"model": "sn_resnet64", "latent_dim": D, "distribution": "normal"}
ANIME_CH = [16, 8, 8, 4, 4]


def save_sngan(folder, args, ref, name="generator.pt", drop_counters=False):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "args.json").write_text(json.dumps(args))
    sd = ref.state_dict()
    if drop_counters:  # files from torch < 0.4.1 have no num_batches_tracked
        sd = {k: v for k, v in sd.items() if not k.endswith("num_batches_tracked")}
    torch.save(sd, folder / name)
    return folder


def test_sngan_mnist_folder(tmp_path):
    ref = ref_sngan(D, [8, 8, 8, 8], 1)
    assert "model.2.conv1.weight" in ref.state_dict() and "model.2.model.3.weight" in ref.state_dict()
    folder = save_sngan(tmp_path / "SN_MNIST", MNIST_ARGS, ref)
    module, info = load_family(folder)
    assert info["family"] == "sngan" and info["model"] == "sn_resnet32" and info["resolution"] == 32
    assert info["image_channels"] == 1 and info["latent_dim"] == D
    json.dumps(info)
    G = Generator(module, device="cpu")
    check_render(G, (1, 32, 32), lambda z: ref.model(z))
    check_sefa(G)
    torch.testing.assert_close(module.sefa_weight("all"), ref.model[0].weight.detach())
    with pytest.raises(ValueError, match="not layer-aware"):
        sefa(G, layers="0-1")
    module2, _ = load_family(folder, family="sngan")
    assert isinstance(module2, SNGANGenerator)


def test_sngan_anime_folder_old_style(tmp_path):
    """Width changes (shortcut convs), 3 channels, generator_<step>.pt naming, no num_batches_tracked."""
    ref = ref_sngan(D, ANIME_CH, 3, seed=1)
    folder = save_sngan(tmp_path / "SN_Anime", ANIME_ARGS, ref, name="generator_120000.pt", drop_counters=True)
    torch.save({"junk": torch.zeros(1)}, folder / "generator_5.pt")  # an earlier step: not the one loaded
    module, info = load_family(folder)
    assert info["family"] == "sngan" and info["resolution"] == 64 and info["channels"] == ANIME_CH
    assert "generator_120000.pt" in info["format"]
    check_render(Generator(module, device="cpu"), (3, 64, 64), lambda z: ref.model(z))


def test_sngan_bare_state_dict(tmp_path):
    ref = ref_sngan(D, [8, 4, 4], 3, seed=2)
    torch.save(ref.state_dict(), tmp_path / "generator.pt")
    module, info = load_family(tmp_path / "generator.pt")
    assert info["family"] == "sngan" and info["model"] is None and info["resolution"] == 16
    check_render(Generator(module, device="cpu"), (3, 16, 16), lambda z: ref.model(z))


def test_sngan_bad_files_are_named(tmp_path):
    ref = ref_sngan(D, [8, 8, 8, 8], 1)
    folder = save_sngan(tmp_path / "f", MNIST_ARGS, ref)

    sd = ref.state_dict()
    del sd["model.3.model.4.running_var"]
    torch.save(sd, folder / "generator.pt")
    with pytest.raises(ValueError, match="missing key 'model.3.model.4.running_var'"):
        load_family(folder)
    sd = ref.state_dict()
    sd["model.7.weight"] = torch.zeros(1, 4, 3, 3)  # the to-image conv after 3 blocks, BN and ReLU
    torch.save(sd, folder / "generator.pt")
    with pytest.raises(ValueError, match=r"'model.7.weight' has shape \(1, 4, 3, 3\), expected \(1, 8, 3, 3\)"):
        load_family(folder, family="sngan")
    sd = ref.state_dict()
    sd["model.2.conv1.weight"] = sd["model.2.conv1.weight"] + 1
    torch.save(sd, folder / "generator.pt")
    with pytest.raises(ValueError, match="alias 'model.2.conv1.weight' differ"):
        load_family(folder)

    torch.save(ref.state_dict(), folder / "generator.pt")
    for args, match in [({**MNIST_ARGS, "latent_dim": 16}, "latent_dim: args.json says 16"),
                        ({**MNIST_ARGS, "model": "sn_resnet64"}, "resolution: args.json says 64"),
                        ({**MNIST_ARGS, "model": "sn_resnet48"}, "'sn_resnet48' is not supported"),
                        ({**MNIST_ARGS, "model": "sn_fc"}, "'sn_fc' is not supported"),
                        ({**MNIST_ARGS, "gen_sn": True}, "gen_sn"),
                        ({**MNIST_ARGS, "distribution": "uniform"}, "'uniform' is not supported")]:
        (folder / "args.json").write_text(json.dumps(args))
        with pytest.raises(ValueError, match=match):
            load_family(folder)
    (folder / "args.json").write_text(json.dumps(MNIST_ARGS))
    with pytest.raises(TypeError, match="no options"):
        load_family(folder, class_index=3)


def test_families_are_not_confused(tmp_path):
    torch.save(netdissect_sd(progan_layers()), tmp_path / "progan.pth")
    folder = save_sngan(tmp_path / "SN_MNIST", MNIST_ARGS, ref_sngan(D, [8, 8, 8, 8], 1))
    torch.save(ref_sngan(D, [8, 4], 3).state_dict(), tmp_path / "sngan_bare.pt")
    assert load_family(tmp_path / "progan.pth")[1]["family"] == "progan"
    assert load_family(folder)[1]["family"] == "sngan"
    assert load_family(tmp_path / "sngan_bare.pt")[1]["family"] == "sngan"
    with pytest.raises(ValueError, match="not a sngan checkpoint"):
        load_family(tmp_path / "progan.pth", family="sngan")
    with pytest.raises(ValueError, match="not a progan checkpoint"):
        load_family(folder, family="progan")
    with pytest.raises(ValueError, match="not a progan checkpoint"):
        load_family(tmp_path / "sngan_bare.pt", family="progan")


def test_sngan_random_constructor_and_gradients():
    torch.manual_seed(0)
    g = SNGANGenerator(latent_dim=D, channels=[8, 4, 4], image_channels=3).eval()
    assert g.resolution == 16
    z = torch.randn(3, D, requires_grad=True)
    out = g(z)
    assert out.shape == (3, 3, 16, 16) and out.abs().max() <= 1
    out.sum().backward()
    assert z.grad is not None and z.grad.abs().sum() > 0
