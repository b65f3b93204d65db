"""Bring a real image: find the latent whose rendering looks like it (GAN inversion by optimisation).

Every image gets several restarts from sampled latents, all optimised together in one batch; after a short
warm-up each image keeps its best restart and refines it. The loss works offline: pixels (L1), a multi-scale
structural term (local means, contrasts and edges on a pyramid) and, optionally, a perceptual term from a
feature network (for the zoo, the judges the package ships; or your own). In z the latent is kept near the
sphere of radius sqrt(d) where N(0, I) lives; style generators can be projected in w or, one per layer, w+.
"""

from __future__ import annotations

import io
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

SPACES = ("z", "w", "w+")
LATENTS_FORMAT = "ganexplorer-latents"


@dataclass
class Projection:
    """Latents of ``images`` (N, d) or (N, num_layers, d) for w+, how well each fits, and the renders."""

    latents: torch.Tensor
    error: list[float]  # mean |rendering - image| per image, in pixel units of 0..255
    renders: np.ndarray  # (N, H, W, C) uint8
    targets: np.ndarray  # (N, H, W, C) uint8: the images as the generator sees them (resized, converted)
    space: str
    steps: int
    restarts: int
    seconds: float
    complete: bool = True
    history: list[tuple[int, float]] = field(default_factory=list)

    def save(self, path: str | Path) -> Path:
        """The latents and the fit as safetensors (data only, written atomically), for ``grid --latent`` and
        ``load_latents``."""
        from safetensors.torch import save_file

        from .files import atomic_write

        path = Path(path)
        tensors = {"latents": self.latents.detach().cpu().contiguous().float()}
        meta = {"format": LATENTS_FORMAT, "space": self.space, "error": ",".join(f"{e:.4f}" for e in self.error)}
        atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=meta))
        return path


def load_latents(path: str | Path) -> tuple[torch.Tensor, str]:
    """Latents saved by ``Projection.save`` (at least one) and the space they live in; a file that is not one
    is a ValueError naming the file and what is wrong with it."""
    from safetensors import SafetensorError, safe_open

    path = Path(path).expanduser()
    made = "made by `ganexplorer project` or Projection.save"
    if not path.exists():
        raise FileNotFoundError(f"no latents file at {path}")
    if path.is_dir():
        raise ValueError(f"{path} is a folder, not a latents file ({made})")
    try:
        with safe_open(str(path), "pt") as fh:
            meta = fh.metadata() or {}
            if meta.get("format") != LATENTS_FORMAT:
                raise ValueError(f"{path} is not a ganexplorer latents file ({made}): its header says format "
                                 f"{meta.get('format')!r}")
            if "latents" not in fh.keys():
                raise ValueError(f"{path} holds no 'latents' tensor: it is damaged, project the images again")
            z = fh.get_tensor("latents")
    except (SafetensorError, OSError) as exc:
        raise ValueError(f"{path} is not a readable latents file ({made}): {exc}") from None
    space = meta.get("space", "z")
    if space not in SPACES:
        raise ValueError(f"{path} says its latents live in space {space!r}: expected one of {', '.join(SPACES)}")
    if not z.is_floating_point() or z.ndim not in (2, 3):
        raise ValueError(f"{path} holds latents of shape {tuple(z.shape)} and type {z.dtype}: expected floats "
                         "(N, d) or, in w+, (N, num_layers, d)")
    if not len(z):
        raise ValueError(f"{path} holds no latents (shape {tuple(z.shape)}): project at least one image")
    return z.float(), space


def prepare_images(images: Any, generator) -> torch.Tensor:
    """Images as the generator makes them: (N, C, H, W) in [-1, 1] on its device. Takes paths, PNG/JPEG bytes,
    PIL images, uint8 arrays (H, W[, C]) or (N, H, W[, C]), or float tensors in [-1, 1]; any size (resized,
    aspect kept by a centre crop) and any colour mode (converted)."""
    channels, height, width = generator.image_shape
    if isinstance(images, torch.Tensor) and images.is_floating_point():
        x = images if images.ndim == 4 else images[None]
        if x.shape[1:] != (channels, height, width):
            raise ValueError(f"image tensors must be (N, {channels}, {height}, {width}) in [-1, 1], "
                             f"got {tuple(x.shape)}")
        return x.to(generator.device, torch.float32)
    if isinstance(images, (str, Path, bytes, Image.Image)) or (isinstance(images, np.ndarray) and images.ndim <= 3
                                                                  and images.dtype == np.uint8):
        images = [images]
    out = []
    for item in images:
        img = _as_pil(item).convert("L" if channels == 1 else "RGB")
        scale = max(width / img.width, height / img.height)
        img = img.resize((max(width, round(img.width * scale)), max(height, round(img.height * scale))),
                         Image.LANCZOS)
        left, top = (img.width - width) // 2, (img.height - height) // 2
        arr = np.asarray(img.crop((left, top, left + width, top + height)), np.float32)
        arr = arr[None] if channels == 1 else arr.transpose(2, 0, 1)
        out.append(torch.from_numpy(arr / 127.5 - 1.0))
    if not out:
        raise ValueError("no image given")
    return torch.stack(out).to(generator.device)


def _as_pil(item: Any) -> Image.Image:
    """A decoded PIL image; a file or bytes that are no image, or one over ``limits.MAX_IMAGE_PIXELS``, is a
    ValueError naming it (checked from the header, before the pixels are decoded)."""
    if isinstance(item, Image.Image):
        return item
    if isinstance(item, np.ndarray) and item.dtype == np.uint8:
        return Image.fromarray(item.squeeze(-1) if item.ndim == 3 and item.shape[-1] == 1 else item)
    if isinstance(item, bytes):
        return read_image(io.BytesIO(item), f"the image bytes ({len(item)} bytes)")
    if isinstance(item, (str, Path)):
        path = Path(item).expanduser()
        if not path.exists():
            raise FileNotFoundError(f"no image at {path}")
        if path.is_dir():
            raise ValueError(f"{path} is a folder, not an image file")
        return read_image(path, str(path))
    raise TypeError(f"cannot read an image from {type(item).__name__}: give a path, bytes, a PIL image or a "
                    "uint8 array")


def read_image(source: Any, name: str) -> Image.Image:
    """The image in ``source`` (a path or a binary file), fully decoded; ``name`` is how errors call it. Its size
    is read from the header and checked against ``limits.MAX_IMAGE_PIXELS`` before any pixel is decoded."""
    from .limits import MAX_IMAGE_PIXELS

    def too_large(size: str) -> ValueError:
        return ValueError(f"{name} is too large to project: {size} pixels, over the limit of {MAX_IMAGE_PIXELS:,} "
                          "(e.g. 8192x8192); scale it down first")

    def unreadable(exc: Exception) -> ValueError:
        return ValueError(f"cannot read {name} as an image ({exc}): give a PNG, JPEG or another image file Pillow "
                          "reads")

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)  # Pillow's own, larger bound: an error too
        try:
            img = Image.open(source)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise too_large("more than 89 million") from None
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            raise unreadable(exc) from None
        if img.width * img.height > MAX_IMAGE_PIXELS:
            raise too_large(f"{img.width}x{img.height}")
        try:
            img.load()
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            raise unreadable(exc) from None
    return img


def _pyramid_loss(x: torch.Tensor, y: torch.Tensor, levels: int = 3) -> torch.Tensor:
    """Structure at several scales: local means, local contrasts and edges (per image)."""
    total = torch.zeros(x.shape[0], device=x.device)
    for _ in range(levels):
        mx, my = F.avg_pool2d(x, 3, 1, 1), F.avg_pool2d(y, 3, 1, 1)
        vx, vy = F.avg_pool2d(x * x, 3, 1, 1) - mx**2, F.avg_pool2d(y * y, 3, 1, 1) - my**2
        sx, sy = (vx.clamp_min(0) + 1e-4).sqrt(), (vy.clamp_min(0) + 1e-4).sqrt()  # finite gradient at 0
        total = total + (mx - my).abs().mean((1, 2, 3)) + (sx - sy).abs().mean((1, 2, 3))
        for dim in (2, 3):
            total = total + (x.diff(dim=dim) - y.diff(dim=dim)).abs().mean((1, 2, 3))
        if min(x.shape[-2:]) < 8:
            break
        x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
    return total


def judge_features(generator) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """A perceptual feature network the package ships for this generator, if any: the digit judge for grey
    32x32 images, the factor judge for colour 32x32 ones."""
    from .evaluation.judges import load_judge

    channels, h, w = generator.image_shape
    if (h, w) != (32, 32):
        return None
    try:
        judge = load_judge("digits" if channels == 1 else "factors", device=generator.device).eval()
    except (FileNotFoundError, ValueError):
        return None
    return judge.features


def project(generator, images: Any, steps: int = 300, restarts: int = 4, space: str | None = None,
            lr: float = 0.05, structure: float = 1.0, perceptual: float | None = None,
            features: Callable[[torch.Tensor], torch.Tensor] | str | None = None, seed: int = 0,
            callback: Callable[[int, float], Any] | None = None, cancel: Any = None,
            progress: bool | None = None) -> Projection:
    """Latents whose renderings look like ``images`` (see ``prepare_images`` for what is accepted).

    ``space``: "z" (default), or for style generators "w" / "w+" (one latent per layer; closer fits, less
    regular edits). ``features``: None (pixels and structure only: on mnist as good as with a perceptual term,
    and twice as fast; see benchmarks/projection.py), "auto" (a judge the package ships, when one fits the
    generator) or a callable image -> features for your own network; ``perceptual`` weighs it (default 0.1).
    ``callback(step, mean_error)`` every 10 steps; ``cancel.is_set()`` stops early (``complete=False``)."""
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive whole number, got {steps!r}")
    if not isinstance(restarts, int) or not 1 <= restarts <= 64:
        raise ValueError(f"restarts must be a whole number from 1 to 64, got {restarts!r}")
    if not (np.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive number, got {lr}")
    module, d = generator.module, generator.latent_dim
    style = hasattr(module, "space") and hasattr(module, "map")
    space = (space or "z").lower()
    if space not in SPACES:
        raise ValueError(f"space must be one of {', '.join(SPACES)}, got {space!r}")
    if space != "z" and not style:
        raise ValueError(f"space {space!r} needs a style generator (StyleGAN2); {generator.name} has only z")
    if features == "auto":
        features = judge_features(generator)
    weight = (0.1 if perceptual is None else perceptual) if callable(features) else 0.0
    target = prepare_images(images, generator)
    n = len(target)
    gen = torch.Generator().manual_seed(seed)
    noise = torch.randn(n * restarts, d, generator=gen).to(generator.device)
    start_space = getattr(module, "space", None)
    start = time.perf_counter()
    if style:
        module.space = "z" if space == "z" else "w"
    try:
        with torch.no_grad():
            init = noise if space == "z" else module.map(noise)
        if space == "w+":
            init = init[:, None].repeat(1, module.num_layers, 1)
        latents = init.clone().requires_grad_(True)
        opt = torch.optim.Adam([latents], lr=lr)
        tgt = target.repeat_interleave(restarts, 0)
        tgt_features = features(tgt).detach() if weight else None
        warmup = max(1, steps // 4)
        bar = None
        if progress is None:
            progress = _interactive()
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=steps, desc=f"project {n} image{'s' if n > 1 else ''}")
        history: list[tuple[int, float]] = []
        complete, done = True, 0
        per_image = torch.zeros(n * restarts, device=generator.device)
        for step in range(1, steps + 1):
            if cancel is not None and cancel.is_set():
                complete = False
                break
            if step == warmup + 1 and restarts > 1:  # keep each image's best restart, refine only that one
                best = per_image.view(n, restarts).argmin(1) + torch.arange(n, device=per_image.device) * restarts
                latents = latents.detach()[best].clone().requires_grad_(True)
                opt = torch.optim.Adam([latents], lr=lr)
                tgt = target
                tgt_features = features(tgt).detach() if weight else None
            for group in opt.param_groups:  # cosine decay: large steps to find the basin, small ones to settle
                group["lr"] = lr * 0.5 * (1 + np.cos(np.pi * step / steps))
            out = module(latents)
            pixel = (out - tgt).abs().mean((1, 2, 3))
            loss = pixel + structure * _pyramid_loss(out, tgt)
            if weight:
                loss = loss + weight * (features(out) - tgt_features).pow(2).flatten(1).mean(1)
            if space == "z":
                loss = loss + 0.01 * (latents.pow(2).mean(-1) - 1).pow(2)
            opt.zero_grad(set_to_none=True)
            loss.sum().backward()
            opt.step()
            per_image = pixel.detach()
            done = step
            if step % 10 == 0 or step == steps:
                mean = float(per_image.mean()) * 127.5
                history.append((step, mean))
                if bar is not None:
                    bar.update(10 if step % 10 == 0 else step % 10)
                    bar.set_postfix(error=f"{mean:.1f}/255")
                if callback is not None:
                    callback(step, mean)
        if bar is not None:
            bar.close()
        with torch.no_grad():
            final = latents.detach()
            if len(final) != n:  # cancelled during the warm-up: each image's best restart so far
                best = per_image.view(n, restarts).argmin(1) + torch.arange(n, device=per_image.device) * restarts
                final = final[best]
            renders = generator.render_uint8(final)
    finally:
        if style:
            module.space = start_space
    targets = generator.to_uint8(target).cpu().numpy()
    error = np.abs(renders.astype(np.float32) - targets.astype(np.float32)).mean(axis=(1, 2, 3)).tolist()
    if style and space == "z" and start_space != "z":  # hand back latents in the generator's own space
        with torch.no_grad():
            final = module.truncate(module.map(final))
    return Projection(final, [round(e, 3) for e in error], renders, targets, space, done, restarts,
                      round(time.perf_counter() - start, 2), complete, history)


def _interactive() -> bool:
    import sys

    return bool(getattr(sys.stderr, "isatty", lambda: False)()) or "ipykernel" in sys.modules


def fit_summary(projection: Projection) -> str:
    """One line a person reads: how well the projections fit."""
    e = projection.error
    return (f"{len(e)} image{'s' if len(e) > 1 else ''} projected into {projection.space} in "
            f"{projection.seconds:.1f} s: mean pixel error {np.mean(e):.1f}/255 (best {min(e):.1f}, "
            f"worst {max(e):.1f})" + ("" if projection.complete else f"; stopped at step {projection.steps}"))

