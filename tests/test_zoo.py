import pytest
import torch

from ganexplorer import ZOO, load_generator
from ganexplorer.files import read_header
from ganexplorer.generators.dcgan import DCGANGenerator
from ganexplorer.generators.zoo import WEIGHTS_DIR, save_generator


@pytest.mark.parametrize("name,channels", [("mnist", 1), ("shapes", 3), ("scenes", 3), ("shapes-stylegan2", 3)])
def test_zoo_generators_render_offline(name, channels):
    g = load_generator(name, device="cpu")
    images = g.render(g.sample_latents(4, seed=0))
    assert images.shape == (4, channels, 32, 32) and g.latent_dim == 64
    assert images.std() > 0.1  # not a constant image
    path = WEIGHTS_DIR / f"{name}.safetensors"
    assert path.stat().st_size < 5 * 2**20
    assert read_header(path)["meta"]["dataset"] == name.split("-")[0]


def test_zoo_is_listed():
    assert set(ZOO) >= {"mnist", "shapes", "scenes", "shapes-stylegan2"}


def test_checkpoint_roundtrip(tmp_path):
    torch.manual_seed(0)
    module = DCGANGenerator(latent_dim=16, channels=3, width=8).eval()
    save_generator(module, tmp_path / "g.safetensors", {"dataset": "none"})
    g = load_generator(tmp_path / "g.safetensors", device="cpu")
    z = g.sample_latents(3, seed=0)
    with torch.no_grad():
        assert torch.allclose(g.render(z), module(z), atol=2e-2)  # fp16 weights
    assert g.name == "g" and g.info == {"dataset": "none"}


def test_unknown_and_damaged_checkpoints_are_explained(tmp_path):
    with pytest.raises(FileNotFoundError, match="recognised: a zoo name"):
        load_generator("no-such-model")
    pt = tmp_path / "model.pt"
    pt.write_bytes(b"not really")
    with pytest.raises(ValueError, match="not a readable torch checkpoint"):
        load_generator(pt)
    odd = tmp_path / "model.h5"
    odd.write_bytes(b"\x89HDF")
    with pytest.raises(ValueError, match="(?s)unknown checkpoint format.*StyleGAN2.*Generator\\(module"):
        load_generator(odd)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{broken json}xx")
    with pytest.raises(ValueError, match="not a readable"):
        load_generator(bad)
    module = DCGANGenerator(latent_dim=16, width=8)
    save_generator(module, tmp_path / "g.safetensors")
    data = (tmp_path / "g.safetensors").read_bytes()
    (tmp_path / "g.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a readable"):
        load_generator(tmp_path / "g.safetensors")


def test_stylegan2_zoo_files_roundtrip_with_family_options(tmp_path):
    from ganexplorer.generators.stylegan2 import StyleGAN2Generator

    torch.manual_seed(0)
    module = StyleGAN2Generator(resolution=16, latent_dim=8, n_mlp=2, channels=8).eval()
    module.estimate_w_avg(256)
    save_generator(module, tmp_path / "style.safetensors", {"dataset": "none"})
    g = load_generator(tmp_path / "style.safetensors", device="cpu", truncation=0.0)
    assert g.num_layers == module.num_layers and g.module.truncation == 0.0
    module.truncation = 0.0
    z = torch.randn(2, 8)
    with torch.no_grad():
        expected = module(module.latents_from_noise(z))
    assert torch.allclose(g.render(g.latents_from_noise(z)), expected, atol=2e-2)  # fp16 weights
    with pytest.raises(TypeError, match="allowed are space, truncation"):
        load_generator(tmp_path / "style.safetensors", class_index=3)
    with pytest.raises(TypeError, match="saves the zoo architectures"):
        save_generator(torch.nn.Linear(2, 2), tmp_path / "x.safetensors")
