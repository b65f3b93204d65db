"""SN-GAN generators of the latent-discovery paper (Voynov & Babenko, 2020): its MNIST and Anime models.

The paper's folders hold ``args.json`` (model name, latent_dim, distribution, image_channels, ...) and
``generator.pt`` (older runs: ``generator_<step>.pt``), the state dict of its generator wrapper. "SN" is the
discriminator's spectral norm: the generator is a plain ResNet, z -> Linear -> 4x4 map -> up-sampling residual
blocks [BN, ReLU, nearest x2, conv3x3, BN, ReLU, conv3x3; shortcut: x2, plus a conv3x3 when the width changes]
-> BN, ReLU, conv3x3, tanh. Batch norms use their running statistics (the reference runs G in eval mode).

Key names of the file (the wrapper's ``model`` Sequential; block i sits at index 2 + i): ``model.0.weight``
(the Linear), ``model.2.model.0.running_mean`` (block BN 1), ``model.2.model.3.weight`` (conv 1, also saved as
``model.2.conv1.weight``), ``model.2.model.4.*`` (BN 2), ``model.2.model.6.weight`` (conv 2, also
``model.2.conv2.weight``), ``model.2.bypass.1.weight`` (shortcut conv), then ``model.{2+B}.*`` (final BN) and
``model.{4+B}.weight`` (to-image conv). The reference loads it with strict=False (old files lack
``num_batches_tracked``); we require every weight and let only those counters be absent.
"""

from __future__ import annotations

import re
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..layers import is_all

# image size of each model name the reference can build (models/SNGAN/load.py, GANs/load.py)
MODELS = {"sn_resnet32": 32, "sn_resnet32_corrupted": 32, "sn_resnet64": 64, "sn_resnet128": 128,
          "sn_resnet256": 256}
REFUSED = {
    "sn_resnet48": "its 6x6 seed is reshaped to 4x4 by the reference code, which cannot run it either",
    "fc": "a fully connected MNIST generator that the reference loader cannot build (it only makes sn_resnet*)",
    "sn_fc": "a fully connected MNIST generator that the reference loader cannot build (it only makes sn_resnet*)",
    "conv32": "a DCGAN-style generator that the reference loader cannot build (it only makes sn_resnet*)",
    "conv64": "a DCGAN-style generator that the reference loader cannot build (it only makes sn_resnet*)",
    "sn32": "a DCGAN-style generator that the reference loader cannot build (it only makes sn_resnet*)",
}
BN_KEYS = ("weight", "bias", "running_mean", "running_var")


class ResBlock(nn.Module):
    """BN, ReLU, x2, conv3x3, BN, ReLU, conv3x3, plus the up-sampled input (through a conv3x3 when widths differ)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.bn1, self.conv1 = nn.BatchNorm2d(cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.bn2, self.conv2 = nn.BatchNorm2d(cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.shortcut = nn.Conv2d(cin, cout, 3, padding=1) if cin != cout else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(x, scale_factor=2, mode="nearest")
        h = self.conv1(F.interpolate(F.relu(self.bn1(x)), scale_factor=2, mode="nearest"))
        h = self.conv2(F.relu(self.bn2(h)))
        return h + (self.shortcut(up) if self.shortcut is not None else up)


class SNGANGenerator(nn.Module):
    """z (N, latent_dim) -> images (N, image_channels, R, R) in [-1, 1], R = 4 * 2 ** (len(channels) - 1).

    ``channels`` are the widths of the 4x4 seed and after each block (sn_resnet32: [256] * 4; sn_resnet64:
    [1024, 512, 256, 128, 64]). Built without a checkpoint it has random weights.
    """

    pca_layer = "dense"  # GANSpace-style PCA on the first linear layer's output

    def __init__(self, latent_dim: int = 128, channels: list[int] | tuple[int, ...] = (256, 256, 256, 256),
                 image_channels: int = 3):
        super().__init__()
        if len(channels) < 2:
            raise ValueError(f"an SN-GAN ResNet generator needs at least one block (two widths), got {channels}")
        self.latent_dim, self.channels, self.image_channels = int(latent_dim), [int(c) for c in channels], \
            int(image_channels)
        self.resolution = 4 * 2 ** (len(channels) - 1)
        self.dense = nn.Linear(latent_dim, 16 * channels[0])
        self.blocks = nn.ModuleList(ResBlock(a, b) for a, b in zip(channels, channels[1:]))
        self.bn = nn.BatchNorm2d(channels[-1])
        self.out = nn.Conv2d(channels[-1], image_channels, 3, padding=1)

    def extra_repr(self) -> str:
        return f"resolution={self.resolution}, latent_dim={self.latent_dim}, channels={self.channels}"

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.dense(z).view(z.shape[0], self.channels[0], 4, 4)
        for block in self.blocks:
            x = block(x)
        return torch.tanh(self.out(F.relu(self.bn(x))))

    def sefa_weight(self, layers: str = "all") -> torch.Tensor:
        """(16 * C, latent_dim): the first linear layer's weight, SeFa's affine map for z-space generators."""
        if not is_all(layers):
            raise ValueError(f"SN-GAN is not layer-aware: z enters through one first linear layer, use "
                             f"layers='all' (got {layers!r})")
        return self.dense.weight.detach()


# ---------------------------------------------------------------------------------------------- reading files

def _strip(sd: dict) -> dict | None:
    """The state dict without the wrapper's ``model.`` prefix, if it has the ResNet generator's keys."""
    if not isinstance(sd, dict) or not all(isinstance(k, str) for k in sd):
        return None
    if "model.0.weight" in sd:
        sd = {k[len("model."):]: v for k, v in sd.items() if k.startswith("model.")} | \
             {k: v for k, v in sd.items() if not k.startswith("model.")}
    w = sd.get("0.weight")
    if isinstance(w, torch.Tensor) and w.ndim == 2 and "2.model.0.running_mean" in sd:
        return sd
    return None


def _weights_file(content: dict) -> tuple[str, Any] | None:
    if "generator.pt" in content:
        return "generator.pt", content["generator.pt"]
    steps = {int(m.group(1)): name for name in content if (m := re.fullmatch(r"generator_(\d+)\.pt", str(name)))}
    return (steps[max(steps)], content[steps[max(steps)]]) if steps else None


def recognise(content: Any) -> dict[str, Any] | None:
    """{'args', 'state_dict', 'weights_file', 'format'} for a paper folder (args.json + generator.pt), or a
    bare generator.pt of the ResNet layout (sizes then read from the weights), else None."""
    try:
        if not isinstance(content, dict):
            return None
        bare = _strip(content)
        if bare is not None:
            return {"args": None, "state_dict": bare, "weights_file": None,
                    "format": "SN-GAN ResNet generator state dict (latent-discovery paper; sizes read from it)"}
        args = content.get("args.json")
        found = _weights_file(content)
        if not isinstance(args, dict) or "model" not in args or found is None:
            return None
        sd = _strip(found[1])
        if sd is None and not (isinstance(found[1], dict) and any(str(k).startswith("model.") for k in found[1])):
            return None
        return {"args": args, "state_dict": sd if sd is not None else found[1], "weights_file": found[0],
                "format": f"SN-GAN folder of the latent-discovery paper (args.json + {found[0]})"}
    except Exception:  # recognise never raises: an odd file is simply not ours
        return None


def _check_args(args: dict) -> None:
    model = str(args.get("model"))
    if model in REFUSED or model not in MODELS:
        why = REFUSED.get(model, "not one of the ResNet generators the reference loads")
        raise ValueError(f"SN-GAN model {model!r} is not supported: {why}. Supported: {', '.join(MODELS)}")
    if args.get("gen_sn"):
        raise ValueError(f"SN-GAN model {model!r} with gen_sn=true (spectral norm inside the generator: weight_bar/"
                         f"weight_u/weight_v keys) is not supported; the reference's own loader ignores those "
                         f"weights too")
    if args.get("distribution", "normal") != "normal":
        raise ValueError(f"SN-GAN latent distribution {args['distribution']!r} is not supported (only 'normal')")


def _architecture(sd: dict) -> dict[str, Any]:
    """latent_dim, channels, image_channels read from the state dict's shapes."""
    if not isinstance(sd.get("0.weight"), torch.Tensor):
        raise ValueError("the SN-GAN generator.pt has no 'model.0.weight' (the first linear layer)")
    latent_dim, seed = int(sd["0.weight"].shape[1]), int(sd["0.weight"].shape[0])
    if seed % 16:
        raise ValueError(f"'model.0.weight' has {seed} outputs, expected 16 (4x4) times the seed width")
    channels, i = [seed // 16], 2
    while f"{i}.model.0.running_mean" in sd:
        w = sd.get(f"{i}.model.6.weight", sd.get(f"{i}.conv2.weight"))
        if not isinstance(w, torch.Tensor):
            raise ValueError(f"missing key 'model.{i}.model.6.weight' (conv 2 of block {i - 2})")
        channels.append(int(w.shape[0]))
        i += 1
    out = sd.get(f"{i + 2}.weight")
    if not isinstance(out, torch.Tensor) or out.ndim != 4:
        raise ValueError(f"missing key 'model.{i + 2}.weight' (the final to-image conv after {i - 2} blocks)")
    return {"latent_dim": latent_dim, "channels": channels, "image_channels": int(out.shape[0])}


def _key_map(model: SNGANGenerator) -> dict[str, list[str]]:
    """Our key -> the file's key(s) (without the ``model.`` prefix); the first is the canonical name."""
    names: dict[str, list[str]] = {"dense.weight": ["0.weight"], "dense.bias": ["0.bias"]}
    for b, block in enumerate(model.blocks):
        i = 2 + b
        for ours, theirs in (("bn1", "model.0"), ("bn2", "model.4")):
            names |= {f"blocks.{b}.{ours}.{k}": [f"{i}.{theirs}.{k}"] for k in (*BN_KEYS, "num_batches_tracked")}
        for ours, theirs in (("conv1", "model.3"), ("conv2", "model.6")):
            names |= {f"blocks.{b}.{ours}.{k}": [f"{i}.{theirs}.{k}", f"{i}.{ours}.{k}"] for k in ("weight", "bias")}
        if block.shortcut is not None:
            names |= {f"blocks.{b}.shortcut.{k}": [f"{i}.bypass.1.{k}"] for k in ("weight", "bias")}
    last = 2 + len(model.blocks)
    names |= {f"bn.{k}": [f"{last}.{k}"] for k in (*BN_KEYS, "num_batches_tracked")}
    names |= {f"out.{k}": [f"{last + 2}.{k}"] for k in ("weight", "bias")}
    return names


def load_weights(model: SNGANGenerator, sd: dict) -> None:
    """Copy the file's tensors into ``model``; a missing, unexpected or mis-shaped key is a ValueError naming it
    (with the file's ``model.`` prefix). Only the batch norms' ``num_batches_tracked`` counters may be absent."""
    problems, used, own = [], set(), model.state_dict()
    for ours, theirs in _key_map(model).items():
        target = own[ours]
        present = [k for k in theirs if isinstance(sd.get(k), torch.Tensor)]
        used.update(theirs)
        if not present:
            if not ours.endswith("num_batches_tracked"):
                problems.append(f"missing key 'model.{theirs[0]}' (expected shape {tuple(target.shape)})")
            continue
        value = sd[present[0]]
        if tuple(value.shape) != tuple(target.shape):
            problems.append(f"'model.{present[0]}' has shape {tuple(value.shape)}, expected {tuple(target.shape)}")
            continue
        if len(present) > 1 and not torch.equal(sd[present[1]], value):
            problems.append(f"'model.{present[0]}' and its alias 'model.{present[1]}' differ")
        with torch.no_grad():
            target.copy_(value)
    unexpected = [f"model.{k}" for k in sd if k not in used]
    if unexpected:
        problems.append(f"unexpected keys ({len(unexpected)}): {', '.join(unexpected[:6])}"
                        f"{' ...' if len(unexpected) > 6 else ''}")
    if problems:
        raise ValueError(f"the SN-GAN weights do not match a generator with widths {model.channels}: "
                         + "; ".join(problems[:8]))


def build(found: dict[str, Any], **options) -> tuple[SNGANGenerator, dict[str, Any]]:
    """An ``SNGANGenerator`` with the file's weights (sizes read from the weights, checked against args.json),
    loaded strictly."""
    if options:
        raise TypeError(f"unknown SN-GAN option(s) {', '.join(sorted(options))}: SN-GAN takes no options")
    args, sd = found["args"], found["state_dict"]
    if args is not None:
        _check_args(args)
    arch = _architecture(sd)
    model = SNGANGenerator(**arch)
    if args is not None:
        expected = {"latent_dim": args.get("latent_dim"), "image_channels": args.get("image_channels", 3),
                    "resolution": MODELS[args["model"]]}
        actual = {"latent_dim": model.latent_dim, "image_channels": model.image_channels,
                  "resolution": model.resolution}
        wrong = [f"{k}: args.json says {expected[k]}, the weights have {actual[k]}" for k in expected
                 if expected[k] is not None and expected[k] != actual[k]]
        if wrong:
            raise ValueError(f"{found['weights_file']} does not match args.json ({args['model']}): {'; '.join(wrong)}")
    load_weights(model, sd)
    info = {"format": found["format"], "model": args["model"] if args else None, "resolution": model.resolution,
            "latent_dim": model.latent_dim, "channels": model.channels, "image_channels": model.image_channels}
    return model.eval(), info
