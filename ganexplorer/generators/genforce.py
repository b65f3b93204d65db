"""StyleGAN (v1, Karras et al. 2019) in genforce's layout: the StyleGAN generators of SeFa's model zoo
(``stylegan_ffhq1024.pth``, ``stylegan_car512.pth``, ...: {'generator', 'discriminator', 'generator_smooth'}, or
inside a genforce training checkpoint), read as data into our own compact module.

The maths, per genforce's StyleGANGenerator (converted from the official TensorFlow networks):

- mapping: pixel norm of z, then dense layers ``x -> leaky_relu(W x * sqrt(2) lr / sqrt(in) + b lr, 0.2)`` with
  the learning-rate multiplier lr = 0.01 (weights are stored divided by it);
- synthesis, two layers per resolution, layer i reading w[i]: (up-sampling: nearest x2 then conv, or with
  ``fused_scale`` one stride-2 transposed conv of the 3x3 kernel summed over its four one-pixel shifts; then the
  normalised [1, 2, 1] blur) conv * sqrt(2) / sqrt(fan_in); layer 0 starts from a learned constant instead; then
  per-pixel noise times a per-channel weight, bias, leaky ReLU 0.2, instance norm, and the style (AdaIN):
  ``x * (1 + s_scale) + s_shift`` with ``s = W_style w / sqrt(w_dim) + b`` (2C values);
- image: the last resolution's 1x1 to-RGB (gain 1), not clamped (a fully grown network, lod 0).

genforce's ``fused_scale`` default is "auto" (fused for resolutions >= 128, as the official networks); the
weights have the same shape either way, so the file cannot say: "auto" is assumed unless the option says
otherwise. SeFa on this model factorises each chosen layer's style weight (both the scale and the shift rows), as
genforce's ``factorize_weight`` does.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..layers import parse_layers
from .stylegan2 import StyleGAN2Generator

SQRT2 = math.sqrt(2.0)
NOISE_MODES = ("const", "random", "none")
AUTO_FUSED_MIN_RES = 128
FORMAT = "genforce / SeFa StyleGAN (v1) generator (mapping.dense*, synthesis.layer*, AdaIN styles)"
ASSUMED = ("genforce files do not store these settings; the defaults of genforce's StyleGANGenerator are assumed: "
           "mapping_lr_mul=0.01, final_tanh=False, use_wscale=True")


def _blur_kernel() -> torch.Tensor:
    k = torch.tensor([1.0, 2.0, 1.0])
    k = torch.outer(k, k)
    return k / k.sum()


class Dense(nn.Module):
    """Equalised-learning-rate dense layer of the v1 mapping (gain sqrt(2) in the weight scale, leaky ReLU)."""

    def __init__(self, in_features: int, out_features: int, lr_mul: float = 0.01):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.zeros(out_features))
        self.weight_gain, self.lr_mul = SQRT2 * lr_mul / math.sqrt(in_features), lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(F.linear(x, self.weight * self.weight_gain, self.bias * self.lr_mul), 0.2)


class StyleLayer(nn.Module):
    """(const | [up] conv [blur]) -> noise * per-channel weight -> bias -> leaky ReLU -> instance norm -> AdaIN."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, up: bool = False,
                 fused: bool = False, const: bool = False):
        super().__init__()
        self.up, self.fused, self.is_const = up, fused, const
        if const:
            self.const = nn.Parameter(torch.ones(1, out_channels, resolution, resolution))
        else:
            self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 3, 3))
            self.weight_gain = SQRT2 / math.sqrt(in_channels * 9)
        if up:
            self.register_buffer("blur", _blur_kernel().expand(out_channels, 1, 3, 3).clone(), persistent=False)
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.register_buffer("noise_const", torch.randn(1, 1, resolution, resolution))
        self.noise_weight = nn.Parameter(torch.zeros(out_channels))
        self.style = nn.Linear(w_dim, 2 * out_channels)
        nn.init.normal_(self.style.weight)
        nn.init.zeros_(self.style.bias)
        self.style_gain = 1 / math.sqrt(w_dim)
        self.noise_mode = "const"

    def forward(self, x: torch.Tensor | None, w: torch.Tensor) -> torch.Tensor:
        if self.is_const:
            x = self.const.expand(len(w), -1, -1, -1)
        else:
            weight = self.weight * self.weight_gain
            if self.fused:  # transposed conv, stride 2, of the 3x3 kernel summed over its four one-pixel shifts
                k = F.pad(weight, (1, 1, 1, 1))
                k = k[..., 1:, 1:] + k[..., :-1, 1:] + k[..., 1:, :-1] + k[..., :-1, :-1]
                x = F.conv_transpose2d(x, k.transpose(0, 1), stride=2, padding=1)
            else:
                if self.up:
                    x = F.interpolate(x, scale_factor=2, mode="nearest")
                x = F.conv2d(x, weight, padding=1)
            if self.up:
                x = F.conv2d(x, self.blur.to(x.dtype), padding=1, groups=x.shape[1])
        res = x.shape[-1]
        if self.noise_mode == "random":
            noise = torch.randn(len(x), 1, res, res, device=x.device, dtype=x.dtype)
        elif self.noise_mode == "const":
            noise = self.noise_const
        else:
            noise = None
        if noise is not None:
            x = x + noise * self.noise_weight.view(1, -1, 1, 1)
        x = F.leaky_relu(x + self.bias.view(1, -1, 1, 1), 0.2)
        x = x - x.mean(dim=(2, 3), keepdim=True)
        x = x * torch.rsqrt(x.square().mean(dim=(2, 3), keepdim=True) + 1e-8)
        style = F.linear(w, self.style.weight * self.style_gain, self.style.bias)
        scale, shift = style.view(len(w), 2, -1, 1, 1).unbind(1)
        return x * (scale + 1) + shift


class StyleGANGenerator(nn.Module):
    """StyleGAN v1 taking z or w latents, one per layer (W+, ``num_layers`` = 2 per resolution) or one for all.

    ``fused_scale``: "auto" (fused for resolutions >= 128, genforce's and the official default), True or False.
    ``noise_mode``: "const" (the stored noise), "random" (fresh per call) or "none". ``truncation``: psi, applied
    when sampling and to z; a w you supply is rendered as given (``truncate(w, psi)`` applies it).
    """

    def __init__(self, resolution: int = 1024, latent_dim: int = 512, n_mlp: int = 8,
                 channels: list[int] | None = None, img_channels: int = 3, lr_mlp: float = 0.01,
                 fused_scale: bool | str = "auto", space: str = "w", truncation: float = 1.0,
                 noise_mode: str = "const"):
        super().__init__()
        if resolution < 8 or resolution & (resolution - 1):
            raise ValueError(f"resolution must be a power of two >= 8, got {resolution}")
        resolutions = [2 ** i for i in range(2, int(math.log2(resolution)) + 1)]
        channels = [min(512, 16384 // r) for r in resolutions] if channels is None else [int(c) for c in channels]
        if len(channels) != len(resolutions):
            raise ValueError(f"channels needs one entry per resolution ({resolutions}), got {channels}")
        if fused_scale not in (True, False, "auto"):
            raise ValueError(f"fused_scale must be True, False or 'auto', got {fused_scale!r}")
        self.resolution, self.latent_dim, self.n_mlp, self.img_channels = resolution, latent_dim, n_mlp, img_channels
        self.channels, self.fused_scale = channels, fused_scale
        self.num_layers = 2 * len(resolutions)
        self.mapping = nn.ModuleList(Dense(latent_dim, latent_dim, lr_mlp) for _ in range(n_mlp))
        layers = []
        for b, (res, c) in enumerate(zip(resolutions, channels)):
            if b == 0:
                layers.append(StyleLayer(c, c, latent_dim, res, const=True))
            else:
                fused = res >= AUTO_FUSED_MIN_RES if fused_scale == "auto" else bool(fused_scale)
                layers.append(StyleLayer(channels[b - 1], c, latent_dim, res, up=True, fused=fused))
            layers.append(StyleLayer(c, c, latent_dim, res))
        self.layers = nn.ModuleList(layers)
        self.torgb = nn.Conv2d(channels[-1], img_channels, 1)
        self.torgb_gain = 1 / math.sqrt(channels[-1])
        # the to-RGBs of the lower resolutions (progressive growing keeps one per resolution): previews
        self.lod_torgbs = nn.ModuleList(nn.Conv2d(c, img_channels, 1) for c in channels[:-1])
        self.register_buffer("w_avg", torch.zeros(latent_dim))
        self.space, self.truncation, self.noise_mode = space, truncation, noise_mode

    def noisy_layers(self) -> list[nn.Module]:
        return list(self.layers)

    # the latent spaces, truncation, noise mode and mapping are StyleGAN2's (same maths, same attribute names)
    space = StyleGAN2Generator.space
    noise_mode = StyleGAN2Generator.noise_mode
    truncation = StyleGAN2Generator.truncation
    pca_layer = StyleGAN2Generator.pca_layer
    map = StyleGAN2Generator.map
    truncate = StyleGAN2Generator.truncate
    latents_from_noise = StyleGAN2Generator.latents_from_noise
    estimate_w_avg = StyleGAN2Generator.estimate_w_avg
    per_layer = StyleGAN2Generator.per_layer

    @property
    def preview_resolutions(self) -> list[int]:
        """Sizes below the full one: progressive growing left a to-RGB at every resolution, and genforce's own
        ``lod`` input renders the network stopped there (what it showed while growing). Unlike StyleGAN2's skip
        sum this is not the full image's coarse part: a lower to-RGB was last trained when its resolution was the
        top one, so its colours can drift from the final image's."""
        return [2 ** i for i in range(2, int(math.log2(self.resolution)))]

    def forward(self, latents: torch.Tensor, resolution: int | None = None) -> torch.Tensor:
        """Images (N, C, R, R); with ``resolution`` (one of ``preview_resolutions``) synthesis stops after that
        resolution's two layers and its own to-RGB makes the image (genforce's integer ``lod``)."""
        ws = self.per_layer(latents)
        if resolution is not None and resolution not in self.preview_resolutions:
            raise ValueError(f"cannot stop at {resolution}: previews are at {self.preview_resolutions}")
        blocks = len(self.layers) // 2 if resolution is None else int(math.log2(resolution)) - 1
        x = None
        for i, layer in enumerate(self.layers[:2 * blocks]):
            x = layer(x, ws[:, i])
        rgb = self.torgb if blocks == len(self.layers) // 2 else self.lod_torgbs[blocks - 1]
        return F.conv2d(x, rgb.weight * (1 / math.sqrt(rgb.weight.shape[1])), rgb.bias)

    def sefa_weight(self, layers: str = "all") -> torch.Tensor:
        """The chosen layers' style weights (2C rows each: scale and shift), as genforce's factorize_weight."""
        if self.space == "z":
            raise ValueError("SeFa directions for StyleGAN live in W: load the generator with space='w'")
        return torch.cat([self.layers[i].style.weight.detach() for i in parse_layers(layers, self.num_layers)])



def build_stylegan(s: dict, fused_scale: bool | str = "auto") -> tuple[StyleGANGenerator, dict[str, Any]]:
    """Our ``StyleGANGenerator`` with a genforce StyleGAN state dict's weights, strictly (missing, unexpected or
    mis-shaped keys are a ValueError naming them)."""
    where = "the genforce StyleGAN generator"
    if "mapping.label_weight" in s:
        raise ValueError("this is a conditional genforce StyleGAN generator (mapping.label_weight: label_size > 0): "
                         "class-conditional generators are not supported yet")
    if "synthesis.layer0.const" not in s:
        raise ValueError("this genforce StyleGAN generator has no constant input (synthesis.layer0.const; "
                         "const_input=False): not supported yet")
    n_mlp = 0
    while f"mapping.dense{n_mlp}.weight" in s:
        n_mlp += 1
    dims = [tuple(s[f"mapping.dense{i}.weight"].shape) for i in range(n_mlp)]
    d = dims[0][1]
    if any(shape != (d, d) for shape in dims):
        raise ValueError(f"{where} has mapping layer shapes {dims} (repeat_w=False or z_dim != w_dim); only "
                         "z_dim = w_dim = mapping_fmaps with one shared w (genforce's defaults) is supported")
    n_blocks = 0
    while f"synthesis.output{n_blocks}.weight" in s:
        n_blocks += 1
    if n_blocks < 2:
        raise ValueError(f"{where} has {n_blocks} to-RGB layers (synthesis.outputN): expected one per resolution")
    channels = [int(s[f"synthesis.output{b}.weight"].shape[1]) for b in range(n_blocks)]
    lod = s.get("synthesis.lod")
    if isinstance(lod, torch.Tensor) and float(lod) != 0:
        raise ValueError(f"'synthesis.lod' is {float(lod)}: a snapshot taken mid-growth, only fully grown networks "
                         "(lod 0) are supported")
    model = StyleGANGenerator(resolution=4 * 2 ** (n_blocks - 1), latent_dim=d, n_mlp=n_mlp, channels=channels,
                              img_channels=int(s["synthesis.output0.weight"].shape[0]), fused_scale=fused_scale)
    ours, used, problems = model.state_dict(), {"synthesis.lod"}, []

    def take(dst: str, key: str) -> None:
        target, value = ours[dst], s.get(key)
        used.add(key)
        if not isinstance(value, torch.Tensor):
            problems.append(f"missing key {key!r} (expected shape {tuple(target.shape)})")
        elif value.numel() != target.numel() or value.squeeze().shape != target.squeeze().shape:
            problems.append(f"{key!r} has shape {tuple(value.shape)}, expected {tuple(target.shape)}")
        else:
            with torch.no_grad():
                target.copy_(value.reshape(target.shape).to(target.dtype))

    for i in range(n_mlp):
        take(f"mapping.{i}.weight", f"mapping.dense{i}.weight")
        take(f"mapping.{i}.bias", f"mapping.dense{i}.bias")
    for i, layer in enumerate(model.layers):
        src = f"synthesis.layer{i}"
        take(f"layers.{i}.const" if layer.is_const else f"layers.{i}.weight",
             f"{src}.const" if layer.is_const else f"{src}.weight")
        take(f"layers.{i}.bias", f"{src}.bias")
        take(f"layers.{i}.noise_const", f"{src}.apply_noise.noise")
        take(f"layers.{i}.noise_weight", f"{src}.apply_noise.weight")
        take(f"layers.{i}.style.weight", f"{src}.style.weight")
        take(f"layers.{i}.style.bias", f"{src}.style.bias")
        if layer.up:  # the [1, 2, 1] blur, stored per channel
            blur = s.get(f"{src}.blur.kernel")
            used.add(f"{src}.blur.kernel")
            if not isinstance(blur, torch.Tensor) or blur.shape[-2:] != (3, 3) or not torch.allclose(
                    blur.float().reshape(-1, 3, 3), _blur_kernel().expand(blur.reshape(-1, 3, 3).shape[0], 3, 3),
                    atol=1e-6):
                problems.append(f"{src}.blur.kernel is not the normalised [1, 2, 1] blur this implementation uses")
    last = n_blocks - 1
    take("torgb.weight", f"synthesis.output{last}.weight")
    take("torgb.bias", f"synthesis.output{last}.bias")
    for b in range(last):  # the progressive to-RGBs of the lower resolutions: previews
        take(f"lod_torgbs.{b}.weight", f"synthesis.output{b}.weight")
        take(f"lod_torgbs.{b}.bias", f"synthesis.output{b}.bias")
    if "truncation.w_avg" in s:
        take("w_avg", "truncation.w_avg")
        w_avg = "the checkpoint's truncation.w_avg"
    else:
        model.estimate_w_avg()
        w_avg = "mean of the mapping over 4096 z (seed 0)"
    unexpected = [str(k) for k in s if k not in used]
    if unexpected:
        problems.append(f"unexpected keys ({len(unexpected)}): {', '.join(unexpected[:6])}"
                        f"{' ...' if len(unexpected) > 6 else ''}")
    if problems:
        raise ValueError(f"{where} does not match a {model.resolution}x{model.resolution} StyleGAN: "
                         + "; ".join(problems[:8]))
    fused = {i: layer.fused for i, layer in enumerate(model.layers) if layer.up}
    return model, {"format": FORMAT, "architecture": "StyleGAN v1", "w_avg": w_avg, "assumed": ASSUMED,
                   "fused_scale": fused_scale, "fused_layers": [i for i, f in fused.items() if f]}
