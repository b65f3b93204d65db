"""ProGAN / PGGAN (Karras et al., 2018): the progressive generator as ported to PyTorch, from a .pt/.pth file.

Every layer is pixel-norm -> (nearest x2 up-sampling) -> conv without bias, its weight scaled at run time by
gain / sqrt(fan_in) (the "equalised learning rate" WScale) -> bias -> leaky ReLU 0.2. The first layer is a 4x4
conv with padding 3 on the 1x1 latent (the dense layer of the TF original); the last is a 1x1 "to RGB" conv with
gain 1 and no activation, so images are NOT clamped (as in all three ports). Three file layouts hold the same
network, and we read all three into one module whose own state dict is the first:

- netdissect / GANSpace (``layer1.conv.weight``, ``layer1.wscale.b``, ..., ``output_1024x1024.conv.weight``),
  scales fixed: sqrt(2) / (k sqrt(in)) for a k x k conv, 1 / sqrt(in) for the output;
- the latent-discovery paper's file (ptrblck's port, ``100_celeb_hq_network-snapshot-010403.pth``:
  ``features.0.conv.weight``, ``features.0.wscale.scale``, ``features.0.wscale.b``, ..., ``output.conv.weight``),
  scales stored in the file;
- genforce (SeFa's ``pggan_celebahq1024.pth``: {'generator': ..., 'generator_smooth': ...} with ``layer0.weight``,
  ``layer0.bias``, ..., ``output0.weight`` ... ``output8.weight`` (one to-RGB per resolution), ``lod``); the
  non-fused variant (nearest x2 then conv, weight (out, in, 3, 3)) and the ``fused_scale=True`` variant, whose
  up-sampling layers are one transposed conv, stride 2, with weight (in, out, 3, 3) summed over its four 1-pixel
  shifts into a 4x4 kernel. The file does not record which: the weight shapes tell wherever an up-sampling layer
  changes the channel count; where none does, the ``fused_scale`` option must say it (refused otherwise). Only the
  last to-RGB is used (lod 0: a fully grown network). Also inside a genforce training checkpoint
  ({'models': {...}, 'running_metadata', ...}, unwrapped in ``checkpoints.py``).
"""

from __future__ import annotations

import math
import re
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..layers import parse_layers

WRAPPERS = ("generator_smooth", "generator", "state_dict", "model")  # genforce keeps Gs as generator_smooth
LAYOUTS = {
    "netdissect": "netdissect / GANSpace ProGAN state dict (layer1 ... output_RxR)",
    "ptrblck": "ProGAN state dict of the latent-discovery paper (ptrblck's port: features.N ... output)",
    "genforce": "genforce / SeFa PGGAN state dict (layer0 ... outputN)",
}


def default_channels(resolution: int) -> list[int]:
    """Feature depths at 4x4, 8x8, ..., resolution of the official networks: min(512, 16384 / r)."""
    steps = math.log2(resolution)
    if resolution < 8 or steps != int(steps):
        raise ValueError(f"ProGAN resolution must be a power of two >= 8, got {resolution}")
    return [min(512, 16384 // 2**s) for s in range(2, int(steps) + 1)]


def pixel_norm(x: torch.Tensor) -> torch.Tensor:
    """Each pixel's feature vector scaled to unit root-mean-square (ProGAN's PixelNorm)."""
    return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


class WScale(nn.Module):
    """The run-time weight scale (a float, fixed or read from the file) and the layer's bias ``b``."""

    def __init__(self, channels: int, scale: float):
        super().__init__()
        self.scale = float(scale)
        self.b = nn.Parameter(torch.zeros(channels))

    def extra_repr(self) -> str:
        return f"scale={self.scale:.6g}"


def fused_kernel(weight: torch.Tensor) -> torch.Tensor:
    """(in, out, 3, 3) -> (in, out, 4, 4): the 3x3 kernel summed over its four one-pixel shifts, so that a
    stride-2 transposed conv with it equals nearest x2 up-sampling followed by the 3x3 conv (TF ProGAN's
    ``upscale2d_conv2d``, genforce's ``fused_scale``)."""
    k = F.pad(weight, (1, 1, 1, 1))
    return k[..., 1:, 1:] + k[..., :-1, 1:] + k[..., 1:, :-1] + k[..., :-1, :-1]


class Layer(nn.Module):
    """pixel-norm -> (up x2) -> conv(weight * scale) + b -> leaky ReLU 0.2 (none on the output layer).

    ``fused``: the up-sampling layer is a stride-2 transposed conv (weight (in, out, 3, 3), see ``fused_kernel``).
    """

    def __init__(self, cin: int, cout: int, kernel: int, padding: int, up: bool = False, gain: float = 2**0.5,
                 activate: bool = True, fused: bool = False):
        super().__init__()
        if fused and not (up and kernel == 3):
            raise ValueError("only a 3x3 up-sampling layer can be fused")
        self.up, self.padding, self.activate, self.fused = up, padding, activate, fused
        self.conv = nn.ConvTranspose2d(cin, cout, 3, bias=False) if fused else \
            nn.Conv2d(cin, cout, kernel, padding=padding, bias=False)
        nn.init.normal_(self.conv.weight)  # equalised learning rate: N(0, 1) weights, scaled at run time
        self.wscale = WScale(cout, gain / math.sqrt(cin * kernel * kernel))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = pixel_norm(x)
        if self.fused:
            x = F.conv_transpose2d(x, fused_kernel(self.conv.weight * self.wscale.scale), self.wscale.b, stride=2,
                                   padding=1)
            return F.leaky_relu(x, 0.2)
        if self.up:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        # (conv(x) * s + b) folded into one conv: no extra pass over the large feature maps
        x = F.conv2d(x, self.conv.weight * self.wscale.scale, self.wscale.b, padding=self.padding)
        return F.leaky_relu(x, 0.2) if self.activate else x


class ProGANGenerator(nn.Module):
    """z (N, latent_dim) -> images (N, image_channels, R, R), roughly in [-1, 1] (not clamped).

    ``channels`` are the feature depths at 4x4, 8x8, ..., R x R (default: the official ones for ``resolution``).
    ``fused_scale``: up-sampling layers are stride-2 transposed convs (TF ProGAN / genforce option).
    Built without a checkpoint it has random weights (for benchmarks and tests).
    """

    pca_layer = "layer1"  # GANSpace-style PCA on the first layer's 4x4 activations

    def __init__(self, resolution: int | None = 1024, latent_dim: int = 512, channels: list[int] | None = None,
                 image_channels: int = 3, fused_scale: bool = False):
        super().__init__()
        channels = list(channels) if channels is not None else default_channels(int(resolution or 1024))
        if len(channels) < 2:
            raise ValueError(f"ProGAN needs feature depths for at least 4x4 and 8x8, got {channels}")
        self.latent_dim, self.channels, self.image_channels = int(latent_dim), [int(c) for c in channels], \
            int(image_channels)
        self.fused_scale = bool(fused_scale)
        self.resolution = 4 * 2 ** (len(channels) - 1)
        if resolution is not None and resolution != self.resolution:
            raise ValueError(f"{len(channels)} feature depths make a {self.resolution}x{self.resolution} "
                             f"generator, not {resolution}")
        layers = [Layer(latent_dim, channels[0], 4, 3, gain=2**0.5), Layer(channels[0], channels[0], 3, 1)]
        for cin, cout in zip(channels, channels[1:]):
            layers += [Layer(cin, cout, 3, 1, up=True, fused=self.fused_scale), Layer(cout, cout, 3, 1)]
        for i, layer in enumerate(layers):
            self.add_module(f"layer{i + 1}", layer)
        self.num_convs = len(layers)
        self.output_name = f"output_{self.resolution}x{self.resolution}"
        out = Layer(channels[-1], image_channels, 1, 0, gain=1.0, activate=False)
        with torch.no_grad():
            out.conv.weight.mul_(0.5)  # random weights: keep most pixels of the unclamped output in [-1, 1]
        self.add_module(self.output_name, out)

    def extra_repr(self) -> str:
        return (f"resolution={self.resolution}, latent_dim={self.latent_dim}, channels={self.channels}"
                + (", fused_scale=True" if self.fused_scale else ""))

    def convs(self) -> list[Layer]:
        """The conv layers in order, the to-RGB layer last."""
        return [getattr(self, f"layer{i + 1}") for i in range(self.num_convs)] + [getattr(self, self.output_name)]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = z.reshape(z.shape[0], self.latent_dim, 1, 1)
        for layer in self.convs():
            x = layer(x)
        return x

    def sefa_weight(self, layers: str = "all") -> torch.Tensor:
        """(C * 16, latent_dim): the first layer's linear map from the pixel-normed z to its 4x4 output, one row
        per (channel, position) unit, as the SeFa reference reshapes PGGAN's layer0 weight (conv on a 1x1 input
        with padding 3: output[c, i, j] = sum_d w[c, d, 3 - i, 3 - j] z_d)."""
        try:
            parse_layers(layers, 1)
        except ValueError:
            raise ValueError(f"ProGAN has one latent input layer (layer 0, the 4x4 conv from z): use layers='all' "
                             f"or '0', got {layers!r}") from None
        first = self.layer1
        w = first.conv.weight.detach() * first.wscale.scale
        return w.flip(2, 3).permute(0, 2, 3, 1).reshape(-1, self.latent_dim)


# ---------------------------------------------------------------------------------------------- reading files

def _unwrap(content: Any) -> Any:
    if isinstance(content, dict):
        for key in WRAPPERS:
            if isinstance(content.get(key), dict):
                return content[key]
    return content


def _layout(sd: dict) -> str | None:
    def is4d(key: str) -> bool:
        return isinstance(sd.get(key), torch.Tensor) and sd[key].ndim == 4

    if is4d("layer1.conv.weight") and "layer1.wscale.b" in sd and any(
            isinstance(k, str) and k.startswith("output_") and k.endswith(".conv.weight") for k in sd):
        return "netdissect"
    if is4d("features.0.conv.weight") and "features.0.wscale.b" in sd and "output.conv.weight" in sd:
        return "ptrblck"
    if is4d("layer0.weight") and sd["layer0.weight"].shape[-1] == 4 and "layer0.bias" in sd and "output0.weight" in sd:
        return "genforce"
    return None


def recognise(content: Any) -> dict[str, Any] | None:
    """{'layout', 'state_dict'} for a ProGAN state dict (bare or under 'generator_smooth' / 'generator' /
    'state_dict' / 'model'), else None."""
    try:
        sd = _unwrap(content)
        if not isinstance(sd, dict):
            return None
        layout = _layout(sd)
        disc = content.get("discriminator") if isinstance(content, dict) and content is not sd else None
        return {"layout": layout, "state_dict": sd, "discriminator": disc} if layout else None
    except Exception:  # recognise never raises: an odd file is simply not ours
        return None


def _file_names(layout: str, n: int, resolution: int) -> tuple[list[tuple[str, str]], str]:
    """Per conv layer i (0-based, the output last) the file's (weight key, bias key), and the scale key pattern."""
    if layout == "netdissect":
        names = [(f"layer{i + 1}.conv.weight", f"layer{i + 1}.wscale.b") for i in range(n)]
        out = f"output_{resolution}x{resolution}"
        return names + [(f"{out}.conv.weight", f"{out}.wscale.b")], ""
    if layout == "ptrblck":
        names = [(f"features.{i}.conv.weight", f"features.{i}.wscale.b") for i in range(n)]
        return names + [("output.conv.weight", "output.wscale.b")], ".wscale.scale"
    names = [(f"layer{i}.weight", f"layer{i}.bias") for i in range(n)]
    return names + [(f"output{n // 2 - 1}.weight", f"output{n // 2 - 1}.bias")], ""


FUSED_HOW = ("fused_scale=False (nearest x2 up-sampling then a 3x3 conv, genforce's default) or fused_scale=True "
             "(one stride-2 transposed conv), as in the genforce config the model was trained with")


def _fused_scale(sd: dict, channels: list[int], option: bool | None) -> bool:
    """genforce's ``fused_scale`` from the up-sampling layers' weight shapes: (out, in, 3, 3) plain, (in, out, 3, 3)
    fused; readable only where in != out. ``option`` (the user's word) decides where no layer tells."""
    votes = {}
    for b in range(1, len(channels)):
        cin, cout, w = channels[b - 1], channels[b], sd.get(f"layer{2 * b}.weight")
        if cin != cout and isinstance(w, torch.Tensor) and w.ndim == 4:
            if tuple(w.shape[:2]) == (cout, cin):
                votes[f"layer{2 * b}"] = False
            elif tuple(w.shape[:2]) == (cin, cout):
                votes[f"layer{2 * b}"] = True
    found = set(votes.values())
    if len(found) > 1:
        said = ", ".join(f"{k}: fused_scale={v}" for k, v in votes.items())
        raise ValueError(f"the genforce PGGAN file mixes up-sampling layouts ({said}): "
                         "genforce uses one fused_scale for every layer, so this file is damaged or not genforce's")
    if found:
        detected = found.pop()
        if option is not None and bool(option) != detected:
            layer = next(iter(votes))
            raise ValueError(f"fused_scale={bool(option)} was asked, but {layer}.weight has shape "
                             f"{tuple(sd[layer + '.weight'].shape)}: the fused_scale={detected} layout "
                             f"({'(in, out, 3, 3), a transposed conv' if detected else '(out, in, 3, 3), a conv'}); "
                             "leave fused_scale out to use what the shapes say")
        return detected
    if option is None:
        raise ValueError("genforce PGGAN files do not record fused_scale, and in this one no up-sampling layer "
                         "changes the channel count, so the weight shapes cannot tell which it is: load it with "
                         + FUSED_HOW)
    return bool(option)


def _architecture(layout: str, sd: dict, fused_scale: bool | None = None) -> dict[str, Any]:
    """latent_dim, channels, image_channels (and fused_scale for genforce) read from the conv weights' shapes."""
    key = {"netdissect": "layer{}.conv.weight", "ptrblck": "features.{}.conv.weight", "genforce": "layer{}.weight"}
    first = 1 if layout == "netdissect" else 0
    weights = []
    while key[layout].format(first + len(weights)) in sd:
        weights.append(sd[key[layout].format(first + len(weights))])
    if len(weights) < 4 or len(weights) % 2:
        raise ValueError(f"a ProGAN file has an even number (>= 4) of conv layers, this one has {len(weights)} "
                         f"({key[layout].format('N')})")
    if not all(isinstance(w, torch.Tensor) and w.ndim == 4 for w in weights):
        raise ValueError(f"the ProGAN file's conv weights ({key[layout].format('N')}) are not all 4-d tensors")
    # the second conv of each resolution is (c, c, 3, 3) in every layout: it gives the feature depths
    channels = [int(w.shape[0]) for w in weights[1::2]]
    n = len(weights)
    resolution = 4 * 2 ** (len(channels) - 1)
    out_key = _file_names(layout, n, resolution)[0][-1][0]
    if out_key not in sd:
        raise ValueError(f"the ProGAN file has {n} conv layers, so a {resolution}x{resolution} output, but no "
                         f"{out_key!r} (its to-RGB layer)")
    arch = {"latent_dim": int(weights[0].shape[1]), "channels": channels, "image_channels": int(sd[out_key].shape[0])}
    if layout == "genforce":
        arch["fused_scale"] = _fused_scale(sd, channels, fused_scale)
    elif fused_scale:
        raise ValueError(f"fused_scale=True is a genforce PGGAN option; the {LAYOUTS[layout]} has no fused variant")
    return arch


def load_weights(model: ProGANGenerator, layout: str, sd: dict) -> None:
    """Copy the file's tensors into ``model``; a missing, unexpected or mis-shaped key is a ValueError naming it."""
    names, scale_suffix = _file_names(layout, model.num_convs, model.resolution)
    used, problems = set(), []
    for layer, (wkey, bkey) in zip(model.convs(), names):
        for key, target in ((wkey, layer.conv.weight), (bkey, layer.wscale.b)):
            value = sd.get(key)
            if not isinstance(value, torch.Tensor):
                problems.append(f"missing key {key!r} (expected shape {tuple(target.shape)})")
            elif tuple(value.shape) != tuple(target.shape):
                problems.append(f"{key!r} has shape {tuple(value.shape)}, expected {tuple(target.shape)}")
            else:
                with torch.no_grad():
                    target.copy_(value.float())
            used.add(key)
        if scale_suffix:
            skey = wkey.rsplit(".conv.weight", 1)[0] + scale_suffix
            value = sd.get(skey)
            if not isinstance(value, torch.Tensor) or value.numel() != 1:
                problems.append(f"missing key {skey!r} (expected the layer's weight scale, one number)")
            else:
                layer.wscale.scale = float(value)
            used.add(skey)
    if layout == "genforce":  # lower-resolution to-RGB layers of progressive training are unused at lod 0
        used |= {k for k in sd if isinstance(k, str) and k.startswith("output") and k.split(".")[0][6:].isdigit()}
        if "lod" in sd:
            used.add("lod")
            if float(sd["lod"]) != 0:
                problems.append(f"'lod' is {float(sd['lod'])}: a snapshot taken mid-growth, only fully grown "
                                f"networks (lod 0) are supported")
    unexpected = [str(k) for k in sd if k not in used]
    if unexpected:
        problems.append(f"unexpected keys ({len(unexpected)}): {', '.join(unexpected[:6])}"
                        f"{' ...' if len(unexpected) > 6 else ''}")
    if problems:
        raise ValueError(f"the ProGAN weights ({LAYOUTS[layout]}) do not match a {model.resolution}x"
                         f"{model.resolution} generator: " + "; ".join(problems[:8]))


def _label_size(disc: Any) -> int:
    """genforce's label_size as its PGGAN discriminator shows it: the final dense layer (the highest
    ``layerN``) has 1 + label_size outputs. 0 when the file has no such discriminator."""
    if not isinstance(disc, dict):
        return 0
    found = [(int(m.group(1)), v) for k, v in disc.items()
             if isinstance(k, str) and (m := re.fullmatch(r"layer(\d+)\.weight", k)) and isinstance(v, torch.Tensor)]
    if not found:
        return 0
    last = max(found, key=lambda item: item[0])[1]
    return int(last.shape[0]) - 1 if last.ndim == 2 else 0


def build(found: dict[str, Any], **options) -> tuple[ProGANGenerator, dict[str, Any]]:
    """A ``ProGANGenerator`` with the file's weights (sizes read from the weights' shapes), loaded strictly."""
    unknown = sorted(set(options) - {"fused_scale"})
    if unknown:
        raise TypeError(f"unknown ProGAN option(s) {', '.join(unknown)}: ProGAN takes only fused_scale (genforce "
                        "PGGAN files whose shapes do not tell it)")
    layout, sd = found["layout"], found["state_dict"]
    labels = _label_size(found.get("discriminator")) if layout == "genforce" else 0
    if labels > 0:
        raise ValueError(f"this is a conditional genforce PGGAN (label_size={labels}: its discriminator's final "
                         f"layer has {labels + 1} outputs; the generator's layer0 reads z and a one-hot label "
                         "together): class-conditional generators are not supported yet")
    fused = options.get("fused_scale")
    model = ProGANGenerator(None, **_architecture(layout, sd, None if fused is None else bool(fused)))
    load_weights(model, layout, sd)
    info = {"format": LAYOUTS[layout], "resolution": model.resolution, "latent_dim": model.latent_dim,
            "channels": model.channels, "image_channels": model.image_channels}
    if layout == "genforce":
        info["fused_scale"] = model.fused_scale
        info["assumed"] = ("genforce files do not store these settings; genforce's PGGANGenerator defaults are "
                           "assumed: final_tanh=False, use_wscale=True, and label_size=0 unless the file's "
                           "discriminator shows a conditional model")
    return model.eval(), info
