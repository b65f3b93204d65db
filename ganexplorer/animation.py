"""Traversal animations: a direction swept -range -> +range -> -range, saved as GIF (Pillow) or MP4 (the ffmpeg
binary that the imageio-ffmpeg wheel ships, so nothing is downloaded)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .directions.bank import DirectionBank
from .frames import grid_tile
from .traversal import render_traversals


def sweep(shift_range: float, frames: int) -> list[float]:
    """``frames`` shifts going -r -> +r -> back, a loop with no repeated frame."""
    if frames < 2:
        raise ValueError(f"an animation needs at least 2 frames, got {frames}")
    up = np.linspace(-shift_range, shift_range, frames // 2 + 1)
    return np.concatenate([up[:-1], up[::-1][:-1]]).tolist()


def traversal_video(generator, bank: DirectionBank, z: torch.Tensor, k: int, frames: int = 24,
                    size: int = 256) -> list[Image.Image]:
    """The frames of direction k's sweep, every latent of z side by side, scaled to about ``size`` px tall."""
    video = render_traversals(generator, bank, z, [k], sweep(bank.shift_range[k], frames))[0]  # (N, S, H, W, C)
    images = []
    for j in range(video.shape[1]):
        grid = grid_tile(video[:, j])
        zoom = max(1, size // grid.shape[0])
        img = Image.fromarray(grid)
        images.append(img.resize((img.width * zoom, img.height * zoom), Image.NEAREST) if zoom > 1 else img)
    return images


def save_gif(images: list[Image.Image], path: str | Path, fps: float = 12.5) -> Path:
    path = Path(path)
    images[0].save(path, save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0)
    return path


def save_mp4(images: list[Image.Image], path: str | Path, fps: float = 12.5) -> Path:
    """H.264 MP4 that browsers play (yuv420p needs even sides, so frames are padded by a pixel if needed)."""
    import imageio_ffmpeg

    path = Path(path)
    w, h = images[0].size
    w2, h2 = w + w % 2, h + h % 2
    writer = imageio_ffmpeg.write_frames(str(path), (w2, h2), fps=fps, codec="libx264", pix_fmt_out="yuv420p",
                                         macro_block_size=1, quality=8, ffmpeg_log_level="error")
    writer.send(None)
    for img in images:
        frame = np.zeros((h2, w2, 3), np.uint8)
        frame[:h, :w] = np.asarray(img.convert("RGB"))
        writer.send(np.ascontiguousarray(frame))
    writer.close()
    return path
