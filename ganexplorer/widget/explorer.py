"""``Explorer``: one large live image, sliders per direction, SeFa / PCA / Discover, a labeling gallery, exports.

Python owns the state (validated traits: shifts, seed, samples, the directions' labels...), the front-end
(``js/explorer.js``) owns the layout and the keyboard. Every button is a public method here, so scripts and
tests do what a click does. Method runs never touch the directions on the sliders: they make *proposals* that
the user applies (``apply``) or discards, and ``undo`` steps back through applied changes. Frames go to the
browser as binary messages with sequence numbers; the slider trait is synced by ipywidgets, whose front-end
keeps one update in flight, so a fast drag coalesces to its latest value.

Built from parts with one job each: ``proposals.py`` (proposals and undo, plain Python on banks), ``gallery.py``
(thumbnails, suggestions, mask previews), ``exports.py`` (numbered exports), ``your_images.py`` (projected real
images) and ``values.py`` (typed values checked); this module holds the state, rendering, the sliders, play,
the bank and the method runs.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import os
import re
import threading
import time
import warnings
import weakref
from pathlib import Path
from typing import Any

import anywidget
import numpy as np
import traitlets

from ..directions import DirectionBank, pca, sefa
from ..directions.bank import MAX_SHIFT
from ..directions.discovery import DEFORMATORS, DiscoveryTrainer
from ..frames import encode, grid_columns, grid_tile, png_bytes
from ..generators import Generator, load_generator
from ..generators.preview import PreviewPlanner
from ..traversal import render_traversals
from . import values
from .exports import EXPORT_INLINE_BYTES, ExportsPart  # noqa: F401 - re-exported
from .gallery import THUMB_CELL, THUMB_SHIFTS, GalleryPart, fit_cells, mask_sheet  # noqa: F401 - re-exported
from .proposals import AUTO_LABEL, Proposal, Proposals, duplicates, touched  # noqa: F401 - re-exported
from .proposals import keys as _keys
from .values import Refused
from .your_images import YourImagesPart

SIZES = ("normal", "large")
PREVIEW_ROWS = 10  # directions in a proposal's preview (4 for images larger than 128 px: they take long to render)
DISCOVER_LR = 1e-3  # the Discover panel's learning rate: the project's results use it (1e-4 barely moves in 1000 steps)


_LIVE: weakref.WeakSet = weakref.WeakSet()


@atexit.register
def _stop_background_work() -> None:
    """At interpreter exit, stop training, timers and renders first: a thread still inside torch while Python
    shuts down aborts the process."""
    for ex in list(_LIVE):
        ex.close_background()


def _asset(name: str) -> str:
    here = Path(__file__).parent
    for candidate in (here / name, here.parent.parent / "js" / name):  # wheel, then checkout
        if candidate.exists():
            return candidate.read_text()
    raise FileNotFoundError(f"the widget front-end {name} is missing: reinstall ganexplorer")


def checkpoint_dir() -> Path:
    """Where the Explorer keeps discovery checkpoints while a run trains: ``$GANEXPLORER_CHECKPOINTS``, else
    ``~/.cache/ganexplorer/checkpoints``. A run's file is removed when it ends unless ``keep_checkpoint=True``."""
    return Path(os.environ.get("GANEXPLORER_CHECKPOINTS", Path.home() / ".cache" / "ganexplorer" / "checkpoints"))


def layer_presets(num_layers: int | None) -> list[str]:
    """Layer ranges offered for a style generator: all, then coarse / middle / fine as in the SeFa UI."""
    if not num_layers:
        return ["all"]
    ranges = [(0, 1), (2, 5), (6, 13), (6, num_layers - 1)]
    return ["all"] + list(dict.fromkeys(f"{a}-{min(b, num_layers - 1)}" for a, b in ranges if a < num_layers))


class Explorer(GalleryPart, ExportsPart, YourImagesPart, anywidget.AnyWidget):
    """Explore ``generator`` (a ``Generator``, a zoo name or a checkpoint path) along the directions of ``bank``.

    With ``bank_path`` every label, star, note and hide is saved there at once (merged with other writers of the
    same file), and reopening an Explorer with the same path restores them. Without a bank, the Explorer starts
    with the top SeFa directions. Where a full frame takes longer than ``preview_budget`` seconds and the
    generator can stop synthesis early (StyleGAN2), a drag shows previews and the full frame when it rests.
    """

    _esm = _asset("explorer.js")
    _css = _asset("explorer.css")

    generator_info = traitlets.Dict().tag(sync=True)
    directions = traitlets.List().tag(sync=True)
    shifts = traitlets.List(traitlets.Float()).tag(sync=True)
    seed = traitlets.Int(0).tag(sync=True)
    samples = traitlets.Int(1).tag(sync=True)
    shift_range = traitlets.Float(3.0).tag(sync=True)
    truncation = traitlets.Float(1.0).tag(sync=True)
    class_index = traitlets.Int(0).tag(sync=True)
    selected = traitlets.Int(0).tag(sync=True)
    pad = traitlets.List(traitlets.Int(), [0, 1]).tag(sync=True)
    max_sliders = traitlets.Int(24).tag(sync=True)
    status = traitlets.Dict({"kind": "info", "text": ""}).tag(sync=True)
    run = traitlets.Dict({"state": "idle"}).tag(sync=True)
    proposals = traitlets.List().tag(sync=True)
    undo_steps = traitlets.List().tag(sync=True)
    exports = traitlets.List().tag(sync=True)
    export_name = traitlets.Unicode("ganexplorer_export").tag(sync=True)
    real_images = traitlets.List().tag(sync=True)  # projected real images: original, fit, place in the grid
    projecting = traitlets.Dict({"state": "idle"}).tag(sync=True)
    size = traitlets.Unicode("normal").tag(sync=True)  # "large": class mode, for a projector (``present()``)
    playing = traitlets.Int(-1).tag(sync=True)  # the direction being played (swept back and forth), -1: none
    snapshot = traitlets.Bytes(b"").tag(sync=True)  # the last frame as PNG: shown first, and in saved notebooks
    frame_format = traitlets.Unicode("auto")

    def __init__(self, generator: Generator | str, bank: DirectionBank | None = None,
                 bank_path: str | Path | None = None, samples: int = 1, seed: int = 0, max_sliders: int = 24,
                 frame_format: str = "auto", device: str = "auto", preview_budget: float = 0.2, size: str = "normal",
                 **kwargs: Any):
        kwargs.pop("scale", None)  # the front-end fits the image to the available width now
        samples = values.whole(samples, "samples", 1, values.MAX_SAMPLES)
        seed = values.whole(seed, "seed", 0, values.MAX_SEED)
        max_sliders = values.whole(max_sliders, "max_sliders", 1, 10**6)
        size = values.choice(size, "size", SIZES)
        self.generator = generator if isinstance(generator, Generator) else load_generator(generator, device=device)
        self.bank_path = Path(bank_path).expanduser().resolve() if bank_path else None
        self._lock = threading.RLock()
        self._seq = 0
        self._last_frame: tuple[dict, bytes] | None = None
        self._snapshot_timer: threading.Timer | None = None
        self._cancel: threading.Event | None = None
        self._thread: threading.Thread | None = None
        self._book = Proposals()  # open proposals and undo steps (plain Python: widget/proposals.py)
        self._suggestions: dict[bytes, tuple[str, float]] = {}
        self._suggest_wanted: list[int] = []
        self._suggest_thread: threading.Thread | None = None
        self._quiet = False
        self._version = 0
        self._send_lock = threading.Lock()
        self._settle_timer: threading.Timer | None = None
        self.settle_seconds = 0.15
        self._last_frames: np.ndarray | None = None
        self._real: list[dict[str, Any]] = []
        self._project_thread: threading.Thread | None = None
        self._project_cancel: threading.Event | None = None
        self._play_stop: threading.Event | None = None
        self._play_thread: threading.Thread | None = None
        if self.bank_path is not None and self.bank_path.exists():
            bank = DirectionBank.load(self.bank_path, generator=self.generator, autosave=True)
        elif bank is None:
            bank = sefa(self.generator, k=min(10, self.generator.latent_dim))
        bank.check_fits(self.generator)
        module = self.generator.module
        c, h, w = self.generator.image_shape
        super().__init__(seed=seed, samples=samples, max_sliders=max_sliders, size=size,
                         truncation=float(getattr(module, "truncation", 1.0)),
                         class_index=int(getattr(module, "class_index", 0)), **kwargs)
        self.frame_format = frame_format
        self.generator_info = {
            "name": self.generator.name, "latent_dim": self.generator.latent_dim, "channels": c, "height": h,
            "width": w, "num_layers": self.generator.num_layers, "layer_presets": layer_presets(
                self.generator.num_layers), "truncation": hasattr(module, "truncation"),
            "classes": int(getattr(module, "num_classes", 0)) if hasattr(module, "class_index") else 0,
            "deformators": ["ortho"] + [d for d in DEFORMATORS if d != "ortho"],
            "max_samples": values.MAX_SAMPLES, "max_steps": values.MAX_STEPS, "discover_lr": DISCOVER_LR,
            "prefetch_thumbnails": h * w <= 128 * 128,  # every row's thumbnails at once: cheap for small images
            "bank_path": str(self.bank_path) if self.bank_path else None}
        self.z = self.generator.sample_latents(samples, seed)
        self._planner = PreviewPlanner(self.generator, preview_budget)
        _LIVE.add(self)
        self.on_msg(self._on_message)
        self.observe(self._on_shifts, "shifts")
        self._set_bank(bank)
        self._say(f"{len(bank)} directions on the sliders. Drag one, or find new directions under "
                  "'Find directions'; name them under 'Label'.")

    def _repr_mimebundle_(self, **kwargs: Any) -> dict:
        """The widget, plus its first frame as a PNG for viewers that cannot run widgets (GitHub, nbviewer).
        JupyterLab itself keeps the live last frame in the notebook when Settings > Save Widget State
        Automatically is on (the ``snapshot`` trait)."""
        bundle = super()._repr_mimebundle_(**kwargs)  # a dict, or (data, metadata) from anywidget
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        if data is not None and self.snapshot:
            data["image/png"] = base64.b64encode(self.snapshot).decode()
        return bundle

    def close_background(self, timeout: float = 30.0) -> None:
        """Stop this Explorer's background work (training, pending frames, suggestions) and wait for it."""
        for event in (self._cancel, self._project_cancel, self._play_stop):
            if event is not None:
                event.set()
        self._suggest_wanted.clear()
        for timer in (self._settle_timer, self._snapshot_timer):
            if timer is not None:
                timer.cancel()
        for thread in (self._thread, self._suggest_thread, self._settle_timer, self._snapshot_timer,
                       self._project_thread, self._play_thread):
            if thread is not None and thread.is_alive():
                thread.join(timeout)

    # ------------------------------------------------------------ messages
    def _on_message(self, _widget: Any, content: dict, _buffers: Any) -> None:
        kind = content.get("type")
        if kind == "ready" and self._last_frame is not None:
            self.send(*self._last_frame[:1], buffers=[self._last_frame[1]])
        elif kind == "ping":
            self.send({"type": "pong", "id": content.get("id")})
        elif kind == "cmd":
            args = dict(content.get("args") or {})
            if _buffers:  # a file from the browser (an uploaded or drawn image)
                args["data"] = bytes(_buffers[0])
            self._command(content.get("id"), str(content.get("name")), args)

    COMMANDS = ("set_seed", "set_samples", "set_range", "set_truncation", "set_class", "resample", "reset",
                "select", "set_pad", "run_sefa", "run_pca", "discover", "cancel", "apply", "discard", "undo",
                "label", "star", "note", "hide", "set_layers", "accept_suggestion", "request_suggestions",
                "request_thumbnails", "export_grid", "export_gif", "export_mp4", "export_bank", "set_export_name",
                "refresh", "add_image", "remove_image", "mask_preview", "play", "stop", "present")

    def _command(self, cid: Any, name: str, args: dict) -> None:
        """A button or a typed value from the front-end: run the public method; a refusal or error goes to the
        status line and the reply, so the front-end puts the input back to the value in use."""
        ok, error, start = True, "", time.time()
        try:
            if name not in self.COMMANDS:
                raise Refused(f"unknown command {name!r}")
            getattr(self, name)(**args)
            if self.status.get("kind") == "error" and self.status.get("t", 0) < start:
                self._say(f"{name.replace('_', ' ')}: done", "ok")  # an older error no longer stands
        except Exception as exc:  # noqa: BLE001 - shown to the user, never lost in the kernel log
            ok, error = False, str(exc) if isinstance(exc, Refused) else f"{type(exc).__name__}: {exc}"
            self._say(error, "error")
        said = self.status if self.status.get("t", 0) >= start else None  # what this command said, if anything
        self.send({"type": "reply", "id": cid, "ok": ok, "error": error, "status": said})

    def _say(self, text: str, kind: str = "info") -> None:
        self.status = {"kind": kind, "text": text, "t": time.time()}

    # ------------------------------------------------------------ rendering
    def frames(self) -> np.ndarray:
        """The current frames (samples, H, W, C) uint8, as shown."""
        with self._lock:
            return self.generator.render_uint8(self.bank.shift(self.z, self.shifts))

    def _render(self) -> None:
        """A full-quality frame of the current state."""
        self._version += 1
        start = time.perf_counter()
        frames = self.frames()
        self._planner.record_full(time.perf_counter() - start)
        self._send_frame(frames, "full")

    def _send_frame(self, frames: np.ndarray, quality: str) -> None:
        n, th, tw = frames.shape[:3]
        cols = grid_columns(n)
        image = grid_tile(frames, cols)
        fmt, data = encode(image, self.frame_format)
        with self._send_lock:
            self._seq += 1
            msg = {"type": "frame", "seq": self._seq, "format": fmt, "width": image.shape[1],
                   "height": image.shape[0], "quality": quality, "size": max(th, tw),
                   "tiles": {"n": n, "tw": tw, "th": th, "gap": max(1, tw // 16), "cols": cols}}
            self.send(msg, buffers=[data])
        if quality == "full":
            self._last_frames = frames
            self._last_frame = (msg, data, image)
            self._schedule_snapshot()

    def _moved(self) -> None:
        """The sliders or the pad moved. Where a full frame takes longer than the frame budget and the
        generator can stop early, show a preview now and the full frame once the input rests."""
        last = self._last_frames
        if not self._planner.wanted(len(self.z)) or (not self._planner.sizes and (
                last is None or len(last) != len(self.z))):
            self._render()
            return
        self._version += 1
        with self._lock:
            frames, size = self._planner.render(self.bank.shift(self.z, self.shifts))
        if size is None:  # the first sample follows the drag, the others stay as last shown until it rests
            frames = np.concatenate([frames, last[1:]])
        self._send_frame(frames, "preview" if size else "partial")
        if self._settle_timer is not None:
            self._settle_timer.cancel()
        self._settle_timer = threading.Timer(self.settle_seconds, self._settled, args=(self._version,))
        self._settle_timer.daemon = True
        self._settle_timer.start()

    def _settled(self, version: int) -> None:
        """The full frame after a drag; thrown away if the input moved again while it rendered."""
        if version != self._version:
            return
        with self._lock:
            start = time.perf_counter()
            frames = self.frames()
            self._planner.record_full(time.perf_counter() - start)
        if version == self._version:
            self._send_frame(frames, "full")

    def _schedule_snapshot(self) -> None:
        """The saved-state image follows the live one once the sliders rest (not on every frame of a drag)."""
        if self._snapshot_timer is not None:
            self._snapshot_timer.cancel()
        if not self.snapshot:
            self._store_snapshot()
            return
        self._snapshot_timer = threading.Timer(0.5, self._store_snapshot)
        self._snapshot_timer.daemon = True
        self._snapshot_timer.start()

    def _store_snapshot(self) -> None:
        if self._last_frame is not None:
            self.snapshot = png_bytes(self._last_frame[2])

    def _on_shifts(self, change: dict) -> None:
        if self._quiet:
            return
        new = list(change["new"])
        if len(new) != len(self.bank) or not all(np.isfinite(v) and abs(v) <= MAX_SHIFT for v in new):  # keep ours
            old = list(change["old"])
            self._quiet = True
            try:
                self.shifts = old if len(old) == len(self.bank) else [0.0] * len(self.bank)
            finally:
                self._quiet = False
            return
        self._moved()

    # ------------------------------------------------------------ explore
    def set_shift(self, k: int, value: float) -> None:
        """Move direction k to ``value`` and redraw."""
        self.set_shifts({k: value})

    def set_shifts(self, shifts: dict[int, float]) -> None:
        """Move several directions at once, with one redraw."""
        new = list(self.shifts)
        for k, v in shifts.items():  # every value checked before any is stored: a refused one never renders
            i = self.bank._index(int(k))
            new[i] = values.number(v, f"shift of direction {i}", -MAX_SHIFT, MAX_SHIFT)
        self.shifts = new

    def set_pad(self, x: int, y: int) -> None:
        """The two directions the 2-D pad moves (x across, y up)."""
        self.pad = [self.bank._index(int(x)), self.bank._index(int(y))]

    def move_pad(self, u: float, v: float) -> None:
        """The 2-D pad: u, v in [-1, 1] move the pad's two directions over their shift ranges."""
        kx, ky = self.pad
        u, v = values.number(u, "pad across (u)", -1.0, 1.0), values.number(v, "pad up (v)", -1.0, 1.0)
        self.set_shifts({kx: u * self.bank.shift_range[kx], ky: v * self.bank.shift_range[ky]})

    def reset(self) -> None:
        """All shifts back to 0."""
        self.stop(quiet=True)
        self.shifts = [0.0] * len(self.bank)

    def play(self, k: Any = None, period: Any = 3.0, loops: Any = None) -> threading.Thread:
        """Sweep direction k (default: the selected one) back and forth over its range in the live image, as
        fast as frames render (at most 30 a second), one sweep -range -> +range -> -range every ``period``
        seconds, until ``stop()`` or after ``loops`` sweeps; the other sliders keep working, and k's shift goes
        back to where it was when the playing stops."""
        k = self.selected if k is None else self.bank._index(int(k))
        period = values.number(period, "period (seconds)", 0.0, 3600.0, above=True)
        loops = None if loops is None else values.whole(loops, "loops", 1, 10**6)
        self.stop(quiet=True)
        stop = self._play_stop = threading.Event()
        start_value, r, bank = float(self.shifts[k]), float(self.bank.shift_range[k]), self.bank

        def work() -> None:
            t0 = time.perf_counter()
            try:
                while not stop.is_set() and self.bank is bank:
                    t = time.perf_counter() - t0
                    if loops is not None and t >= loops * period:
                        break
                    tick = time.perf_counter()
                    new = list(self.shifts)
                    new[k] = -r * float(np.cos(2 * np.pi * t / period))  # starts at -r, +r half way
                    self.shifts = new  # renders (the observer), so this loop runs at the render rate
                    stop.wait(max(0.0, 1 / 30 - (time.perf_counter() - tick)))
            except Exception as exc:  # noqa: BLE001 - shown to the user
                self._say(f"playing direction {k} stopped: {type(exc).__name__}: {exc}", "error")
            finally:
                if self.bank is bank:
                    new = list(self.shifts)
                    new[k] = start_value
                    self.shifts = new
                if self._play_stop is stop:
                    self.playing = -1

        self.playing = k
        self._play_thread = threading.Thread(target=work, daemon=True, name="ganexplorer-play")
        self._play_thread.start()
        self._say(f"playing direction {k} ({self.bank.labels[k]}): ±{r:.3g} every {period:g} s — stop to end", "ok")
        return self._play_thread

    def stop(self, quiet: bool = False) -> None:
        """Stop playing a direction; its shift goes back to where it was."""
        event, thread = self._play_stop, self._play_thread
        if event is None or thread is None or not thread.is_alive():
            if not quiet:
                self._say("nothing is playing")
            return
        event.set()
        if thread is not threading.current_thread():
            thread.join(10)
        if not quiet:
            self._say("stopped playing; the shifts are as before", "ok")

    def set_seed(self, seed: Any) -> None:
        """New latents from ``seed`` (0..2^31-1); anything else is refused and the seed stays."""
        self.resample(values.whole(seed, "seed", 0, values.MAX_SEED), self.samples)
        self._say(f"seed {self.seed}: new samples", "ok")

    def set_samples(self, samples: Any) -> None:
        """How many samples the image shows as a grid (1..64)."""
        self.resample(self.seed, values.whole(samples, "samples", 1, values.MAX_SAMPLES))
        self._say(f"{self.samples} sample{'s' if self.samples > 1 else ''}", "ok")

    def resample(self, seed: int | None = None, samples: int | None = None) -> None:
        """New latents: ``seed`` (default: a fresh random one) and ``samples`` in the grid."""
        seed = int(np.random.randint(values.MAX_SEED)) if seed is None else values.whole(seed, "seed", 0,
                                                                                          values.MAX_SEED)
        samples = self.samples if samples is None else values.whole(samples, "samples", 1, values.MAX_SAMPLES)
        with self._lock:
            self.z = self._with_real(self.generator.sample_latents(samples, seed))
        self.seed, self.samples = seed, samples
        self._render()
        self.send({"type": "thumbs-stale"})

    def set_range(self, r: Any) -> None:
        """The same slider range +-r for every direction (0 < r <= 100); shifts beyond it are pulled in. Where the
        directions had ranges of their own, the message says they were replaced and what they were."""
        r = values.number(r, "range", 0.0, values.MAX_RANGE, above=True)
        old = sorted(set(self.bank.shift_range))
        with self._lock, self._bank_lock():
            if self.bank_path is not None:
                self._picked_up(self.bank.refresh())
            self.bank.shift_range = [r] * len(self.bank)
            if self.bank_path is not None:  # saved at once, like every other edit
                self.bank.save(self.bank_path)
        self.shift_range = r
        self._publish_directions()
        pulled = any(abs(s) > r for s in self.shifts)
        if pulled:
            self.shifts = [max(-r, min(r, s)) for s in self.shifts]
        own = (f"; the directions' own ranges (±{old[0]:.3g} to ±{old[-1]:.3g}) were replaced" if len(old) > 1
               else "")
        self._say(f"every slider now spans ±{r:g}" + (" (shifts beyond it were pulled in)" if pulled else "") + own,
                  "warn" if own else "ok")
        self.send({"type": "thumbs-stale"})

    def set_truncation(self, psi: Any) -> None:
        """Truncation psi of StyleGAN2 / BigGAN: new latents are drawn (same seed) and shown."""
        if not hasattr(self.generator.module, "truncation"):
            raise Refused(f"{self.generator.name} has no truncation setting")
        psi = values.number(psi, "truncation ψ", -1.0, 2.0)
        with self._lock:
            self.generator.module.truncation = psi  # the module checks its own range
        self.truncation = psi
        self.resample(self.seed)
        self._say(f"truncation ψ = {psi:g} (1 = none; lower = more typical, less varied)", "ok")

    def set_class(self, index: Any) -> None:
        """The class a class-conditional generator (BigGAN) draws; the sliders keep their values."""
        if not hasattr(self.generator.module, "class_index"):
            raise Refused(f"{self.generator.name} is not class-conditional")
        n = int(getattr(self.generator.module, "num_classes", 1))
        index = values.whole(index, "class", 0, n - 1)
        with self._lock:
            self.generator.module.class_index = index
        self.class_index = index
        self._say(f"class {index}", "ok")
        self._render()
        self.send({"type": "thumbs-stale"})

    def present(self, on: bool = True) -> None:
        """Class mode, for a projector: the image as large as the window allows, larger text, and thumbnails and
        previews that fill the space they have (click one to enlarge it). ``present(False)`` goes back."""
        self.size = "large" if on else "normal"
        self.send({"type": "thumbs-stale"})  # thumbnails again, at the size the mode shows them
        self._say("class mode: large image, text and thumbnails (present(False) goes back)" if on else
                  "normal size", "ok")

    def select(self, k: int) -> None:
        """The direction being labelled (the gallery's current row)."""
        self.selected = self.bank._index(int(k))

    # ------------------------------------------------------------ the bank
    def _bank_lock(self) -> contextlib.AbstractContextManager:
        """The bank file's lock (other Explorers, processes), so refresh + compose + save is one step."""
        return DirectionBank.locked(self.bank_path) if self.bank_path is not None else contextlib.nullcontext()

    def _set_bank(self, bank: DirectionBank, shifts: list[float] | None = None) -> None:
        self.stop(quiet=True)  # the played direction's index means another direction now
        with self._lock:
            bank.to(self.generator.device)
            if self.bank_path is not None:
                bank.save(self.bank_path)
                bank.autosave_path = self.bank_path
            self.bank = bank
            self._quiet = True
            try:
                self.shifts = shifts if shifts is not None else [0.0] * len(bank)
            finally:
                self._quiet = False
        self.selected = min(self.selected, len(bank) - 1)
        self.pad = [min(p, len(bank) - 1) for p in self.pad]
        self._publish_directions()
        self._render()
        self.send({"type": "thumbs-stale"})

    def _publish_directions(self) -> None:
        b = self.bank
        hidden = b.hidden
        rows, keys = [], _keys(b)
        for i in range(len(b)):
            suggestion = self._suggestions.get(keys[i])
            rows.append({"label": b.labels[i], "starred": b.starred[i], "notes": b.notes[i], "score": b.scores[i],
                         "source": b.source[i], "layers": b.layers[i] or "all", "range": b.shift_range[i],
                         "hidden": bool(hidden[i]), "named": not AUTO_LABEL.match(b.labels[i]),
                         "kept": self._touched(i),
                         "suggestion": suggestion[0] if suggestion else None,
                         "confidence": suggestion[1] if suggestion else None})
        self.directions = rows
        if len(set(b.shift_range)) == 1:  # the range box shows the directions' range (their span when they differ)
            self.shift_range = float(b.shift_range[0])
        if len(self.shifts) != len(b):  # another writer changed K: the slider values start again at 0
            self.shifts = [0.0] * len(b)

    def _touched(self, i: int) -> bool:
        """The user named, starred, annotated or hid direction i: no method run may replace it."""
        return touched(self.bank, i)

    def _picked_up(self, messages: Any) -> None:
        """Show what another writer of the same bank file changed (the bank merged it in)."""
        messages = list(messages or [])
        if messages:
            shown = "; ".join(messages[:3]) + (f" (+{len(messages) - 3} more)" if len(messages) > 3 else "")
            self._say(f"another writer changed {self.bank_path.name}: {shown}", "warn")

    def refresh(self) -> list[str]:
        """Pick up edits another Explorer or process saved to ``bank_path``; returns what changed."""
        if self.bank_path is None:
            return []
        before = len(self.bank)
        messages = list(self.bank.refresh() or [])
        if len(self.bank) != before:
            self._set_bank(self.bank)
        else:
            self._publish_directions()
        self._picked_up(messages)
        return messages

    def _edit(self, k: int, action: str, *args: Any) -> None:
        """A label / star / note / hide / layers edit, saved at once (merged with other writers by the bank)."""
        k = self.bank._index(int(k))
        try:
            getattr(self.bank, action)(k, *args)
        except ValueError:
            self._publish_directions()  # the bank may have been refreshed to another writer's version
            raise
        self._publish_directions()
        where = f" · saved to {self.bank_path.name}" if self.bank_path else ""
        b = self.bank
        self._say(f"direction {k}: {b.labels[k]!r}{' ★' if b.starred[k] else ''}{where}", "ok")
        self._picked_up(getattr(b, "changes", None))

    def label(self, k: int, name: str) -> None:
        """Name direction k (autosaved with ``bank_path``). An empty name is refused (it would leave a slider no
        one can tell apart, and no run could replace it); a name another direction has is kept, with a warning."""
        name = str(name)
        if not name.strip():
            raise Refused(f"a direction's name cannot be empty: direction {self.bank._index(int(k))} keeps "
                          f"{self.bank.labels[self.bank._index(int(k))]!r}")
        self._edit(k, "label", name)
        k = self.bank._index(int(k))
        twins = [i for i, other in enumerate(self.bank.labels) if i != k and other.strip() == name.strip()]
        if twins:
            self._say(f"direction {k} is now {name!r}, and so is direction{'s' if len(twins) > 1 else ''} "
                      f"{', '.join(map(str, twins))}: two sliders with one name — rename one to tell them apart",
                      "warn")

    def star(self, k: int, starred: bool = True) -> None:
        self._edit(k, "star", bool(starred))

    def note(self, k: int, text: str) -> None:
        self._edit(k, "note", str(text))

    def hide(self, k: int, hidden: bool = True) -> None:
        """Hide direction k from the sliders and the gallery's default view (kept in the bank)."""
        self._edit(k, "hide", bool(hidden))

    def set_layers(self, k: int, layers: Any) -> None:
        """Restrict direction k to a layer range ("0-1", "2-5", "all") of a style generator (autosaved)."""
        spec = values.layer_range(layers, self.generator.num_layers)
        self._edit(k, "set_layers", spec)
        self._render()
        self.send({"type": "thumbs-stale", "k": self.bank._index(int(k))})

    # ------------------------------------------------------------ methods: proposals
    def _propose(self, method: str, bank: DirectionBank, complete: bool = True, summary: str = "") -> Proposal:
        proposal = self._book.add(method, bank, complete, summary)
        try:
            with self._lock:
                c, h, w = self.generator.image_shape
                top = list(range(min(PREVIEW_ROWS if h * w <= 128 * 128 else 4, len(bank))))
                r = max(bank.shift_range[i] for i in top)
                frames = render_traversals(self.generator, bank, self.z[:1], top, np.linspace(-r, r, 5).tolist())
            sheet = grid_tile(frames.reshape(-1, *frames.shape[3:]), columns=5)  # rows: directions, cols: shifts
            proposal.preview = "data:image/png;base64," + base64.b64encode(
                png_bytes(fit_cells(sheet, THUMB_CELL[self.size], *frames.shape[3:5]))).decode()
            proposal.preview_note = (f"rows: directions 0-{len(top) - 1} of {len(bank)}; columns: shifts "
                                     f"{-r:.3g} … {r:+.3g}")
        except Exception:  # noqa: BLE001 - a preview is a nicety; the proposal stands without it
            proposal.preview = ""
        self._publish_proposals()
        return proposal

    def _publish_proposals(self) -> None:
        self.proposals = self._book.meta()

    def _k(self, k: Any, default: int) -> int:
        d = self.generator.latent_dim
        return default if k is None else values.whole(k, "K (number of directions)", 1, d)

    def run_sefa(self, k: Any = None, layers: Any = "all", apply: bool = False) -> DirectionBank:
        """SeFa directions as a proposal (``apply=True`` applies it at once, keeping named directions)."""
        k = self._k(k, min(10, self.generator.latent_dim))
        spec = values.layer_range(layers, self.generator.num_layers)
        bank = sefa(self.generator, layers=spec, k=k)
        p = self._propose("SeFa", bank, summary=f"{len(bank)} directions, layers {spec}, score = eigenvalue")
        self._say(f"SeFa: {len(bank)} directions proposed — apply them or keep what you have", "ok")
        if apply:
            self.apply(p.id)
        return bank

    def run_pca(self, k: Any = None, n_samples: int = 20000, apply: bool = False) -> DirectionBank:
        """GANSpace-style PCA directions as a proposal."""
        k = self._k(k, min(10, self.generator.latent_dim))
        with self._lock:
            bank = pca(self.generator, k=k, n_samples=n_samples, progress=False)  # the status line says it
        p = self._propose("PCA", bank, summary=f"{len(bank)} directions, score = explained variance")
        self._say(f"PCA: {len(bank)} directions proposed — apply them or keep what you have", "ok")
        if apply:
            self.apply(p.id)
        return bank

    def apply(self, proposal: int | None = None, mode: str = "replace") -> DirectionBank:
        """Put a proposal on the sliders. ``replace``: the proposal's directions replace the current ones except
        those you named, starred, annotated or hid; ``add``: appended to all current ones. A proposal direction
        equal to one kept (|cosine| > 0.999, same layers) is not added again. ``undo()`` reverts."""
        mode = values.choice(mode, "mode", ("replace", "add"))
        self._book.get(proposal)  # refused before the bank file is locked
        with self._bank_lock():
            if self.bank_path is not None:
                self._picked_up(self.bank.refresh())
            done = self._book.apply(self.bank, proposal, mode)
            try:
                self._set_bank(done.bank)
            except Exception:
                self._book.steps.pop()  # nothing changed: the proposal stays open, no undo step
                self._book.open.append(done.proposal)
                raise
        self._publish_proposals()
        self._publish_undo()
        self._say(done.message(), "ok")
        return done.bank

    def discard(self, proposal: int | None = None) -> None:
        p = self._book.discard(proposal)
        self._publish_proposals()
        self._say(f"discarded {p.method} #{p.id}; the sliders are unchanged")

    def undo(self) -> DirectionBank:
        """Restore the directions before the last applied change. Directions you named after that change are
        carried over, never dropped; the undone proposal is open again."""
        with self._bank_lock():
            done = self._book.undo(self.bank)
            self._set_bank(done.bank)
        self._publish_undo()
        self._publish_proposals()
        self._say(done.message(), "ok")
        return done.bank

    def _publish_undo(self) -> None:
        self.undo_steps = self._book.step_names()

    # ------------------------------------------------------------ discovery
    def discover(self, steps: Any = 1000, k: Any = None, deformator: str = "ortho", block: bool = False,
                 log_every: int = 25, keep_checkpoint: bool = False, lr: Any = DISCOVER_LR,
                 **options: Any) -> threading.Thread:
        """Latent discovery training in a background thread (sliders keep working); progress follows it (with
        elapsed time and an estimate of the time left), and its directions arrive as a proposal when it ends
        (marked incomplete if cancelled). ``lr`` is the learning rate (default 1e-3, the rate the project's
        results use: 1000 steps reach about twice the accuracy they reach at the trainer's cautious 1e-4). The
        checkpoint lives in ``checkpoint_dir()`` while it trains and is removed at the end unless
        ``keep_checkpoint``."""
        if self._thread is not None and self._thread.is_alive():
            raise Refused("a discovery run is already going: cancel it first")
        steps = values.whole(steps, "steps", 1, values.MAX_STEPS)
        k = self._k(k, self.generator.latent_dim)
        deformator = values.choice(deformator, "directions (deformator)", tuple(DEFORMATORS))
        lr = values.number(lr, "learning rate", 0.0, 1.0, above=True)
        self._cancel = cancel = threading.Event()
        run: dict[str, Any] = {"state": "starting", "method": "Discover", "step": 0, "total": steps, "k": k,
                               "deformator": deformator, "lr": lr, "history": [], "chance": 1 / k,
                               "started": time.time(), "elapsed": 0.0, "eta": None}
        self.run = dict(run)
        self._say(f"discovery starting: {steps} steps, K={k}, {deformator} directions, learning rate {lr:g}",
                  "info")
        ckpt = checkpoint_dir() / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', self.generator.name)}-{os.getpid()}-" \
                                  f"{int(time.time() * 1000)}.ckpt"

        def progress(step: int, metrics: dict[str, float]) -> None:
            run["history"] = run["history"] + [[step, round(metrics["accuracy"], 4),
                                                round(metrics["shift_error"], 4)]]
            elapsed = time.time() - run["started"]
            run.update(state="running", step=step, accuracy=metrics["accuracy"],
                       shift_error=metrics["shift_error"], elapsed=round(elapsed, 1),
                       eta=round(elapsed / max(step, 1) * (steps - step), 1))
            self.run = dict(run)

        def work() -> None:
            try:
                ckpt.parent.mkdir(parents=True, exist_ok=True)
                trainer = DiscoveryTrainer(self.generator, k=k, deformator=deformator, lr=lr, **options)
                run["state"] = "running"
                self.run = dict(run)
                with warnings.catch_warnings(record=True) as caught:  # e.g. "not converged": shown, not logged
                    warnings.simplefilter("always")
                    bank = trainer.run(steps, callback=progress, cancel=cancel, log_every=log_every,
                                       checkpoint=ckpt)
                notes = [str(w.message).split(" (")[0] for w in caught if issubclass(w.category, UserWarning)]
                done = bank.info.get("steps", steps)
                complete = bool(bank.info.get("complete", True))
                if done == 0:
                    run.update(state="cancelled", step=0, ended=time.time())
                    self.run = dict(run)
                    self._say("discovery cancelled before its first step: nothing to propose", "ok")
                    return
                summary = (f"{len(bank)} {deformator} directions after {done} of {steps} steps, score = "
                           "reconstructor accuracy per direction" + "".join(f"; {n}" for n in notes))
                p = self._propose("Discover", bank, complete, summary if complete else "INCOMPLETE: " + summary)
                run.update(state="done" if complete else "cancelled", step=done, proposal=p.id,
                           ended=time.time(), elapsed=round(time.time() - run["started"], 1), eta=0.0)
                self.run = dict(run)
                word = "finished" if complete else f"cancelled at step {done}"
                self._say(f"discovery {word}: its {len(bank)} directions are proposal #{p.id}"
                          f"{'' if complete else ' (marked incomplete)'}; the sliders are unchanged", "ok")
            except Exception as exc:  # noqa: BLE001 - shown to the user
                run.update(state="failed", message=f"{type(exc).__name__}: {exc}", ended=time.time())
                self.run = dict(run)
                self._say(f"discovery failed: {type(exc).__name__}: {exc}", "error")
            finally:
                if keep_checkpoint and ckpt.exists():
                    self._say(f"{self.status['text']} · checkpoint kept at {ckpt}", self.status["kind"])
                else:
                    ckpt.unlink(missing_ok=True)

        self._thread = threading.Thread(target=work, daemon=True, name="ganexplorer-discovery")
        self._thread.start()
        if block:
            self._thread.join()
        return self._thread

    def cancel(self) -> None:
        """Stop a running discovery: the sliders stay as they are, the directions so far become a proposal
        marked incomplete."""
        if self._thread is None or not self._thread.is_alive():
            raise Refused("no discovery run is going")
        self._cancel.set()
        self.run = {**self.run, "state": "cancelling"}
        self._say("cancelling discovery: its directions so far will be a proposal marked incomplete")



