"""BigGAN-deep (Brock et al., 2019) from a local pytorch-pretrained-biggan folder (config.json + pytorch_model.bin).

The architecture is the optional package ``pytorch-pretrained-biggan`` (``pip install ganexplorer[biggan]``),
imported only when a BigGAN is built. Its own ``BigGAN.from_pretrained`` downloads and unpickles with plain
``torch.load``, so we never call it: ``checkpoints.py`` reads the files as data and we load the state dict strictly.

How z enters this (deep) BigGAN: cond = cat(z, embed(class)) goes once through the first linear layer ``gen_z``
(to the 4x4 feature map) and, unchanged, into the scale/offset linears of every conditional batch norm. SeFa's
"first linear layer" for BigGAN is the z columns of ``gen_z``'s effective (spectrally normalised) weight.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..layers import is_all

INSTALL_HINT = "BigGAN needs the optional package pytorch-pretrained-biggan: pip install ganexplorer[biggan]"
CONFIG_FIELDS = ("z_dim", "channel_width", "num_classes", "layers")
KEY_FIELDS = ("embeddings.weight", "generator.gen_z.weight_orig", "generator.conv_to_rgb.weight_orig")
BUILD_OPTIONS = ("class_index", "truncation")
# (up-sample?, in, out) channel multipliers of the released BigGAN-deep generators, by resolution
_MULTIPLIERS = {128: (16, 16, 8, 4, 2, 1), 256: (16, 16, 8, 8, 4, 2, 1), 512: (16, 16, 8, 8, 4, 2, 1, 1)}


def _package():
    try:
        import pytorch_pretrained_biggan as pkg
    except ImportError:
        raise ImportError(INSTALL_HINT) from None
    return pkg


def deep_layers(resolution: int) -> list[tuple[bool, int, int]]:
    """The released BigGAN-deep block list for 128, 256 or 512: per resolution step a plain block then an
    up-sampling block that may halve the channels."""
    if resolution not in _MULTIPLIERS:
        raise ValueError(f"BigGAN-deep comes in resolutions 128, 256 and 512, got {resolution}")
    mults = _MULTIPLIERS[resolution]
    return [blk for a, b in zip(mults, mults[1:]) for blk in ((False, a, a), (True, a, b))]


def _is_state_dict(obj: Any) -> bool:
    return isinstance(obj, dict) and all(isinstance(obj.get(k), torch.Tensor) for k in KEY_FIELDS)


def _is_config(obj: Any) -> bool:
    return isinstance(obj, dict) and all(k in obj for k in CONFIG_FIELDS)


def config_from_state_dict(sd: dict[str, torch.Tensor]) -> dict[str, Any]:
    """A config for a bare state dict, read from its shapes; up-sampling follows the BigGAN-deep pattern (every
    second block), so a file of another layout fails the strict load that follows instead of loading wrongly."""
    z_dim, num_classes = sd["embeddings.weight"].shape
    ch = sd["generator.conv_to_rgb.weight_orig"].shape[1]
    layers, attention = [], None
    i = 0
    while f"generator.layers.{i}.conv_0.weight_orig" in sd or f"generator.layers.{i}.gamma" in sd:
        if f"generator.layers.{i}.gamma" in sd:
            attention = i
        else:
            cin, cout = sd[f"generator.layers.{i}.conv_0.weight_orig"].shape[1], \
                sd[f"generator.layers.{i}.conv_3.weight_orig"].shape[0]
            layers.append((len(layers) % 2 == 1, cin // ch, cout // ch))
        i += 1
    return {"output_dim": 4 * 2 ** sum(up for up, _, _ in layers), "z_dim": int(z_dim),
            "class_embed_dim": int(z_dim), "channel_width": int(ch), "num_classes": int(num_classes),
            "layers": layers, "attention_layer_position": attention if attention is not None else len(layers) + 1,
            "eps": 1e-4, "n_stats": int(sd["generator.bn.running_means"].shape[0])}


def recognise(content: Any) -> dict[str, Any] | None:
    """{'config', 'state_dict', 'format'} for a pytorch-pretrained-biggan folder (or a bare state dict of one),
    else None."""
    try:
        if _is_state_dict(content):
            return {"config": config_from_state_dict(content), "state_dict": content,
                    "format": "pytorch-pretrained-biggan state dict (config read from the weights)"}
        if not isinstance(content, dict):
            return None
        configs = [v for v in content.values() if _is_config(v)]
        weights = [v for v in content.values() if _is_state_dict(v)]
        if not weights:
            return None
        if configs:
            return {"config": dict(configs[0]), "state_dict": weights[0],
                    "format": "pytorch-pretrained-biggan folder (config.json + pytorch_model.bin)"}
        return {"config": config_from_state_dict(weights[0]), "state_dict": weights[0],
                "format": "pytorch-pretrained-biggan weights (config read from the weights)"}
    except Exception:  # recognise never raises: an odd file is simply not ours
        return None


def _check_keys(model: nn.Module, sd: dict[str, torch.Tensor]) -> None:
    expected = model.state_dict()
    missing = [k for k in expected if k not in sd]
    unexpected = [k for k in sd if k not in expected]
    shapes = [f"{k}: file has {tuple(sd[k].shape)}, the config expects {tuple(v.shape)}"
              for k, v in expected.items() if k in sd and tuple(sd[k].shape) != tuple(v.shape)]
    problems = []
    if missing:
        problems.append(f"missing keys ({len(missing)}): {', '.join(missing[:6])}{' ...' if len(missing) > 6 else ''}")
    if unexpected:
        problems.append(f"unexpected keys ({len(unexpected)}): {', '.join(unexpected[:6])}"
                        f"{' ...' if len(unexpected) > 6 else ''}")
    if shapes:
        problems.append(f"wrong shapes ({len(shapes)}): {'; '.join(shapes[:4])}{' ...' if len(shapes) > 4 else ''}")
    if problems:
        raise ValueError("the BigGAN weights do not match config.json: " + " | ".join(problems))


def build(found: dict[str, Any], **options) -> tuple[BigGANGenerator, dict[str, Any]]:
    """A ``BigGANGenerator`` with the file's weights, loaded strictly. Options: class_index (default 207, golden
    retriever in ImageNet; 0 for models with fewer classes), truncation (default 0.4)."""
    unknown = sorted(set(options) - set(BUILD_OPTIONS))
    if unknown:
        raise TypeError(f"unknown BigGAN option(s) {', '.join(unknown)}: allowed are {', '.join(BUILD_OPTIONS)}")
    pkg = _package()
    config = pkg.BigGANConfig.from_dict(found["config"])
    try:
        model = pkg.BigGAN(config)
    except (TypeError, ValueError, IndexError, KeyError, RuntimeError) as exc:
        raise ValueError(f"config.json does not describe a buildable BigGAN ({exc!r})") from exc
    _check_keys(model, found["state_dict"])
    try:
        model.load_state_dict(found["state_dict"], strict=True)
    except RuntimeError as exc:
        raise ValueError(f"the BigGAN weights do not load: {exc}") from exc
    module = BigGANGenerator(model, **options)
    info = {"format": found["format"], "resolution": int(module.resolution), "num_classes": module.num_classes,
            "latent_dim": module.latent_dim, "channel_width": int(config.channel_width),
            "class_index": module.class_index, "truncation": module.truncation}
    return module.eval(), info


class BigGANGenerator(nn.Module):
    """A pytorch-pretrained-biggan ``BigGAN`` seen as z -> image for one chosen class and truncation.

    ``class_index`` (the class selector) and ``truncation`` can be changed at any time; the batch norms use the
    file's precomputed statistics for that truncation, so outputs are deterministic and batch-independent.
    """

    pca_layer = "model.generator.gen_z"  # GANSpace's BigGAN layer: the first linear layer's output

    def __init__(self, model: nn.Module, class_index: int | None = None, truncation: float = 0.4):
        super().__init__()
        self.model = model.eval()
        self.latent_dim = int(model.config.z_dim)
        self.num_classes = int(model.config.num_classes)
        self.resolution = int(4 * 2 ** sum(bool(layer[0]) for layer in model.config.layers))
        self.class_index = (207 if self.num_classes > 207 else 0) if class_index is None else class_index
        self.truncation = truncation

    @property
    def class_index(self) -> int:
        return self._class_index

    @class_index.setter
    def class_index(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < self.num_classes:
            raise ValueError(f"class_index must be an integer in 0..{self.num_classes - 1}, got {value!r}")
        self._class_index = int(value)

    @property
    def truncation(self) -> float:
        return self._truncation

    @truncation.setter
    def truncation(self, value: float) -> None:
        if not isinstance(value, (int, float)) or not 0 < float(value) <= 1:
            raise ValueError(f"truncation must be a number in (0, 1], got {value!r}")
        self._truncation = float(value)

    def extra_repr(self) -> str:
        return (f"resolution={self.resolution}, latent_dim={self.latent_dim}, class_index={self.class_index}, "
                f"truncation={self.truncation}")

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """(N, z_dim) -> (N, 3, R, R) in [-1, 1] (the model ends in tanh)."""
        label = torch.zeros(z.shape[0], self.num_classes, device=z.device, dtype=z.dtype)
        label[:, self.class_index] = 1.0
        return self.model(z, label, self.truncation)

    def latents_from_noise(self, noise: torch.Tensor) -> torch.Tensor:
        """BigGAN's latents, truncation * TruncNormal(-2, 2), from N(0, 1) noise by the inverse CDF: deterministic,
        on the noise's device, so a seed gives the same z everywhere."""
        lo, hi = torch.special.ndtr(torch.tensor([-2.0, 2.0], dtype=torch.float64)).tolist()
        p = lo + (hi - lo) * torch.special.ndtr(noise.float())
        return self.truncation * torch.special.ndtri(p).clamp(-2.0, 2.0).to(noise.dtype)

    def sefa_weight(self, layers: str = "all") -> torch.Tensor:
        """(units, z_dim): the z columns of the weight ``gen_z`` actually applies (W_orig / sigma, sigma from the
        stored power-iteration vectors, as spectral norm does in eval mode)."""
        if not is_all(layers):
            raise ValueError(f"BigGAN is not layer-aware: z enters through one first linear layer, use layers='all' "
                             f"(got {layers!r})")
        return effective_weight(self.model.generator.gen_z)[:, : self.latent_dim].detach()

    @classmethod
    def random(cls, resolution: int = 256, class_index: int | None = None, truncation: float = 0.4,
               channel_width: int = 128, num_classes: int = 1000, seed: int = 0) -> BigGANGenerator:
        """A random-weight BigGAN-deep of the released layout (for benchmarks and tests; its images are noise)."""
        pkg = _package()
        torch.manual_seed(seed)
        config = pkg.BigGANConfig(output_dim=resolution, channel_width=channel_width, num_classes=num_classes,
                                  layers=deep_layers(resolution), attention_layer_position=8)
        model = pkg.BigGAN(config)
        init_random(model)
        return cls(model, class_index, truncation).eval()


def effective_weight(module: nn.Module) -> torch.Tensor:
    """The weight a ``torch.nn.utils.spectral_norm`` module applies in eval mode, as a (out, in) matrix."""
    w = module.weight_orig.reshape(module.weight_orig.shape[0], -1)
    sigma = torch.dot(module.weight_u, w @ module.weight_v)
    return w / sigma


@torch.no_grad()
def init_random(model: nn.Module, iterations: int = 30) -> None:
    """Make a freshly built BigGAN usable: converge the spectral-norm vectors (their random start can give a
    tiny sigma) and set the unconditional batch norm's uninitialised affine parameters."""
    for m in model.modules():
        if hasattr(m, "weight_orig"):
            w = m.weight_orig.reshape(m.weight_orig.shape[0], -1)
            u = m.weight_u
            for _ in range(iterations):
                v = nn.functional.normalize(w.T @ u, dim=0)
                u = nn.functional.normalize(w @ v, dim=0)
            m.weight_u.copy_(u)
            m.weight_v.copy_(v)
        if hasattr(m, "conditional") and not m.conditional:
            m.weight.fill_(1.0)
            m.bias.zero_()

