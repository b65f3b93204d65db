"""Reading a user's checkpoint as data, and telling which generator family it holds.

Nothing here ever runs code from a file: torch files are read with ``weights_only=True``, safetensors are plain
tensors, and the official StyleGAN2 ``.pkl`` goes through a restricted unpickler (``pickles.py``) that rebuilds
tensors and containers only. Each family module (``stylegan2``, ``progan``, ``biggan``, ``sngan``) offers
``recognise(obj)`` (what it needs from the file, or None) and ``build(found, **options) -> (module, info)``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pickle
import re
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

FAMILIES = ("stylegan2", "progan", "biggan", "sngan")
TORCH_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".tar")
FORMATS = {
    "stylegan2": "StyleGAN2 / StyleGAN2-ADA: the PyTorch port's .pt (with 'g_ema'), the official PyTorch .pkl "
                 "(read without running its code), or a .pt/.safetensors of either state dict; genforce / SeFa "
                 "StyleGAN2 and StyleGAN (v1) .pth files (mapping.dense*, synthesis.layer*) and genforce training "
                 "checkpoints",
    "progan": "ProGAN / PGGAN: a .pt/.pth state dict of the progressive generator (netdissect layer1 ... "
              "output_RxR, the latent-discovery paper's features.N, genforce / SeFa layer0 ... outputN with "
              "fused_scale true or false)",
    "biggan": "BigGAN: a folder with config.json and pytorch_model.bin of pytorch-pretrained-biggan "
              "(pip install ganexplorer[biggan])",
    "sngan": "SN-GAN (latent-discovery paper's MNIST/Anime generators): a folder with args.json and generator.pt",
}
WRAP_RECIPE = ("any other generator works too: build the module yourself and wrap it, "
               "gx.Generator(module, latent_dim=d), where module(z) maps (N, d) latents to (N, C, H, W) images "
               "in [-1, 1]")


def formats_help() -> str:
    """The recognised checkpoint formats, one per line, and the recipe for everything else."""
    return "recognised formats:\n" + "\n".join(f"  - {v}" for v in FORMATS.values()) + "\n" + WRAP_RECIPE


def _family(name: str):
    return importlib.import_module(f".{name}", __package__)


def refused_global(message: str) -> str | None:
    """The Python object (``module.Name``) a weights-only load refused, from torch's message: "Unsupported
    global: GLOBAL model.Generator was not an allowed global" (torch >= 2.4), "Trying to load unsupported GLOBAL
    posix.system" (blocked modules), "Unsupported class model.Generator" (older)."""
    for pattern in (r"GLOBAL ([A-Za-z_][\w.]*)", r"[Uu]nsupported class ([A-Za-z_][\w.]*)",
                    r"[Uu]nsupported global: ([A-Za-z_][\w.]*)"):
        found = re.search(pattern, message)
        if found:
            return found.group(1).rstrip(".")
    return None


def _read_torch(path: Path) -> Any:
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        name = refused_global(str(exc))
        if name is None:
            raise ValueError(f"{path} is not a readable torch checkpoint (damaged or not a torch file)") from None
        module = name.rsplit(".", 1)[0] not in ("posix", "nt", "os", "builtins", "subprocess", "sys")
        advice = (" If it is a whole module saved with torch.save(model), save model.state_dict() instead."
                  if module else "")
        raise ValueError(f"refused to load {path}: it holds Python objects, not just tensors ({name}), "
                         f"and unpickling them could run code.{advice} Load it yourself only if you trust it, then "
                         f"wrap the module: {WRAP_RECIPE}") from None
    except (RuntimeError, OSError, EOFError) as exc:
        raise ValueError(f"{path} is not a readable torch checkpoint ({exc})") from exc


def read_file(path: Path) -> Any:
    """What one checkpoint file holds, read as data (ValueError if it is damaged or would run code)."""
    suffix = path.suffix.lower()
    if suffix == ".json":
        try:
            return json.loads(path.read_text())
        except RecursionError:
            raise ValueError(f"{path} is JSON nested too deeply to be a checkpoint's settings") from None
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"{path} is not valid JSON ({exc})") from exc
    if suffix == ".safetensors":
        try:
            return load_file(str(path))
        except (SafetensorError, OSError) as exc:
            raise ValueError(f"{path} is not a readable safetensors file ({exc})") from exc
    if suffix == ".pkl":
        from .pickles import load_pickle

        return load_pickle(path)
    if suffix in TORCH_SUFFIXES:
        return _read_torch(path)
    raise ValueError(f"unknown checkpoint format for {path} (suffix {suffix!r});\n{formats_help()}")


def read_checkpoint(path: str | Path) -> Any:
    """A file's content, or for a folder a dict {file name: content} of its .json and weight files."""
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    if path.is_dir():
        known = (".json", ".safetensors", ".pkl", *TORCH_SUFFIXES)
        return {p.name: read_file(p) for p in sorted(path.iterdir()) if p.suffix.lower() in known}
    return read_file(path)


TRAINING_KEYS = ("running_metadata", "optimizers", "learning_rates")


def unwrap_training(content: Any) -> Any:
    """A genforce training checkpoint ({'models': {'generator', 'discriminator', 'generator_smooth'},
    'running_metadata', 'optimizers', 'learning_rates', ...}) -> its 'models' dict (the model file's layout)."""
    if isinstance(content, dict) and isinstance(content.get("models"), dict) \
            and any(k in content for k in TRAINING_KEYS):
        return content["models"]
    return content


def load_family(path: str | Path, family: str | None = None, **options) -> tuple[nn.Module, dict[str, Any]]:
    """Build the generator module a checkpoint holds; ``family`` skips the guessing (one of ``FAMILIES``)."""
    if family is not None and family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}: use one of {', '.join(FAMILIES)} (or leave it out)")
    content = unwrap_training(read_checkpoint(path))
    for name in [family] if family else FAMILIES:
        found = _family(name).recognise(content)
        if found is not None:
            module, info = _family(name).build(found, **options)
            return module, {"family": name, "checkpoint": str(path), **info}
    what = f"a {family} checkpoint" if family else "a checkpoint of any recognised family"
    raise ValueError(f"{path} is not {what} ({describe_content(content)});\n{formats_help()}")


def describe_content(content: Any) -> str:
    """A short account of what a file held, for error messages."""
    if isinstance(content, dict):
        keys = list(content)
        return f"top-level keys: {', '.join(map(str, keys[:8]))}{' ...' if len(keys) > 8 else ''}"
    return f"a {type(content).__name__}"
