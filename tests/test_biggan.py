"""BigGAN-deep from a pytorch-pretrained-biggan folder: tiny random weights in the real layout
(config.json + pytorch_model.bin saved with torch.save of the state dict)."""

import json

import pytest
import torch
from conftest import Evil

pytest.importorskip("pytorch_pretrained_biggan")

from ganexplorer import Generator, sefa  # noqa: E402
from ganexplorer.generators.biggan import BigGANGenerator, effective_weight, init_random  # noqa: E402
from ganexplorer.generators.checkpoints import load_family  # noqa: E402

TINY = {"output_dim": 16, "z_dim": 16, "class_embed_dim": 16, "channel_width": 4, "num_classes": 10,
        "layers": [[False, 16, 8], [True, 8, 4], [False, 4, 2], [True, 2, 1]], "attention_layer_position": 2,
        "eps": 1e-4, "n_stats": 51}


def tiny_model(config=TINY, seed=0):
    from pytorch_pretrained_biggan import BigGAN, BigGANConfig

    torch.manual_seed(seed)
    model = BigGAN(BigGANConfig.from_dict(config))
    init_random(model)
    with torch.no_grad():  # non-trivial statistics and attention, as in a trained file
        for name, buf in model.named_buffers():
            if name.endswith("running_means"):
                buf.normal_(0, 0.1)
            if name.endswith("running_vars"):
                buf.uniform_(0.5, 2.0)
        for name, p in model.named_parameters():
            if name.endswith("gamma"):
                p.fill_(0.5)
    return model


def save_folder(path, config=TINY, state_dict=None):
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps(config))
    torch.save(state_dict if state_dict is not None else tiny_model(config).state_dict(),
               path / "pytorch_model.bin")
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return save_folder(tmp_path_factory.mktemp("biggan") / "biggan-tiny")


def test_load_auto_and_named_render(folder):
    module, info = load_family(folder)
    assert info["family"] == "biggan" and info["resolution"] == 16 and info["latent_dim"] == 16
    assert module.class_index == 0  # the ImageNet default (207) only where there are that many classes
    named, _ = load_family(folder, family="biggan", class_index=3, truncation=0.5)
    assert named.class_index == 3 and named.truncation == 0.5
    G = Generator(named, device="cpu")
    z = G.sample_latents(4, seed=1)
    images = G.render(z)
    assert images.shape == (4, 3, 16, 16)
    assert images.min() >= -1 and images.max() <= 1 and images.std() > 0
    assert torch.equal(images, G.render(z))  # deterministic
    assert torch.allclose(G.render(z[:1]), images[:1], atol=1e-5)  # batch-independent
    ref = tiny_model()  # the same weights through the package's own forward
    label = torch.zeros(4, 10)
    label[:, 3] = 1
    assert torch.allclose(ref.eval()(z, label, 0.5), images, atol=1e-5)


def test_class_selector_and_truncation(folder):
    module, _ = load_family(folder, class_index=1)
    G = Generator(module, device="cpu")
    z = G.sample_latents(2, seed=0)
    first = G.render(z)
    module.class_index = 7
    assert not torch.allclose(first, G.render(z))
    for bad in (-1, 10, 2.5):
        with pytest.raises(ValueError, match="class_index"):
            module.class_index = bad
    with pytest.raises(ValueError, match="truncation"):
        module.truncation = 0.0
    with pytest.raises(TypeError, match="class_index, truncation"):
        load_family(folder, family="biggan", clas_index=1)


def test_latents_from_noise_truncated(folder):
    module, _ = load_family(folder, truncation=0.3)
    G = Generator(module, device="cpu")
    noise = torch.randn(512, 16) * 3
    z = G.latents_from_noise(noise)
    assert z.abs().max() <= 2 * 0.3 + 1e-6 and z.std() > 0.1
    assert torch.equal(z, G.latents_from_noise(noise))
    # monotone in the noise (inverse CDF), and about N(0, 1) * truncation near zero
    order = noise[:, 0].argsort()
    assert (z[order, 0].diff() >= 0).all()
    assert torch.allclose(G.latents_from_noise(torch.zeros(1, 16)), torch.zeros(1, 16), atol=1e-6)


def test_gradient_wrt_latents(folder):
    module, _ = load_family(folder)
    z = torch.randn(2, 16, requires_grad=True)
    module(z).sum().backward()
    assert z.grad is not None and z.grad.abs().sum() > 0


def test_sefa_uses_z_columns_of_effective_first_weight(folder):
    module, _ = load_family(folder)
    G = Generator(module, device="cpu")
    bank = sefa(G, k=5)
    assert len(bank) == 5
    gen_z = module.model.generator.gen_z
    with torch.no_grad():
        module(torch.zeros(1, 16))  # the spectral-norm hook sets gen_z.weight to what it applies
    w = module.sefa_weight("all")
    assert w.shape == (16 * 16 * 4, 16)
    assert torch.allclose(w, gen_z.weight[:, :16], atol=1e-6)
    assert torch.allclose(w, effective_weight(gen_z)[:, :16])
    with pytest.raises(ValueError, match="layers='all'"):
        sefa(G, layers="0-1", k=5)


def test_bare_state_dict_infers_config(tmp_path, folder):
    sd = torch.load(folder / "pytorch_model.bin", weights_only=True)
    torch.save(sd, tmp_path / "biggan.bin")
    module, info = load_family(tmp_path / "biggan.bin")
    assert info["family"] == "biggan" and info["resolution"] == 16
    z = torch.randn(2, 16)
    ref, _ = load_family(folder)
    module.class_index = ref.class_index = 2
    assert torch.allclose(module(z), ref(z), atol=1e-6)


def test_malicious_pickle_refused(tmp_path):
    marker = tmp_path / "pwned"
    bad = tmp_path / "evil"
    bad.mkdir()
    (bad / "config.json").write_text(json.dumps(TINY))
    sd = tiny_model().state_dict()
    sd["payload"] = Evil(marker)
    torch.save(sd, bad / "pytorch_model.bin")
    with pytest.raises(ValueError, match="refused"):
        load_family(bad)
    with pytest.raises(ValueError, match="refused"):
        load_family(bad, family="biggan")
    assert not marker.exists()


def test_config_weights_mismatch(tmp_path, folder):
    wider = dict(TINY, channel_width=8)
    bad = save_folder(tmp_path / "mismatch", config=wider,
                      state_dict=torch.load(folder / "pytorch_model.bin", weights_only=True))
    with pytest.raises(ValueError, match="do not match config.json.*generator.gen_z.weight_orig"):
        load_family(bad)
    sd = tiny_model().state_dict()
    del sd["generator.layers.0.conv_1.weight_u"]
    sd["generator.extra.weight"] = torch.zeros(1)
    missing = save_folder(tmp_path / "missing", state_dict=sd)
    with pytest.raises(ValueError, match="missing keys.*conv_1.weight_u.*unexpected keys.*extra.weight"):
        load_family(missing)


def test_random_layout():
    g = BigGANGenerator.random(resolution=128, channel_width=4, num_classes=5, class_index=4)
    assert g.resolution == 128 and g.latent_dim == 128
    with pytest.raises(ValueError, match="128, 256 and 512"):
        BigGANGenerator.random(resolution=64)
