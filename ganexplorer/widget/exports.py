"""Exports, as one part of the Explorer: traversal grids, GIF and MP4 sweeps, and copies of the bank. A default
export is named after what it shows and numbered, so none overwrites another; each goes to the browser too (a
download link and a preview). A mixin over the Explorer's generator, bank, latents and lock."""

from __future__ import annotations

import re
import time
from pathlib import Path

from ..animation import save_gif, save_mp4, traversal_video
from ..traversal import traversal_grid
from .values import Refused

EXPORT_INLINE_BYTES = 20 << 20  # exports up to this size also go to the browser (download link, preview)


class ExportsPart:
    """Grid PNG, GIF, MP4 and bank exports (the Export tab)."""

    def set_export_name(self, name: str) -> None:
        name = str(name).strip()
        if not name or "\0" in name:
            raise Refused(f"export file name {name!r} is empty or invalid")
        folder = Path(name).expanduser().resolve().parent
        if not folder.is_dir():
            raise Refused(f"export file name {name!r}: the folder {folder} does not exist")
        self.export_name = name
        self._say(f"exports will be saved as {Path(name).expanduser().resolve()}_<what>_<number>.<png|gif|mp4|gxb>"
                  " (numbered: never overwritten)", "ok")

    def _export_path(self, path: str | Path | None, suffix: str, what: str = "") -> Path:
        """``path`` as given, else ``<export name>_<what>_<NNN><suffix>`` with the first number not yet used: a
        default export never overwrites an earlier one, and its name says what it shows."""
        if path is not None:
            p = Path(path).expanduser().resolve()
        else:
            base = Path(self.export_name).expanduser().resolve()
            stem = base.name + (f"_{what}" if what else "")
            n = 1
            while (p := base.with_name(f"{stem}_{n:03d}{suffix}")).exists():
                n += 1
        if not p.parent.exists():
            raise Refused(f"cannot save {p}: the folder {p.parent} does not exist")
        return p

    def _direction_slug(self, k: int) -> str:
        """Direction k in a file name: its index and its name, e.g. ``3-thickness``."""
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", self.bank.labels[k]).strip("-.")[:40]
        return f"{k}-{slug}" if slug else str(k)

    def _exported(self, kind: str, path: Path, mime: str, about: str = "") -> Path:
        size = path.stat().st_size
        entry = {"kind": kind, "path": str(path), "name": path.name, "bytes": size, "mime": mime,
                 "t": time.time(), "about": about}
        self.exports = ([entry] + [e for e in self.exports if e["path"] != str(path)])[:8]
        if size <= EXPORT_INLINE_BYTES:
            self.send({"type": "file", **entry}, buffers=[path.read_bytes()])
        self._say(f"saved {kind}{' of ' + about if about else ''}: {path}", "ok")
        return path

    def _chosen(self, directions: list[int] | None) -> list[int]:
        if directions is not None:
            return [self.bank._index(int(i)) for i in directions]
        hidden = self.bank.hidden
        starred = [i for i in range(len(self.bank)) if self.bank.starred[i]]
        return starred or [i for i in range(len(self.bank)) if not hidden[i]][:8] or [0]

    def export_grid(self, path: str | Path | None = None, directions: list[int] | None = None) -> Path:
        """Traversal grid PNG of ``directions`` (default: the starred ones, else the first 8 shown)."""
        path = self._export_path(path, ".png", "grid")
        with self._lock:
            traversal_grid(self.generator, self.bank, self._chosen(directions), z=self.z[:3]).save(path)
        return self._exported("grid PNG", path, "image/png")

    def _video(self, k: int, frames: int, size: int) -> list:
        with self._lock:
            return traversal_video(self.generator, self.bank, self.z, k, frames, size)

    def export_gif(self, k: int | None = None, path: str | Path | None = None, frames: int = 24,
                   size: int = 256) -> Path:
        """Animated GIF of direction k (default: the selected one): -range -> +range -> back, samples together."""
        k = self.selected if k is None else self.bank._index(int(k))
        path = self._export_path(path, ".gif", self._direction_slug(k))
        save_gif(self._video(k, frames, size), path)
        return self._exported("GIF", path, "image/gif", f"direction {k} {self.bank.labels[k]!r}")

    def export_mp4(self, k: int | None = None, path: str | Path | None = None, frames: int = 48,
                   size: int = 256) -> Path:
        """H.264 MP4 of direction k's sweep (ffmpeg from the imageio-ffmpeg wheel)."""
        k = self.selected if k is None else self.bank._index(int(k))
        path = self._export_path(path, ".mp4", self._direction_slug(k))
        save_mp4(self._video(k, frames, size), path)
        return self._exported("MP4", path, "video/mp4", f"direction {k} {self.bank.labels[k]!r}")

    def export_bank(self, path: str | Path | None = None) -> Path:
        """Save the bank (labels, stars, notes included) somewhere else too."""
        path = self._export_path(path, ".gxb", "bank")
        self.bank.save(path)
        return self._exported("bank", path, "application/octet-stream")
