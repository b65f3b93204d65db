"""StyleGAN2 (config-e/f, 'skip' generator), our own compact implementation, and loaders for its two popular
checkpoint layouts: the PyTorch port's ``.pt`` (rosinality/stylegan2-pytorch, ``g_ema``) and NVlabs'
stylegan2-ada-pytorch ``.pkl`` (``G_ema``, read as data by ``pickles.py``) or a state dict of either.

Why our own module: the official pickle would execute the source code it carries, and the port needs compiled
CUDA ops; the maths (Karras et al. 2020) is small. Modulated convolutions run in the non-fused form (scale the
input by the style, one shared convolution for the whole batch, scale the output by the demodulation
coefficients), which equals the per-sample weights of the paper and renders a batch at once on CPU or GPU.

Also read here: genforce / SeFa StyleGAN2 files (``mapping.dense*``, ``synthesis.layer*``: up-sampling kernels
flipped to our convention, style biases + 1), genforce StyleGAN v1 (``genforce.py``), and StyleGAN3 -T / -R from the
official ``.pkl`` (``StyleGAN3Generator`` below). Variants we do not implement are refused by name (SWAGAN,
conditional, resnet/origin, StyleGAN3 state dicts, ...).

Conventions, as options: ``noise_mode`` ("const": the stored noise, default; "random"; "none"), ``truncation`` psi
applied when sampling and to z, never to a w you pass (``truncate(w, psi)`` does it), ``conv_clamp`` (a warning
when a state dict cannot say it), and a mean w estimated from 4096 z of seed 0 when the file has none.

W indexing (as both references): conv ``c`` reads ``w[c]``; the toRGB of block ``b`` reads ``w[2b + 1]``, the same
latent as the next block's first conv; the last toRGB reads the last latent. ``num_layers = 2 log2(R) - 2``.
"""

from __future__ import annotations

import math
import re
import warnings
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..layers import parse_layers

SQRT2 = math.sqrt(2.0)
SPACES = ("z", "w", "w+")
BUILD_OPTIONS = ("space", "truncation", "conv_clamp", "noise_mode")
NOISE_MODES = ("const", "random", "none")
ADA_CONV_CLAMP = 256.0  # what stylegan2-ada-pytorch's training configs set
W_AVG_SAMPLES = 4096
SWAGAN_REFUSAL = ("this is a SWAGAN generator (rosinality's swagan.py: wavelet to-RGB layers, keys 'iwt.*' and "
                  "'to_rgbs.N.iwt.*' / 'dwt.*'), not the StyleGAN2 'skip' generator: SWAGAN is not supported; build "
                  "it with swagan.py yourself and wrap it, gx.Generator(module, latent_dim=d)")


def blur_filter() -> torch.Tensor:
    """The [1, 3, 3, 1] low-pass filter of both references, as a 4x4 kernel summing to 1."""
    k = torch.tensor([1.0, 3.0, 3.0, 1.0])
    k = torch.outer(k, k)
    return k / k.sum()


def default_channels(resolution: int, channel_multiplier: int = 2) -> dict[int, int]:
    """Channels per block resolution of the official config-f (= the port with channel multiplier 2)."""
    log2 = int(math.log2(resolution))
    return {2 ** i: min(512, 16384 * channel_multiplier // 2 ** i) for i in range(2, log2 + 1)}


class EqualLinear(nn.Module):
    """Fully connected layer with equalised learning rate: weights stored divided by ``lr_mul``, scaled at use."""

    def __init__(self, in_features: int, out_features: int, lr_mul: float = 1.0, bias_init: float = 0.0,
                 activate: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init)))
        self.weight_gain = lr_mul / math.sqrt(in_features)
        self.lr_mul = lr_mul
        self.activate = activate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.linear(x, self.weight * self.weight_gain, self.bias * self.lr_mul)
        return F.leaky_relu(x, 0.2) * SQRT2 if self.activate else x


class StyleConv(nn.Module):
    """Modulated 3x3 conv with demodulation (optionally transposed-conv upsampling + blur), noise scaled by a
    learned strength (``noise_mode``: the stored constant, fresh N(0, 1) per sample and call, or none), bias,
    leaky ReLU * sqrt(2), optional clamp."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, up: bool,
                 conv_clamp: float | None = None):
        super().__init__()
        self.affine = EqualLinear(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 3, 3))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.noise_strength = nn.Parameter(torch.zeros([]))
        self.register_buffer("noise_const", torch.randn(resolution, resolution))
        self.up = up
        self.conv_clamp = conv_clamp
        self.noise_mode = "const"
        if up:  # gain 4 keeps the mean after zero-stuffing by 2 in each direction
            self.register_buffer("blur", (blur_filter() * 4).expand(out_channels, 1, 4, 4).clone(), persistent=False)

    cache = True  # reuse weight norms and, for one sample, the modulated weight of an unchanged w (rendering only)

    def _weight_norms(self) -> torch.Tensor:
        """sum over the kernel of weight² (out, in): depends on the weights only, so it is kept until they change
        (their version counter moves on any in-place edit, load_state_dict included)."""
        if not self._caching():
            return self.weight.square().sum((2, 3))
        key = (self.weight._version, self.weight.data_ptr(), self.weight.device)
        entry = getattr(self, "_norms_entry", None)  # one attribute, swapped whole: safe for concurrent renders
        if entry is None or entry[0] != key:
            entry = (key, self.weight.square().sum((2, 3)))
            self._norms_entry = entry
        return entry[1]

    def _caching(self) -> bool:
        return self.cache and not torch.is_grad_enabled()

    def _modulated(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """styles, demodulation coefficients and the modulated weight of one sample's w (1, d): a slider that
        moves only some layers leaves the others' w, and so their modulated weights, unchanged."""
        key = (self.weight._version, self.weight.data_ptr(), torch.is_autocast_enabled(w.device.type),
               torch.get_autocast_dtype(w.device.type))
        entry = getattr(self, "_mod_entry", None)  # (key, w, result), read and written as one
        if self._caching() and entry is not None and entry[0] == key and entry[1].shape == w.shape \
                and entry[1].dtype == w.dtype and entry[1].device == w.device and torch.equal(entry[1], w):
            return entry[2]
        styles = self.affine(w)
        dcoefs = (styles.square() @ self._weight_norms().T + 1e-8).rsqrt()
        weight = self.weight * (styles.view(1, -1, 1, 1) * dcoefs.view(-1, 1, 1, 1))
        if self._caching():
            self._mod_entry = (key, w.clone(), (styles, dcoefs, weight))
        return styles, dcoefs, weight

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        weight, fused = self.weight, len(x) == 1
        if fused:  # one sample: modulate and demodulate the weight, cheaper than scaling the activations
            styles, dcoefs, weight = self._modulated(w)
        else:
            styles = self.affine(w)
            dcoefs = (styles.square() @ self._weight_norms().T + 1e-8).rsqrt()
            x = x * styles[:, :, None, None]
        if self.up:
            x = F.conv_transpose2d(x, weight.transpose(0, 1), stride=2)
            x = F.conv2d(x, self.blur, padding=1, groups=x.shape[1])
        else:
            x = F.conv2d(x, weight, padding=1)
        # leaky ReLU commutes with positive scaling: fold its sqrt(2) gain into the affine terms
        if self.noise_mode == "random":
            noise = torch.randn(len(x), 1, *x.shape[-2:], device=x.device, dtype=x.dtype)
        else:
            noise = self.noise_const if self.noise_mode == "const" else torch.zeros_like(self.noise_const)
        noise, bias = noise * (self.noise_strength * SQRT2), (self.bias * SQRT2)[None, :, None, None]
        if torch.is_grad_enabled() and x.requires_grad:
            x = x * (SQRT2 if fused else dcoefs[:, :, None, None] * SQRT2) + noise
            x = F.leaky_relu(x + bias, 0.2)
        else:  # rendering: in place, no new full-resolution buffers
            x = x.mul_(SQRT2 if fused else dcoefs[:, :, None, None] * SQRT2).add_(noise).add_(bias)
            x = F.leaky_relu_(x, 0.2)
        return x.clamp(-self.conv_clamp, self.conv_clamp) if self.conv_clamp is not None else x


class ToRGB(nn.Module):
    """Modulated 1x1 conv without demodulation, plus bias (clamped like the convs when conv_clamp is set)."""

    def __init__(self, in_channels: int, img_channels: int, w_dim: int, conv_clamp: float | None = None):
        super().__init__()
        self.affine = EqualLinear(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(img_channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(img_channels))
        self.weight_gain = 1 / math.sqrt(in_channels)
        self.conv_clamp = conv_clamp

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = F.conv2d(x * styles[:, :, None, None], self.weight, self.bias)
        return x.clamp(-self.conv_clamp, self.conv_clamp) if self.conv_clamp is not None else x


class StyleGAN2Generator(nn.Module):
    """StyleGAN2 generator taking z or w latents, one per layer (W+) or one broadcast to all.

    Without a checkpoint it has random weights (for benchmarks): ``StyleGAN2Generator(resolution=1024)``.
    ``channels``: None (official schedule), one int for every block, or a list/dict per block resolution.
    """

    def __init__(self, resolution: int = 1024, latent_dim: int = 512, n_mlp: int = 8,
                 channels: int | list[int] | dict[int, int] | None = None, img_channels: int = 3,
                 lr_mlp: float = 0.01, conv_clamp: float | None = None, space: str = "w", truncation: float = 1.0,
                 channel_multiplier: int = 2, noise_mode: str = "const"):
        super().__init__()
        if resolution < 4 or resolution & (resolution - 1):
            raise ValueError(f"resolution must be a power of two >= 4, got {resolution}")
        self.resolution, self.latent_dim, self.n_mlp, self.img_channels = resolution, latent_dim, n_mlp, img_channels
        resolutions = [2 ** i for i in range(2, int(math.log2(resolution)) + 1)]
        if channels is None:
            channels = default_channels(resolution, channel_multiplier)
        if isinstance(channels, int):
            channels = [channels] * len(resolutions)
        if isinstance(channels, dict):
            channels = [channels[r] for r in resolutions]
        if len(channels) != len(resolutions):
            raise ValueError(f"channels needs one entry per block ({resolutions}), got {list(channels)}")
        self.channels = [int(c) for c in channels]
        self.num_layers = 2 * len(resolutions)
        self.conv_clamp = conv_clamp

        self.mapping = nn.ModuleList(EqualLinear(latent_dim, latent_dim, lr_mul=lr_mlp, activate=True)
                                     for _ in range(n_mlp))
        self.const = nn.Parameter(torch.randn(self.channels[0], 4, 4))
        convs = [StyleConv(self.channels[0], self.channels[0], latent_dim, 4, False, conv_clamp)]
        torgbs = [ToRGB(self.channels[0], img_channels, latent_dim, conv_clamp)]
        for res, c_in, c_out in zip(resolutions[1:], self.channels, self.channels[1:]):
            convs += [StyleConv(c_in, c_out, latent_dim, res, True, conv_clamp),
                      StyleConv(c_out, c_out, latent_dim, res, False, conv_clamp)]
            torgbs.append(ToRGB(c_out, img_channels, latent_dim, conv_clamp))
        self.convs, self.torgbs = nn.ModuleList(convs), nn.ModuleList(torgbs)
        self.register_buffer("w_avg", torch.zeros(latent_dim))
        self.register_buffer("rgb_up", (blur_filter() * 4).expand(img_channels, 1, 4, 4).clone(), persistent=False)
        self.space = space
        self.truncation = truncation
        self.noise_mode = noise_mode

    def config(self) -> dict[str, Any]:
        """Constructor arguments of this architecture (what a zoo file's header stores)."""
        return {"resolution": self.resolution, "latent_dim": self.latent_dim, "n_mlp": self.n_mlp,
                "channels": self.channels, "img_channels": self.img_channels,
                "lr_mlp": self.mapping[0].lr_mul, "conv_clamp": self.conv_clamp}

    @property
    def space(self) -> str:
        """"z" (forward maps its latents) or "w" (forward takes w; "w+" is the same space, one per layer)."""
        return self._space

    @space.setter
    def space(self, value: str) -> None:
        value = str(value).lower()
        if value not in SPACES:
            raise ValueError(f"space must be one of {', '.join(SPACES)}, got {value!r}")
        self._space = "w" if value == "w+" else value

    @property
    def noise_mode(self) -> str:
        """Per-pixel noise of the convs, as stylegan2-ada-pytorch's ``noise_mode``: "const" (default: the file's
        stored noise buffers, deterministic renders), "random" (fresh noise per sample and call, what the
        rosinality port does by default: renders change from call to call) or "none" (no noise)."""
        return self._noise_mode

    @noise_mode.setter
    def noise_mode(self, value: str) -> None:
        value = str(value).lower()
        if value not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {', '.join(NOISE_MODES)}, got {value!r}")
        self._noise_mode = value
        for layer in self.noisy_layers():
            layer.noise_mode = value

    def noisy_layers(self) -> list[nn.Module]:
        """The layers that add per-pixel noise (``noise_mode`` is set on each)."""
        return list(self.convs)

    @property
    def style_cache(self) -> bool:
        """Whether renders reuse per-layer work of unchanged inputs (default True; exact, rendering only): each
        conv's weight norms until the weights change and, for a single sample, the modulated weights of layers
        whose w did not change (a direction on some layers leaves the others as they were: the Explorer's drag)."""
        return all(conv.cache for conv in self.convs)

    @style_cache.setter
    def style_cache(self, value: bool) -> None:
        for conv in self.convs:
            conv.cache = bool(value)
            conv.__dict__.pop("_mod_entry", None), conv.__dict__.pop("_norms_entry", None)

    @property
    def pca_layer(self) -> str:
        """GANSpace's StyleGAN recipe is PCA of w: the latents themselves in space "w", the mapping's output in "z"."""
        return "latents" if self.space == "w" else f"mapping.{self.n_mlp - 1}"

    @property
    def truncation(self) -> float:
        """psi: w = w_avg + psi (w - w_avg); 1 = no truncation, 0 = the average image."""
        return self._truncation

    @truncation.setter
    def truncation(self, value: float) -> None:
        value = float(value)
        if not -1.0 <= value <= 2.0:
            raise ValueError(f"truncation psi must be between -1 and 2 (usually 0.5 to 1), got {value}")
        self._truncation = value

    def map(self, z: torch.Tensor) -> torch.Tensor:
        """z (..., d) -> w (..., d): pixel norm, then the mapping MLP (no truncation)."""
        x = z * (z.square().mean(dim=-1, keepdim=True) + 1e-8).rsqrt()
        for fc in self.mapping:
            x = fc(x)
        return x

    def truncate(self, w: torch.Tensor, psi: float | None = None) -> torch.Tensor:
        """w_avg + psi (w - w_avg) for w of shape (..., d) (W or W+); ``psi`` defaults to ``truncation``.

        Truncation is applied where latents are made: when sampling (``latents_from_noise``) and to z in space
        "z". A w you supply yourself in space "w" is rendered as given (upstream applies psi inside forward):
        call ``truncate(w, psi)`` first to get the truncated image upstream would show."""
        psi = self.truncation if psi is None else float(psi)
        return w if psi == 1.0 else torch.lerp(self.w_avg.to(w.dtype), w, psi)

    def latents_from_noise(self, noise: torch.Tensor) -> torch.Tensor:
        """N(0, I) noise -> the latents forward expects: z itself, or the truncated w in space "w"."""
        return noise if self.space == "z" else self.truncate(self.map(noise))

    def per_layer(self, latents: torch.Tensor) -> torch.Tensor:
        """(N, d) or (N, num_layers, d) latents of ``space`` -> one w per layer (N, num_layers, d), checked."""
        if not (latents.ndim in (2, 3) and latents.shape[-1] == self.latent_dim
                and (latents.ndim == 2 or latents.shape[1] == self.num_layers)):
            raise ValueError(f"latents must be (N, {self.latent_dim}) or (N, {self.num_layers}, {self.latent_dim}), "
                             f"got {tuple(latents.shape)}")
        if self.space == "z":
            latents = self.truncate(self.map(latents))
        return latents if latents.ndim == 3 else latents[:, None].expand(-1, self.num_layers, -1)

    @property
    def preview_resolutions(self) -> list[int]:
        """Sizes of the RGB images the skip architecture has on the way up, below the full one: a preview at
        size s costs only the blocks up to s (each block adds its toRGB to the upsampled image before it)."""
        return [2 ** i for i in range(2, int(math.log2(self.resolution)))]

    def forward(self, latents: torch.Tensor, resolution: int | None = None) -> torch.Tensor:
        """(N, d) or per layer (N, num_layers, d) latents of ``space`` -> images (N, C, R, R); with
        ``resolution`` (one of ``preview_resolutions``) synthesis stops there: the image before the finer
        blocks add their detail."""
        ws = self.per_layer(latents)
        # channels-last activations: faster convolutions on CPU (oneDNN) and on recent GPUs
        x = self.const.expand(len(ws), -1, -1, -1).contiguous(memory_format=torch.channels_last)
        x = self.convs[0](x, ws[:, 0])
        img = self.torgbs[0](x, ws[:, 1])
        for b, torgb in enumerate(self.torgbs[1:], start=1):
            if resolution is not None and 4 * 2 ** b > resolution:
                break
            x = self.convs[2 * b - 1](x, ws[:, 2 * b - 1])
            x = self.convs[2 * b](x, ws[:, 2 * b])
            img = F.conv_transpose2d(img, self.rgb_up, stride=2, padding=1, groups=self.img_channels)
            img = img + torgb(x, ws[:, 2 * b + 1])
        return img

    def sefa_weight(self, layers: str = "all") -> torch.Tensor:
        """Modulation weights (units, w_dim) of the chosen w indices, as the SeFa reference: the conv that reads
        w[i], and for the last index (read by no conv) the final toRGB."""
        if self.space == "z":
            raise ValueError("SeFa directions for StyleGAN live in W: load the generator with space='w'")
        idx = parse_layers(layers, self.num_layers)
        return torch.cat([(self.convs[i] if i < len(self.convs) else self.torgbs[-1]).affine.weight.detach()
                          for i in idx])

    @torch.no_grad()
    def estimate_w_avg(self, n: int = W_AVG_SAMPLES, seed: int = 0) -> torch.Tensor:
        """Set ``w_avg`` to the mean of the mapping over ``n`` z drawn with ``torch.Generator().manual_seed(seed)``
        (when a checkpoint lacks it; the loaders use n=4096, seed 0, and say so in the info's ``w_avg``), so the
        same file always gets the same mean w and the same truncated images."""
        z = torch.randn(n, self.latent_dim, generator=torch.Generator().manual_seed(seed))
        self.w_avg.copy_(self.map(z.to(self.w_avg.device)).mean(0))
        return self.w_avg


# ---- checkpoint layouts -----------------------------------------------------------------------------------------

def _tensors(d: Any) -> bool:
    return isinstance(d, dict) and bool(d) and all(isinstance(v, torch.Tensor) for v in d.values())


def _count(state: dict, pattern: str, start: int = 0) -> int:
    n = start
    while pattern.format(n) in state:
        n += 1
    return n - start


def recognise(content: Any) -> Any | None:
    """What ``build`` needs if ``content`` is a StyleGAN2 checkpoint (port ``.pt``, official ``.pkl`` or a state
    dict of either), else None."""
    from .pickles import PersistentObject, PickledObject

    try:
        if not isinstance(content, dict):
            return None
        g = content.get("g_ema", content)
        if isinstance(g, dict) and "style.1.weight" in g and "input.input" in g and "conv1.conv.weight" in g:
            if any(isinstance(k, str) and (k.startswith(("iwt.", "dwt.")) or ".iwt." in k or ".dwt." in k)
                   for k in g):
                return {"layout": "unsupported", "why": SWAGAN_REFUSAL}
            args = content.get("args")
            return {"layout": "rosinality", "state": g, "latent_avg": content.get("latent_avg"),
                    "args": {k: v for k, v in vars(args).items() if isinstance(v, (int, float, str, bool))}
                    if hasattr(args, "__dict__") else {}}
        g = next((content[k] for k in ("generator_smooth", "generator") if isinstance(content.get(k), dict)),
                 content)
        if isinstance(g, dict) and "mapping.dense0.weight" in g and any(
                isinstance(k, str) and k.startswith("synthesis.") for k in g):
            return {"layout": "genforce", "state": g}
        g = content.get("G_ema", content.get("G", content))
        if isinstance(g, PersistentObject):
            return {"layout": "official", "object": g, "state": g.tensors()}
        if isinstance(g, PickledObject):
            return {"layout": "unsupported", "why": f"this .pkl holds a {g.qualname} (the TensorFlow StyleGAN "
                    "format); convert it with stylegan2-ada-pytorch's legacy.py to its PyTorch .pkl first"}
        if isinstance(g, dict) and "mapping.fc0.weight" in g and any(k.startswith("synthesis.") for k in g):
            return {"layout": "official", "object": None, "state": g}
    except Exception:  # recognise never raises: an odd file is simply not ours
        return None
    return None


class _Filler:
    """Copies checkpoint tensors into our module under strict checks (missing, unexpected, wrong shape)."""

    def __init__(self, model: nn.Module, source: dict[str, torch.Tensor], where: str):
        self.ours, self.source, self.where, self.used = model.state_dict(), source, where, set()

    def take(self, ours: str, key: str, shape: tuple[int, ...] | None = None, fn: Any = None) -> None:
        """ours <- source[key] (of ``shape``, default ours' shape), through ``fn`` if given, reshaped to ours'."""
        target = self.ours[ours]
        shape = tuple(target.shape) if shape is None else tuple(shape)
        t = self._get(key, shape)
        with torch.no_grad():
            target.copy_((fn(t) if fn is not None else t).reshape(target.shape).to(target.dtype))

    def check(self, key: str, expected: torch.Tensor) -> None:
        """A fixed buffer (a resampling filter) must be present and hold the value our maths assumes."""
        t = self._get(key, tuple(expected.shape))
        if not torch.allclose(t.float(), expected, atol=1e-6):
            raise ValueError(f"{self.where}: {key!r} is not the [1,3,3,1] filter this implementation supports")

    def _get(self, key: str, shape: tuple[int, ...]) -> torch.Tensor:
        if key not in self.source:
            raise ValueError(f"{self.where} lacks {key!r} (expected a tensor of shape {shape})")
        t = self.source[key]
        if not isinstance(t, torch.Tensor) or tuple(t.shape) != shape:
            got = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
            raise ValueError(f"{self.where}: {key!r} has shape {got}, expected {shape}")
        self.used.add(key)
        return t

    def finish(self) -> None:
        extra = sorted(set(self.source) - self.used)
        if extra:
            raise ValueError(f"{self.where} has unexpected keys {extra[:6]}{' ...' if len(extra) > 6 else ''}: "
                             "not the StyleGAN2 'skip' generator this loader knows")


def _rosinality(found: dict, conv_clamp: float | None) -> tuple[StyleGAN2Generator, dict]:
    g, where = found["state"], "the port's g_ema"
    n_mlp = _count(g, "style.{}.weight", start=1)
    d = g["style.1.weight"].shape[1]
    n_blocks = 1 + _count(g, "to_rgbs.{}.conv.weight")
    rgb1 = g.get("to_rgb1.conv.weight")
    if rgb1 is None or rgb1.ndim != 5:
        raise ValueError(f"{where} lacks 'to_rgb1.conv.weight' (expected a tensor of shape (1, 3, C, 1, 1))")
    channels = [g["input.input"].shape[1]] + [g[f"to_rgbs.{i}.conv.weight"].shape[2] for i in range(n_blocks - 1)]
    model = StyleGAN2Generator(resolution=2 ** (n_blocks + 1), latent_dim=d, n_mlp=n_mlp, channels=channels,
                               img_channels=rgb1.shape[1], conv_clamp=conv_clamp)
    fill = _Filler(model, g, where)
    for i in range(n_mlp):
        fill.take(f"mapping.{i}.weight", f"style.{i + 1}.weight")
        fill.take(f"mapping.{i}.bias", f"style.{i + 1}.bias")
    fill.take("const", "input.input", (1, channels[0], 4, 4))
    for c, conv in enumerate(model.convs):
        src = "conv1" if c == 0 else f"convs.{c - 1}"
        c_out, c_in = conv.weight.shape[:2]
        fill.take(f"convs.{c}.weight", f"{src}.conv.weight", (1, c_out, c_in, 3, 3))
        fill.take(f"convs.{c}.affine.weight", f"{src}.conv.modulation.weight")
        fill.take(f"convs.{c}.affine.bias", f"{src}.conv.modulation.bias")
        fill.take(f"convs.{c}.noise_strength", f"{src}.noise.weight", (1,))
        fill.take(f"convs.{c}.bias", f"{src}.activate.bias")
        res = conv.noise_const.shape[-1]
        fill.take(f"convs.{c}.noise_const", f"noises.noise_{c}", (1, 1, res, res))
        if conv.up:
            fill.check(f"{src}.conv.blur.kernel", blur_filter() * 4)
    for b, rgb in enumerate(model.torgbs):
        src = "to_rgb1" if b == 0 else f"to_rgbs.{b - 1}"
        c_img, c_in = rgb.weight.shape[:2]
        fill.take(f"torgbs.{b}.weight", f"{src}.conv.weight", (1, c_img, c_in, 1, 1))
        fill.take(f"torgbs.{b}.affine.weight", f"{src}.conv.modulation.weight")
        fill.take(f"torgbs.{b}.affine.bias", f"{src}.conv.modulation.bias")
        fill.take(f"torgbs.{b}.bias", f"{src}.bias", (1, c_img, 1, 1))
        if b > 0:
            fill.check(f"{src}.upsample.kernel", blur_filter() * 4)
    fill.finish()
    avg = found.get("latent_avg")
    if isinstance(avg, torch.Tensor) and avg.numel() == d:
        model.w_avg.copy_(avg.reshape(d))
        w_avg = "the checkpoint's latent_avg"
    else:
        model.estimate_w_avg()
        w_avg = f"mean of the mapping over {W_AVG_SAMPLES} z (seed 0)"
    return model, {"format": "rosinality stylegan2-pytorch .pt", "w_avg": w_avg,
                   **{k: found["args"][k] for k in ("size", "channel_multiplier", "iter") if k in found["args"]}}


def _official_config(obj: Any) -> dict[str, Any]:
    """Architecture facts from the pickled module records (conv_clamp, lr multiplier, c_dim, architecture)."""
    if obj is None:
        return {}
    if obj.class_name != "Generator":
        raise ValueError(f"G_ema is a {obj.class_name!r}, not the StyleGAN2-ADA Generator")
    out: dict[str, Any] = {"c_dim": obj.state.get("c_dim", 0)}
    synthesis = obj.children.get("synthesis")
    blocks = synthesis.children if synthesis is not None else {}
    out["architecture"] = {b.state.get("architecture") for b in blocks.values() if hasattr(b, "state")}
    b4 = blocks.get("b4")
    conv = b4.children.get("conv1") if b4 is not None else None
    if conv is not None and conv.state.get("conv_clamp") is not None:
        out["conv_clamp"] = float(conv.state["conv_clamp"])
    fc0 = obj.children.get("mapping").children.get("fc0") if "mapping" in obj.children else None
    if fc0 is not None and fc0.state.get("bias_gain") is not None:
        out["lr_mlp"] = float(fc0.state["bias_gain"])
    return out


def _official(found: dict, conv_clamp: Any) -> tuple[StyleGAN2Generator, dict]:
    s, where = found["state"], "the official G_ema"
    keys = list(s)
    config = _official_config(found.get("object"))
    if config.get("c_dim", 0) or "mapping.embed.weight" in s:
        raise ValueError("this is a conditional (class-label, c_dim > 0) StyleGAN2 generator: class-conditional "
                         "generators are not supported yet; wrap a module that fixes the class yourself, "
                         "gx.Generator(module, latent_dim=d)")
    archs = config.get("architecture", set()) - {None}
    resolutions = sorted({int(m.group(1)) for k in keys if (m := re.match(r"synthesis\.b(\d+)\.", k))})
    if not resolutions or resolutions[0] != 4:
        raise ValueError(f"{where} has no synthesis.b4 block (keys: {keys[:6]} ...)")
    if archs - {"skip"} or any(k.endswith(".skip.weight") for k in keys) \
            or any(f"synthesis.b{r}.torgb.weight" not in s for r in resolutions):
        arch = ", ".join(sorted(archs - {"skip"})) or "resnet/orig"
        raise ValueError(f"this StyleGAN2 generator uses the {arch!r} architecture: only 'skip' (config-e/f, "
                         "the default) is supported yet")
    n_mlp = _count(s, "mapping.fc{}.weight")
    z_dim, w_dim = s["mapping.fc0.weight"].shape[1], s[f"mapping.fc{n_mlp - 1}.weight"].shape[0]
    if z_dim != w_dim:
        raise ValueError(f"z_dim {z_dim} differs from w_dim {w_dim}: not supported yet")
    for r in resolutions:
        if f"synthesis.b{r}.conv1.weight" not in s:
            raise ValueError(f"{where} lacks 'synthesis.b{r}.conv1.weight' (the block's 3x3 conv weight)")
    channels = [s[f"synthesis.b{r}.conv1.weight"].shape[0] for r in resolutions]
    clamp = config.get("conv_clamp") if conv_clamp == "checkpoint" else conv_clamp
    clamp_note = None
    if conv_clamp == "checkpoint" and found.get("object") is None:
        clamp_note = (f"conv_clamp is not stored in a stylegan2-ada-pytorch state dict: rendering without clamping "
                      f"(conv_clamp=None); if the model was trained with clamping (the ADA configs use "
                      f"conv_clamp={ADA_CONV_CLAMP:g}), load it with conv_clamp={ADA_CONV_CLAMP:g}, as renders can "
                      "differ where activations exceed it")
        warnings.warn(clamp_note, stacklevel=4)
    model = StyleGAN2Generator(resolution=resolutions[-1], latent_dim=w_dim, n_mlp=n_mlp, channels=channels,
                               img_channels=s["synthesis.b4.torgb.weight"].shape[0],
                               lr_mlp=config.get("lr_mlp", 0.01), conv_clamp=clamp)
    fill = _Filler(model, s, where)
    for i in range(n_mlp):
        fill.take(f"mapping.{i}.weight", f"mapping.fc{i}.weight")
        fill.take(f"mapping.{i}.bias", f"mapping.fc{i}.bias")
    fill.take("const", "synthesis.b4.const")
    for c in range(len(model.convs)):
        r = resolutions[(c + 1) // 2]
        src = f"synthesis.b{r}.conv{0 if c % 2 else 1}"
        for name in ("weight", "bias", "noise_strength", "noise_const", "affine.weight", "affine.bias"):
            fill.take(f"convs.{c}.{name}", f"{src}.{name}")
        fill.check(f"{src}.resample_filter", blur_filter())
    for b, r in enumerate(resolutions):
        for name in ("weight", "bias", "affine.weight", "affine.bias"):
            fill.take(f"torgbs.{b}.{name}", f"synthesis.b{r}.torgb.{name}")
        fill.check(f"synthesis.b{r}.resample_filter", blur_filter())
    if "mapping.w_avg" in s:
        fill.take("w_avg", "mapping.w_avg")
        w_avg = "the checkpoint's mapping.w_avg"
    else:
        model.estimate_w_avg()
        w_avg = f"mean of the mapping over {W_AVG_SAMPLES} z (seed 0)"
    fill.finish()
    fmt = "stylegan2-ada-pytorch .pkl" if found.get("object") is not None else "stylegan2-ada-pytorch state dict"
    return model, {"format": fmt, "w_avg": w_avg, **({"conv_clamp_note": clamp_note} if clamp_note else {})}


GENFORCE = "genforce / SeFa StyleGAN2 generator (mapping.dense*, synthesis.layer*)"
GENFORCE_ASSUMED = ("genforce files do not store these settings; the defaults of genforce's StyleGAN2Generator are "
                    "assumed: mapping_lr_mul=0.01, demodulate=True, final_tanh=False, use_wscale=True")


def _genforce_v1(s: dict) -> bool:
    """A genforce StyleGAN (v1) generator: progressive 'synthesis.lod', AdaIN layers with 'apply_noise'."""
    return "synthesis.lod" in s or any(isinstance(k, str) and (".apply_noise." in k or k == "synthesis.layer0.const")
                                       for k in s)


def _genforce_variant(s: dict) -> str | None:
    """Why a genforce-layout StyleGAN2 file is not the StyleGAN2 'skip' generator we implement, or None."""
    keys = [k for k in s if isinstance(k, str)]
    if "mapping.label_weight" in s:
        return ("this is a conditional genforce StyleGAN2 generator (mapping.label_weight: label_size > 0): "
                "class-conditional generators are not supported yet")
    noise = s.get("synthesis.layer0.noise")
    if isinstance(noise, torch.Tensor) and noise.ndim == 4 and noise.shape[1] > 1:
        return ("this genforce StyleGAN2 generator uses noise_type='channel' (one noise value per channel, "
                "'synthesis.layerN.noise' of shape (1, C, 1, 1)): only 'spatial' noise (the default) is supported")
    if "synthesis.early_layer.const" not in s:
        return ("this genforce StyleGAN2 generator has no constant input (synthesis.early_layer.const; "
                "const_input=False): not supported yet")
    if any(k.startswith("synthesis.skip_layer") for k in keys) or "synthesis.upsample.kernel" not in s:
        return ("this genforce StyleGAN2 generator uses the 'resnet' or 'origin' architecture (no skip to-RGB "
                "at every resolution): only 'skip' (config-f, genforce's default) is supported yet")
    return None


def _genforce(found: dict, conv_clamp: float | None) -> tuple[StyleGAN2Generator, dict]:
    s, where = found["state"], "the genforce StyleGAN2 generator"
    why = _genforce_variant(s)
    if why:
        raise ValueError(why)
    n_mlp = _count(s, "mapping.dense{}.weight")
    dims = [tuple(s[f"mapping.dense{i}.weight"].shape) for i in range(n_mlp)]
    d = dims[0][1]
    if any(shape != (d, d) for shape in dims):
        last = dims[-1][0]
        what = (f"repeat_w=False (one w per layer: the mapping's last layer has {last} outputs)" if last % d == 0
                and last != d else f"mapping layer shapes {dims}")
        raise ValueError(f"{where} has {what}; only z_dim = w_dim = mapping_fmaps with one shared w (genforce's "
                         "defaults) is supported")
    n_blocks = 1 + _count(s, "synthesis.output{}.weight", start=1)
    channels = [int(s[f"synthesis.output{b}.weight"].shape[1]) for b in range(n_blocks)]
    model = StyleGAN2Generator(resolution=4 * 2 ** (n_blocks - 1), latent_dim=d, n_mlp=n_mlp, channels=channels,
                               img_channels=int(s["synthesis.output0.weight"].shape[0]), lr_mlp=0.01,
                               conv_clamp=conv_clamp)
    fill = _Filler(model, s, where)
    for i in range(n_mlp):
        fill.take(f"mapping.{i}.weight", f"mapping.dense{i}.weight")
        fill.take(f"mapping.{i}.bias", f"mapping.dense{i}.bias")
    fill.take("const", "synthesis.early_layer.const", (1, channels[0], 4, 4))
    up_filter = (blur_filter() * 4)[None, None]
    for c, conv in enumerate(model.convs):
        src = f"synthesis.layer{c}"
        # genforce runs its up-sampling convs as a transposed conv of the spatially flipped kernel
        fill.take(f"convs.{c}.weight", f"{src}.weight", fn=(lambda t: t.flip(2, 3)) if conv.up else None)
        fill.take(f"convs.{c}.bias", f"{src}.bias")
        fill.take(f"convs.{c}.noise_strength", f"{src}.noise_strength")
        res = conv.noise_const.shape[-1]
        fill.take(f"convs.{c}.noise_const", f"{src}.noise", (1, 1, res, res))
        fill.take(f"convs.{c}.affine.weight", f"{src}.style.weight")
        fill.take(f"convs.{c}.affine.bias", f"{src}.style.bias", fn=lambda t: t + 1.0)  # its additional bias 1
        if conv.up:
            fill.check(f"{src}.filter.kernel", up_filter)
    for b in range(len(model.torgbs)):
        src = f"synthesis.output{b}"
        for name in ("weight", "bias", "style.weight", "style.bias"):
            ours = name.replace("style.", "affine.")
            fill.take(f"torgbs.{b}.{ours}", f"{src}.{name}", fn=(lambda t: t + 1.0) if name == "style.bias" else None)
    fill.check("synthesis.upsample.kernel", up_filter)
    if "truncation.w_avg" in s:
        fill.take("w_avg", "truncation.w_avg")
        w_avg = "the checkpoint's truncation.w_avg"
    else:
        model.estimate_w_avg()
        w_avg = f"mean of the mapping over {W_AVG_SAMPLES} z (seed 0)"
    fill.finish()
    return model, {"format": GENFORCE, "w_avg": w_avg, "assumed": GENFORCE_ASSUMED}


def build(found: Any, **options: Any) -> tuple[nn.Module, dict[str, Any]]:
    """Our StyleGAN2 module with the checkpoint's weights (strict), in eval mode, and a JSON-able info dict.

    Options: ``space`` ("w" default, "z", "w+" = "w"), ``truncation`` (psi, default 1: applied when sampling
    and to z; a w you pass is rendered as given, see ``truncate(w, psi)``), ``conv_clamp`` (default: the
    checkpoint's; None turns clamping off; a state dict does not store it: a warning says so), ``noise_mode``
    ("const" default, "random", "none").
    """
    v1 = found["layout"] == "genforce" and _genforce_v1(found["state"])
    v3 = found["layout"] == "official" and any(
        isinstance(k, str) and k.startswith(("synthesis.input.", "synthesis.L0_")) for k in found["state"])
    allowed = ("space", "truncation", "noise_mode", "fused_scale") if v1 else \
        ("space", "truncation", "conv_clamp") if v3 else BUILD_OPTIONS
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        what = "StyleGAN (v1)" if v1 else "StyleGAN3" if v3 else "StyleGAN2"
        raise TypeError(f"unknown {what} option(s) {', '.join(unknown)}: allowed are {', '.join(allowed)}")
    if found["layout"] == "unsupported":
        raise ValueError(found["why"])
    if v3:
        conv_clamp = options.get("conv_clamp", "checkpoint")
        model, info = _stylegan3(found, conv_clamp if conv_clamp in ("checkpoint", None) else float(conv_clamp))
        model.space = options.get("space", "w")
        model.truncation = options.get("truncation", 1.0)
        info.update(resolution=model.resolution, latent_dim=model.latent_dim, num_layers=model.num_layers,
                    n_mlp=model.n_mlp, space=model.space, truncation=model.truncation)
        return model.eval(), info
    if v1:
        from .genforce import build_stylegan

        model, info = build_stylegan(found["state"], options.get("fused_scale", "auto"))
        if "fused_scale" not in options:  # as the genforce PGGAN loader: an ambiguity is refused by name
            auto = (f"layers {info['fused_layers']} fused at {model.resolution} px" if info["fused_layers"] else
                    f"at {model.resolution} px the same as False")
            raise ValueError(
                "genforce StyleGAN (v1) files do not record fused_scale, and the weights have the same shapes "
                "either way, so the file cannot tell how it up-samples (a wrong guess renders a wrong image "
                "without an error): load it with fused_scale='auto' (genforce's default and the official "
                f"networks', e.g. SeFa's model zoo files: up-sampling to 128 px or more fused; {auto}), "
                "fused_scale=False (nearest x2 then a conv everywhere) or fused_scale=True (a stride-2 transposed "
                "conv everywhere), as in the genforce config it was trained with; at the command line: "
                "--option fused_scale=auto")
        model.space = options.get("space", "w")
        model.truncation = options.get("truncation", 1.0)
        model.noise_mode = options.get("noise_mode", "const")
        info.update(resolution=model.resolution, latent_dim=model.latent_dim, num_layers=model.num_layers,
                    n_mlp=model.n_mlp, channels=model.channels, space=model.space, truncation=model.truncation,
                    noise_mode=model.noise_mode)
        return model.eval(), info
    conv_clamp = options.get("conv_clamp", "checkpoint")
    if conv_clamp not in ("checkpoint", None):
        conv_clamp = float(conv_clamp)
    if found["layout"] == "rosinality":
        model, info = _rosinality(found, None if conv_clamp == "checkpoint" else conv_clamp)
    elif found["layout"] == "genforce":
        model, info = _genforce(found, None if conv_clamp == "checkpoint" else conv_clamp)
    else:
        model, info = _official(found, conv_clamp)
    model.space = options.get("space", "w")
    model.truncation = options.get("truncation", 1.0)
    model.noise_mode = options.get("noise_mode", "const")
    info.update(resolution=model.resolution, latent_dim=model.latent_dim, num_layers=model.num_layers,
                n_mlp=model.n_mlp, channels=model.channels, space=model.space, truncation=model.truncation,
                conv_clamp=model.conv_clamp, noise_mode=model.noise_mode)
    return model.eval(), info


# ---- StyleGAN3 (alias-free, -T and -R) ------------------------------------------------------------------------------

def upfirdn2d(x: torch.Tensor, f: torch.Tensor | None, up: int = 1, down: int = 1,
              padding: tuple[int, int, int, int] = (0, 0, 0, 0), gain: float = 1.0) -> torch.Tensor:
    """Upsample by zero insertion, pad (negative: crop) by (x0, x1, y0, y1), convolve with ``f`` (1-D: separable
    along both axes, 2-D: full; scaled so the total gain is ``gain``), keep every ``down``-th sample."""
    n, c, h, w = x.shape
    if up > 1:
        x = F.pad(x.reshape(n, c, h, 1, w, 1), [0, up - 1, 0, 0, 0, up - 1]).reshape(n, c, h * up, w * up)
    x0, x1, y0, y1 = padding
    x = F.pad(x, [max(x0, 0), max(x1, 0), max(y0, 0), max(y1, 0)])
    x = x[:, :, max(-y0, 0):x.shape[2] - max(-y1, 0), max(-x0, 0):x.shape[3] - max(-x1, 0)]
    if f is not None:
        f = (f * gain ** (f.ndim / 2)).to(x.dtype).flip(list(range(f.ndim)))
        if f.ndim == 2:
            x = F.conv2d(x, f[None, None].expand(c, 1, -1, -1), groups=c)
        else:
            x = F.conv2d(x, f.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
            x = F.conv2d(x, f.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    elif gain != 1:
        x = x * gain
    return x[:, :, ::down, ::down] if down > 1 else x


class SG3Input(nn.Module):
    """Fourier features of fixed frequencies and phases, rotated and translated by an affine map of w[0]."""

    def __init__(self, w_dim: int, channels: int, size: tuple[int, int], sampling_rate: float, bandwidth: float):
        super().__init__()
        self.size, self.sampling_rate, self.bandwidth = (int(size[0]), int(size[1])), float(sampling_rate), \
            float(bandwidth)
        self.weight = nn.Parameter(torch.randn(channels, channels))
        self.affine = EqualLinear(w_dim, 4)
        self.register_buffer("transform", torch.eye(3))
        self.register_buffer("freqs", torch.randn(channels, 2))
        self.register_buffer("phases", torch.rand(channels) - 0.5)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        t = self.affine(w)
        t = t / t[:, :2].norm(dim=1, keepdim=True)
        n = len(w)
        m_r = torch.eye(3, device=w.device, dtype=w.dtype).repeat(n, 1, 1)
        m_r[:, 0, 0], m_r[:, 0, 1], m_r[:, 1, 0], m_r[:, 1, 1] = t[:, 0], -t[:, 1], t[:, 1], t[:, 0]
        m_t = torch.eye(3, device=w.device, dtype=w.dtype).repeat(n, 1, 1)
        m_t[:, 0, 2], m_t[:, 1, 2] = -t[:, 2], -t[:, 3]
        transforms = m_r @ m_t @ self.transform.to(w.dtype)[None]
        phases = self.phases[None] + (self.freqs[None] @ transforms[:, :2, 2:]).squeeze(2)
        freqs = self.freqs[None] @ transforms[:, :2, :2]
        amplitudes = (1 - (freqs.norm(dim=2) - self.bandwidth)
                      / (self.sampling_rate / 2 - self.bandwidth)).clamp(0, 1)
        theta = torch.eye(2, 3, device=w.device, dtype=w.dtype)
        theta[0, 0] = 0.5 * self.size[0] / self.sampling_rate
        theta[1, 1] = 0.5 * self.size[1] / self.sampling_rate
        grids = F.affine_grid(theta[None], [1, 1, self.size[1], self.size[0]], align_corners=False)
        x = (grids.unsqueeze(3) @ freqs.permute(0, 2, 1).unsqueeze(1).unsqueeze(2)).squeeze(3)
        x = torch.sin((x + phases[:, None, None]) * (2 * math.pi)) * amplitudes[:, None, None]
        x = x @ (self.weight / math.sqrt(self.weight.shape[0])).T
        return x.permute(0, 3, 1, 2)


class SG3Layer(nn.Module):
    """Modulated conv (input gain 1/sqrt(magnitude_ema)), then filtered leaky ReLU: bias, up by ``up`` with
    ``up_filter``, leaky ReLU * sqrt(2) (linear for to-RGB), clamp, low-pass ``down_filter`` and keep every
    ``down``-th sample."""

    def __init__(self, w_dim: int, in_channels: int, out_channels: int, kernel: int, is_torgb: bool, up: int,
                 down: int, padding: list[int], up_filter: torch.Tensor | None, down_filter: torch.Tensor | None,
                 conv_clamp: float | None):
        super().__init__()
        self.is_torgb, self.up, self.down, self.padding = is_torgb, int(up), int(down), [int(p) for p in padding]
        self.kernel, self.conv_clamp = int(kernel), conv_clamp
        self.affine = EqualLinear(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.register_buffer("magnitude_ema", torch.ones([]))
        self.up_filter = nn.Buffer(up_filter) if up_filter is not None else None
        self.down_filter = nn.Buffer(down_filter) if down_filter is not None else None

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w)
        weight = self.weight
        if self.is_torgb:
            styles = styles / math.sqrt(weight.shape[1] * self.kernel ** 2)
        else:
            weight = weight * weight.square().mean([1, 2, 3], keepdim=True).rsqrt()
            styles = styles * styles.square().mean(1, keepdim=True).rsqrt()
        wn = weight[None] * styles[:, None, :, None, None]
        if not self.is_torgb:
            wn = wn * (wn.square().sum([2, 3, 4], keepdim=True) + 1e-8).rsqrt()
        wn = wn * self.magnitude_ema.rsqrt()
        n, c = x.shape[:2]
        x = F.conv2d(x.reshape(1, n * c, *x.shape[2:]), wn.reshape(-1, c, self.kernel, self.kernel),
                     padding=self.kernel - 1, groups=n)
        x = x.reshape(n, -1, *x.shape[2:]) + self.bias.view(1, -1, 1, 1)
        x = upfirdn2d(x, self.up_filter, up=self.up, padding=tuple(self.padding), gain=self.up ** 2)
        if not self.is_torgb:
            x = F.leaky_relu(x, 0.2) * SQRT2
        if self.conv_clamp is not None:
            x = x.clamp(-self.conv_clamp, self.conv_clamp)
        return upfirdn2d(x, self.down_filter, down=self.down)


class StyleGAN3Generator(nn.Module):
    """StyleGAN3 (-T or -R, whichever filters and kernels the file holds), taking z or w latents, one per layer
    (W+: ``num_layers`` = the input's w, then one per synthesis layer including to-RGB) or one for all. Built from
    an official ``.pkl`` only (its layers' sampling settings are not in the state dict)."""

    def __init__(self, latent_dim: int, n_mlp: int, lr_mlp: float, synthesis_input: SG3Input,
                 layers: list[SG3Layer], output_scale: float, resolution: int, img_channels: int):
        super().__init__()
        self.latent_dim, self.n_mlp, self.resolution, self.img_channels = latent_dim, n_mlp, resolution, img_channels
        self.mapping = nn.ModuleList(EqualLinear(latent_dim, latent_dim, lr_mul=lr_mlp, activate=True)
                                     for _ in range(n_mlp))
        self.input, self.layers, self.output_scale = synthesis_input, nn.ModuleList(layers), float(output_scale)
        self.num_layers = 1 + len(layers)
        self.register_buffer("w_avg", torch.zeros(latent_dim))
        self.space, self.truncation = "w", 1.0

    space = StyleGAN2Generator.space
    truncation = StyleGAN2Generator.truncation
    pca_layer = StyleGAN2Generator.pca_layer
    map = StyleGAN2Generator.map
    truncate = StyleGAN2Generator.truncate
    latents_from_noise = StyleGAN2Generator.latents_from_noise
    estimate_w_avg = StyleGAN2Generator.estimate_w_avg
    per_layer = StyleGAN2Generator.per_layer

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        ws = self.per_layer(latents)
        x = self.input(ws[:, 0])
        for i, layer in enumerate(self.layers, start=1):
            x = layer(x, ws[:, i])
        return x * self.output_scale

    def sefa_weight(self, layers: str = "all") -> torch.Tensor:
        """Affine weights of the chosen w indices: index 0 the input's (rotation, translation), index i the
        modulation of synthesis layer i - 1 (the last: to-RGB)."""
        if self.space == "z":
            raise ValueError("SeFa directions for StyleGAN live in W: load the generator with space='w'")
        mods = [self.input.affine, *(layer.affine for layer in self.layers)]
        return torch.cat([mods[i].weight.detach() for i in parse_layers(layers, self.num_layers)])


def _state_value(obj: Any, name: str) -> Any:
    value = obj.state.get(name) if obj is not None else None
    if value is None:
        raise ValueError(f"the StyleGAN3 .pkl's {obj.class_name if obj is not None else 'module'} lacks {name!r}")
    return value


def _stylegan3(found: dict, conv_clamp: Any) -> tuple[StyleGAN3Generator, dict]:
    """StyleGAN3 from the official .pkl's records: tensors, and the layers' settings (sizes, up/down factors,
    padding, filters) that only the pickle holds."""
    g, s = found.get("object"), found["state"]
    if g is None:
        raise ValueError("this is a StyleGAN3 state dict (synthesis.input / L*_ layers): its layers' sampling "
                         "settings (up/down factors, padding, output scale) are only in the official .pkl; load "
                         "the .pkl (read as data, no code runs)")
    if g.class_name != "Generator":
        raise ValueError(f"G_ema is a {g.class_name!r}, not the StyleGAN3 Generator")
    if g.state.get("c_dim", 0) or "mapping.embed.weight" in s:
        raise ValueError("this is a conditional (class-label, c_dim > 0) StyleGAN3 generator: class-conditional "
                         "generators are not supported yet; wrap a module that fixes the class yourself, "
                         "gx.Generator(module, latent_dim=d)")
    mapping, synthesis = g.children.get("mapping"), g.children.get("synthesis")
    n_mlp = _count(s, "mapping.fc{}.weight")
    d = int(s["mapping.fc0.weight"].shape[1])
    if any(tuple(s[f"mapping.fc{i}.weight"].shape) != (d, d) for i in range(n_mlp)):
        raise ValueError("z_dim, w_dim and the mapping's width differ: not supported yet")
    fc0 = mapping.children.get("fc0") if mapping is not None else None
    lr_mlp = float(fc0.state.get("bias_gain", 0.01)) if fc0 is not None else 0.01
    inp = synthesis.children.get("input") if synthesis is not None else None
    size = [int(v) for v in np.asarray(_state_value(inp, "size")).reshape(-1)]
    synthesis_input = SG3Input(d, int(s["synthesis.input.weight"].shape[0]), (size[0], size[-1]),
                               float(_state_value(inp, "sampling_rate")), float(_state_value(inp, "bandwidth")))
    names = [str(n) for n in _state_value(synthesis, "layer_names")]
    layers = []
    for name in names:
        rec = synthesis.children.get(name)
        if rec is None:
            raise ValueError(f"the StyleGAN3 .pkl names layer {name!r} but does not hold it")
        weight = s[f"synthesis.{name}.weight"]
        clamp = rec.state.get("conv_clamp") if conv_clamp == "checkpoint" else conv_clamp
        filters = {k: s.get(f"synthesis.{name}.{k}") for k in ("up_filter", "down_filter")}
        layers.append(SG3Layer(d, int(weight.shape[1]), int(weight.shape[0]), int(weight.shape[-1]),
                               bool(_state_value(rec, "is_torgb")), int(_state_value(rec, "up_factor")),
                               int(_state_value(rec, "down_factor")),
                               [int(p) for p in np.asarray(_state_value(rec, "padding")).reshape(-1)],
                               filters["up_filter"], filters["down_filter"],
                               None if clamp is None else float(clamp)))
    model = StyleGAN3Generator(d, n_mlp, lr_mlp, synthesis_input, layers,
                               float(synthesis.state.get("output_scale", 1.0)),
                               int(g.state.get("img_resolution", size[0])), int(layers[-1].weight.shape[0]))
    fill = _Filler(model, s, "the StyleGAN3 G_ema")
    for i in range(n_mlp):
        fill.take(f"mapping.{i}.weight", f"mapping.fc{i}.weight")
        fill.take(f"mapping.{i}.bias", f"mapping.fc{i}.bias")
    for name in ("weight", "affine.weight", "affine.bias", "transform", "freqs", "phases"):
        fill.take(f"input.{name}", f"synthesis.input.{name}")
    for i, name in enumerate(names):
        for key in ("weight", "bias", "affine.weight", "affine.bias", "magnitude_ema"):
            fill.take(f"layers.{i}.{key}", f"synthesis.{name}.{key}")
        for key in ("up_filter", "down_filter"):
            if f"synthesis.{name}.{key}" in s:
                fill.take(f"layers.{i}.{key}", f"synthesis.{name}.{key}")
    if "mapping.w_avg" in s:
        fill.take("w_avg", "mapping.w_avg")
        w_avg = "the checkpoint's mapping.w_avg"
    else:
        model.estimate_w_avg()
        w_avg = f"mean of the mapping over {W_AVG_SAMPLES} z (seed 0)"
    fill.finish()
    kind = "-R (1x1 convs, radial filters)" if any(layer.kernel == 1 for layer in layers[:-1]) else "-T"
    return model, {"format": f"stylegan3 .pkl ({kind})", "w_avg": w_avg,
                   "conv_clamp": layers[0].conv_clamp, "architecture": f"StyleGAN3{kind.split(' ')[0]}"}
