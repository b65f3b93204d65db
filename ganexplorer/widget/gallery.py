"""The Label tab's gallery, as one part of the Explorer: traversal thumbnails of each direction, measured name
suggestions, and mask previews (does a direction remove the background?). A mixin: it works on the Explorer's
generator, bank, latents and lock, and sends the browser what a row shows."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from ..directions.background import AREA, RULES, THRESHOLD, best_shift, mask_stats, masks_from_renders
from ..directions.describe import suggest_labels
from ..frames import grid_tile, png_bytes
from ..traversal import render_traversals
from . import values
from .proposals import keys as _keys
from .values import Refused

THUMB_SHIFTS = 5
THUMB_CELL = {"normal": 56, "large": 160}  # px per thumbnail cell (small images are zoomed by whole factors)
MASK_STEPS = 5  # traversal frames of a mask preview, from the sample to the shifted image
MAX_MASK_SAMPLES = 16


class GalleryPart:
    """Thumbnails, suggestions and mask previews of the directions (the Label tab)."""

    def suggest(self, k: int) -> tuple[str, float]:
        """Measured suggestion for direction k's name (``describe``), with a confidence."""
        k = self.bank._index(int(k))
        key = _keys(self.bank)[k]
        if key not in self._suggestions:
            with self._lock:
                self._suggestions[key] = suggest_labels(self.generator, self.bank.select([k]), n=12)[0]
        return self._suggestions[key]

    def accept_suggestion(self, k: int) -> str:
        """Name direction k as ``describe`` suggests."""
        label, _ = self.suggest(k)
        self.label(k, label)
        return label

    def request_suggestions(self, indices: list[int]) -> None:
        """Compute suggestions for these directions in the background, a few at a time, and show them."""
        self._suggest_wanted += [self.bank._index(int(i)) for i in indices]
        if self._suggest_thread is None or not self._suggest_thread.is_alive():
            self._suggest_thread = threading.Thread(target=self._suggest_work, daemon=True,
                                                    name="ganexplorer-suggest")
            self._suggest_thread.start()

    def _suggest_work(self) -> None:
        while self._suggest_wanted:
            bank = self.bank
            keys = _keys(bank)
            chunk = list(dict.fromkeys(i for i in self._suggest_wanted[:8]
                                       if i < len(bank) and keys[i] not in self._suggestions))
            del self._suggest_wanted[:8]
            if not chunk:
                continue
            try:  # no lock: the generator is only read, and slider frames and thumbnails must not wait
                found = suggest_labels(self.generator, bank.select(chunk), n=8)
            except Exception as exc:  # noqa: BLE001 - shown, the gallery works without suggestions
                self._say(f"could not suggest names: {type(exc).__name__}: {exc}", "warn")
                return
            for i, s in zip(chunk, found):
                self._suggestions[keys[i]] = s
            if self.bank is bank:
                self._publish_directions()

    def thumbnail_shifts(self, k: int) -> list[float]:
        r = self.bank.shift_range[k]
        return np.linspace(-r, r, THUMB_SHIFTS).round(6).tolist()

    def thumbnails(self, indices: list[int], samples: int = 2) -> np.ndarray:
        """Traversal thumbnails (K, N, S, H, W, C) of these directions: one batched generator call."""
        idx = [self.bank._index(int(i)) for i in indices]
        with self._lock:
            z = self.z[: min(samples, len(self.z))]
            shifts = self.thumbnail_shifts(idx[0]) if len({self.bank.shift_range[i] for i in idx}) == 1 else None
            if shifts is not None:
                return render_traversals(self.generator, self.bank, z, idx, shifts)
            return np.stack([render_traversals(self.generator, self.bank, z, [i], self.thumbnail_shifts(i))[0]
                             for i in idx])

    def request_thumbnails(self, indices: list[int]) -> None:
        """Send the gallery the thumbnails of these directions (one PNG row image each)."""
        if not indices:
            return
        idx = [self.bank._index(int(i)) for i in indices]
        frames = self.thumbnails(idx)  # (K, N, S, H, W, C)
        rows, buffers = [], []
        cell = THUMB_CELL[self.size]
        for row, k in enumerate(idx):
            n, s = frames.shape[1], frames.shape[2]
            cells = frames[row].reshape(n * s, *frames.shape[3:])
            image = fit_cells(grid_tile(cells, columns=s), cell, frames.shape[3], frames.shape[4])
            buffers.append(png_bytes(image))
            rows.append({"k": k, "shifts": self.thumbnail_shifts(k), "samples": n})
        self.send({"type": "thumbs", "rows": rows}, buffers=buffers)

    def mask_preview(self, k: Any = None, shift: Any = None, threshold: Any = THRESHOLD,
                     samples: Any = None, rule: str = "ratio") -> dict[str, Any]:
        """Does direction k (default: the selected one) remove the background? The discovery paper's saliency
        test (``directions.background``): the shown samples are shifted both ways by ``shift`` (default: 2, 3, 4
        and 5 standard deviations of the latents along k), the signed shift that changes the background most
        relative to the object is kept (judged with the shifted brightness above ``threshold`` as the mask), and
        each sample's foreground mask is, with ``rule="ratio"`` (default), the pixels that keep more of their
        brightness than the image's Otsu cut (the rule whose masks trained the best saliency net, notebook 05), or
        with ``rule="brightness"`` the shifted image's brightness above ``threshold`` (the paper's rule); masks of
        implausible size (outside 2-50% of the image) are marked as discarded. ``samples`` (default: those shown,
        at most 16) are the first of the shown latents.

        Returns ``k``, ``shift`` (signed), ``threshold``, ``rule``, ``stats`` of the masks shown (plausible,
        bg_change, fg_change, bg_left, score), ``traversal`` (N, 5, H, W, C) uint8 from each sample to its shifted
        image, ``masks`` (N, H, W) bool, ``keep`` (N,) bool and ``image``, the sheet shown under the direction's
        row in the Label tab (per sample: the traversal, the mask, the sample with its background dimmed)."""
        idx = self.selected if k is None else self.bank._index(int(k))
        size = None if shift is None else values.number(shift, "mask shift", 0.0, values.MAX_RANGE, above=True)
        cut = values.number(threshold, "mask threshold", 0.0, 1.0, above=True)
        if cut >= 1:
            raise Refused(f"mask threshold must be a brightness above 0 and below 1, got {cut:g}")
        if rule not in RULES:
            raise Refused(f"mask rule must be one of {', '.join(RULES)}, got {rule!r}")
        n = min(len(self.z), MAX_MASK_SAMPLES) if samples is None else values.whole(samples, "mask samples", 1,
                                                                                     MAX_MASK_SAMPLES)
        with self._lock:
            z = self.z[:n] if len(self.z) >= n else self.generator.sample_latents(n, self.seed)
            out, stats = best_shift(self.generator, self.bank, idx, z, size, cut)
            if rule == "ratio":  # the shift stays the one chosen above; the stats describe the masks shown
                out = masks_from_renders(out.images, out.shifted, "otsu", AREA, "ratio")
                stats = {"shift": stats["shift"], **mask_stats(out)}
            steps = np.linspace(0.0, stats["shift"], MASK_STEPS).round(6).tolist()
            frames = render_traversals(self.generator, self.bank, z, [idx], steps)[0]  # (N, S, H, W, C)
        masks = out.masks.bool().cpu().numpy()
        keep = out.keep.cpu().numpy()
        sheet = mask_sheet(frames, masks, keep)
        h, w = frames.shape[2:4]
        self.send({"type": "masks", "k": idx, "shift": stats["shift"], "threshold": cut, "rule": rule, "stats": stats,
                   "columns": [f"{s:+.3g}" for s in steps] + ["mask", "object"], "kept": keep.tolist()},
                  buffers=[png_bytes(fit_cells(sheet, 56, h, w))])
        verdict = "looks like background removal" if stats["score"] >= 0.1 and stats["plausible"] >= 0.5 else (
            "does not look like background removal")
        self._say(f"masks of direction {idx} at shift {stats['shift']:+.3g}: {verdict} (background change "
                  f"{stats['bg_change']:.2f} vs object {stats['fg_change']:.2f}; {int(keep.sum())}/{n} masks of "
                  "plausible size)", "ok")
        return {"k": idx, "shift": stats["shift"], "threshold": cut, "rule": rule, "stats": stats, "traversal": frames,
                "masks": masks, "keep": keep, "image": sheet}


def fit_cells(image: np.ndarray, cell: int, h: int, w: int) -> np.ndarray:
    """Scale a thumbnail sheet so each cell is about ``cell`` px: crisp zoom for small images, smooth shrink for
    large ones (a 1024 px generator's thumbnails stay a few kB)."""
    from PIL import Image

    img = Image.fromarray(image)
    side = max(h, w)
    if side >= cell:
        factor = cell / side
        return np.asarray(img.resize((max(1, round(img.width * factor)), max(1, round(img.height * factor))),
                                     Image.LANCZOS))
    zoom = max(1, cell // side)
    return np.asarray(img.resize((img.width * zoom, img.height * zoom), Image.NEAREST))

def mask_sheet(frames: np.ndarray, masks: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """One RGB sheet for a mask preview: a row per sample with its traversal frames (N, S, H, W, C), its mask
    (white; red when the size filter discards it) and the sample with the background dimmed to a quarter."""
    n, s, h, w, c = frames.shape
    rgb = np.repeat(frames, 3, axis=-1) if c == 1 else frames
    m = masks[..., None]
    color = np.where(keep[:, None, None, None], np.array([255, 255, 255]), np.array([230, 60, 60])).astype(np.uint8)
    mask_img = np.where(m, color, 0).astype(np.uint8)
    cut = np.where(m, rgb[:, 0], rgb[:, 0] // 4).astype(np.uint8)
    cells = np.concatenate([rgb, mask_img[:, None], cut[:, None]], axis=1)  # (N, S + 2, H, W, 3)
    return grid_tile(cells.reshape(n * (s + 2), h, w, 3), columns=s + 2)
