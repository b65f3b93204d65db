"""``Generator``: any torch module mapping latents (N, d) to images (N, C, H, W) in [-1, 1], kept on one device.

Everything downstream (banks, SeFa, discovery, the widget) talks to this wrapper, so latents are checked once
here and only uint8 frames ever cross from the device to the host.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from ..device import RenderPolicy, render_policy, resolve_device

PIXELS_PER_CALL = 1 << 22  # images per forward by default: 4 at 1024x1024, 64 at 256x256, 4096 at 32x32
MAX_LATENT = 1e6  # |latent| beyond this is no sample of any generator (N(0, I) stays within about 6)


def _render_dtype(dtype: str | torch.dtype) -> torch.dtype:
    """float32, or a half type that rendering runs in under autocast (weights stay float32)."""
    named = {"float32": torch.float32, "float16": torch.float16, "fp16": torch.float16, "half": torch.float16,
             "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}
    resolved = named.get(dtype) if isinstance(dtype, str) else dtype
    if resolved not in (torch.float32, torch.float16, torch.bfloat16):
        raise ValueError(f"unknown render dtype {dtype!r}: use 'auto', 'float32', 'float16' or 'bfloat16'")
    return resolved


class Generator:
    """A frozen generator on ``device`` ("auto": CUDA when present, else CPU).

    Two optional hooks of the module widen what "latent" means: ``latents_from_noise(noise)`` when its latents
    are not N(0, I) (StyleGAN in W, BigGAN's truncated normal), and ``num_layers`` when it reads one latent per
    layer (W+): then ``render`` also takes (N, num_layers, d).

    ``dtype="auto"`` and ``channels_last="auto"`` follow the family's rendering policy (``device.render_policy``,
    kept in ``self.policy``): float32 on CPU, on CUDA bfloat16 (or float16 where the family is safe in it) under
    autocast with the weights kept in float32; channels-last weights where measured to pay. A dtype or a bool
    given explicitly wins.
    """

    def __init__(self, module: nn.Module, latent_dim: int | None = None, device: str | torch.device = "auto",
                 name: str | None = None, info: dict[str, Any] | None = None,
                 dtype: str | torch.dtype = "auto", channels_last: bool | str = "auto"):
        if not isinstance(module, nn.Module):
            raise TypeError(f"Generator wraps a torch.nn.Module, got {type(module).__name__}")
        latent_dim = latent_dim or getattr(module, "latent_dim", None) or getattr(module, "z_dim", None)
        if not isinstance(latent_dim, int) or latent_dim <= 0:
            raise ValueError(f"cannot tell the latent size of {type(module).__name__}: "
                             "pass it explicitly, e.g. Generator(module, latent_dim=128)")
        self.device = resolve_device(device)
        self.policy: RenderPolicy = render_policy(module, self.device)
        self.dtype = self.policy.dtype if isinstance(dtype, str) and dtype == "auto" else _render_dtype(dtype)
        if not (channels_last == "auto" or isinstance(channels_last, bool)):
            raise ValueError(f"channels_last must be 'auto', True or False, got {channels_last!r}")
        self.channels_last = self.policy.channels_last if channels_last == "auto" else channels_last
        module = module.to(self.device)
        if self.channels_last:  # 4-D weights stored NHWC: convolutions then run in that layout (oneDNN / cuDNN)
            module = module.to(memory_format=torch.channels_last)
        self.module = module.eval().requires_grad_(False)
        self.latent_dim = latent_dim
        self.name = name or type(module).__name__
        self.info = dict(info or {})
        self._image_shape: tuple[int, int, int] | None = None

    def __repr__(self) -> str:
        return f"Generator({self.name!r}, latent_dim={self.latent_dim}, device={self.device})"

    @property
    def num_layers(self) -> int | None:
        """How many per-layer latents a layer-aware (style) generator reads; None for one latent."""
        return getattr(self.module, "num_layers", None)

    def latents_from_noise(self, noise: torch.Tensor) -> torch.Tensor:
        """The generator's own latents from N(0, I) noise (identity unless the module says otherwise)."""
        hook = getattr(self.module, "latents_from_noise", None)
        if hook is None:
            return noise
        with torch.no_grad():
            return hook(noise)

    def sample_latents(self, n: int, seed: int | None = None) -> torch.Tensor:
        """``n`` latents on the device (N(0, I), or the module's own latent distribution); the same seed gives
        the same latents on every device."""
        gen = torch.Generator().manual_seed(int(seed)) if seed is not None else None
        return self.latents_from_noise(torch.randn(n, self.latent_dim, generator=gen).to(self.device))

    def check_latents(self, z: torch.Tensor | np.ndarray | list) -> torch.Tensor:
        """Latents as a float (N, d) (or (N, num_layers, d) for layer-aware generators) tensor on the device,
        or a ``ValueError`` saying what was expected."""
        z = torch.as_tensor(z, dtype=torch.float32, device=self.device)
        if z.ndim == 1:
            z = z.unsqueeze(0)
        per_layer = self.num_layers is not None and z.ndim == 3 and z.shape[1] == self.num_layers
        if not (z.ndim == 2 or per_layer) or z.shape[-1] != self.latent_dim:
            expected = f"(N, {self.latent_dim})"
            if self.num_layers is not None:
                expected += f" or, one latent per layer, (N, {self.num_layers}, {self.latent_dim})"
            raise ValueError(f"latents must have shape {expected} for {self.name}, got {tuple(z.shape)}")
        if not torch.isfinite(z).all():
            raise ValueError("latents contain NaN or inf: check the shifts and the latent you passed")
        largest = float(z.abs().max()) if z.numel() else 0.0
        if largest > MAX_LATENT:
            raise ValueError(f"latents reach {largest:.3g}, out of the range a generator can render: every value "
                             f"must be within ±{MAX_LATENT:g} (N(0, I) latents stay within about ±6); check the "
                             f"shifts and the latent you passed")
        return z

    def _check_images(self, images: torch.Tensor, n: int) -> None:
        if images.ndim != 4 or images.shape[0] != n or images.shape[1] not in (1, 3):
            raise ValueError(f"{self.name} returned a tensor of shape {tuple(images.shape)} for {n} latents; "
                             "a generator must return images (N, C, H, W) with C = 1 or 3, values in [-1, 1]")
        if not torch.isfinite(images).all():
            half = " at reduced precision: try dtype='float32'" if self.dtype != torch.float32 else ""
            raise ValueError(f"{self.name} returned NaN or inf pixels for these latents (they overflowed inside "
                             f"the network{half}): use smaller shifts or latents")

    def _auto_batch(self) -> int:
        """Images per forward when the caller does not say: a pixel budget, so a 1024x1024 generator renders 4
        at a time (a grid of 168 would otherwise need tens of GB) while a 32x32 one renders 4096."""
        _, h, w = self.image_shape  # the same chunks on every call: results never depend on the call order
        return max(1, PIXELS_PER_CALL // (h * w))

    def _render(self, z: torch.Tensor | np.ndarray, batch_size: int | None,
                convert: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        z = self.check_latents(z)
        if not len(z):  # no latents, no images: an empty batch of the generator's image shape
            return convert(torch.zeros((0, *self.image_shape), device=self.device))
        chunks, i = [], 0
        with torch.inference_mode(), torch.autocast(self.device.type, self.dtype, self.dtype != torch.float32):
            while i < len(z):
                step = batch_size or self._auto_batch()
                images = self.module(z[i:i + step]).float()
                self._check_images(images, len(z[i:i + step]))
                self._image_shape = tuple(images.shape[1:])
                chunks.append(convert(images))
                i += step
        return torch.cat(chunks) if len(chunks) > 1 else chunks[0]

    def render(self, z: torch.Tensor | np.ndarray, batch_size: int | None = None) -> torch.Tensor:
        """Images (N, C, H, W) in [-1, 1] on the device, ``batch_size`` per forward (default: as many as fit a
        budget of 4 Mpixels)."""
        return self._render(z, batch_size, lambda images: images)

    @staticmethod
    def to_uint8(images: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) in [-1, 1] -> (N, H, W, C) uint8, converted on the images' device."""
        return ((images.clamp(-1, 1) + 1) * 127.5).round_().to(torch.uint8).permute(0, 2, 3, 1).contiguous()

    def render_uint8(self, z: torch.Tensor | np.ndarray, batch_size: int | None = None) -> np.ndarray:
        """Rendered frames as a host numpy array (N, H, W, C) uint8: each chunk becomes uint8 on the device, so
        only uint8 crosses to the host and float images never pile up."""
        return self._render(z, batch_size, lambda images: self.to_uint8(images).cpu()).numpy()

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image (renders one sample the first time)."""
        if self._image_shape is None:
            self.render(self.sample_latents(1, seed=0), batch_size=1)
        return self._image_shape
