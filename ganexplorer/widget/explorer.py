"""``Explorer``: sliders per direction, a live image, SeFa / PCA / Discover buttons, labeling and export.

A thin view over the headless core: every button calls a public method (``set_shift``, ``run_sefa``,
``discover``, ``label``, ``export_grid``...), which scripts and tests call directly. Rendering is synchronous in
the slider observer, so ipywidgets' one-update-in-flight throttle coalesces a fast drag to the latest value.
"""

from __future__ import annotations

import io
import re
import threading
from pathlib import Path
from typing import Any

import ipywidgets as w
import numpy as np
import torch
from PIL import Image

from ..directions import DirectionBank, pca, sefa
from ..directions.describe import suggest_labels
from ..directions.discovery import DiscoveryTrainer
from ..generators import Generator, load_generator
from ..traversal import render_traversals, traversal_grid
from .canvas import LiveCanvas, tile
from .pad import Pad

AUTO_LABEL = re.compile(r"^(sefa|discovery|pc|random|axis|direction|coordinate) \d+$")


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def enlarged(strip: np.ndarray, height: int) -> Image.Image:
    """An (H, W, 3) uint8 strip scaled up by a whole factor to about ``height`` pixels, crisp (nearest)."""
    zoom = max(1, height // strip.shape[0])
    return Image.fromarray(strip).resize((strip.shape[1] * zoom, strip.shape[0] * zoom), Image.NEAREST)


def curve_png(history: list[dict[str, float]]) -> bytes:
    """Accuracy and shift error over steps, drawn with matplotlib's Agg canvas (safe off the main thread)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4, 2.2), dpi=80)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(111)
    steps = [h["step"] for h in history]
    ax.plot(steps, [h["accuracy"] for h in history], label="accuracy", color="tab:blue")
    ax.set_ylim(0, 1)
    ax.set_xlabel("step")
    ax2 = ax.twinx()
    ax2.plot(steps, [h["shift_error"] for h in history], label="shift error", color="tab:orange")
    fig.legend(loc="upper center", ncol=2, fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def layer_presets(num_layers: int | None) -> list[str]:
    """The layer ranges offered for a style generator: all, then coarse / middle / fine as in the SeFa UI."""
    if not num_layers:
        return ["all"]
    ranges = [(0, 1), (2, 5), (6, 13), (6, num_layers - 1)]
    return ["all"] + list(dict.fromkeys(f"{a}-{min(b, num_layers - 1)}" for a, b in ranges if a < num_layers))


class Explorer(w.VBox):
    """Explore ``generator`` (a ``Generator``, a zoo name or a checkpoint path) along the directions of ``bank``.

    With ``bank_path`` every label, star and note is saved there at once, and reopening an Explorer with the
    same path restores them. Without a bank, the Explorer starts with the top SeFa directions.
    """

    def __init__(self, generator: Generator | str, bank: DirectionBank | None = None,
                 bank_path: str | Path | None = None, samples: int = 1, seed: int = 0, max_sliders: int = 24,
                 frame_format: str = "auto", scale: int | None = None, device: str = "auto"):
        self.generator = generator if isinstance(generator, Generator) else load_generator(generator, device=device)
        self.bank_path = Path(bank_path).expanduser() if bank_path else None
        self.max_sliders = max_sliders
        self._lock = threading.RLock()
        self._quiet = False
        self._cancel: threading.Event | None = None
        self._thread: threading.Thread | None = None
        if self.bank_path is not None and self.bank_path.exists():
            bank = DirectionBank.load(self.bank_path, generator=self.generator)
        elif bank is None:
            bank = sefa(self.generator, k=min(10, self.generator.latent_dim))
        bank.check_fits(self.generator)
        self.seed, self.samples = seed, samples
        self.z = self.generator.sample_latents(samples, seed)
        _, h, width = self.generator.image_shape
        self.canvas = LiveCanvas(fmt=frame_format, scale=scale or max(1, 256 // max(h, width)))
        self.canvas.add_class("gx-canvas")
        self._build_controls()
        right = w.VBox([self._slider_box, self._pad_box], layout=w.Layout(flex="0 0 auto"))
        super().__init__([self._toolbar, w.HBox([self.canvas, right]), self._methods,
                          self._training, self._labeling, self._export, self.status])
        self.add_class("gx-explorer")
        self._set_bank(bank)

    # --------------------------------------------------------------- layout
    def _build_controls(self) -> None:
        self.seed_box = w.IntText(value=self.seed, description="seed", layout=w.Layout(width="150px"))
        self.samples_box = w.BoundedIntText(value=self.samples, min=1, max=16, description="samples",
                                            layout=w.Layout(width="150px"))
        self.range_box = w.BoundedFloatText(value=3.0, min=0.1, max=100, description="range",
                                            layout=w.Layout(width="150px"))
        resample = w.Button(description="resample z", icon="random")
        reset = w.Button(description="reset", icon="undo")
        resample.on_click(lambda _: self._guard(self.resample))
        reset.on_click(lambda _: self._guard(self.reset))
        self.seed_box.observe(lambda c: self._guard(self.resample, c.new, self.samples), "value")
        self.samples_box.observe(lambda c: self._guard(self.resample, self.seed, c.new), "value")
        self.range_box.observe(lambda c: self._guard(self.set_range, c.new), "value")
        module = self.generator.module
        self.truncation_box = w.BoundedFloatText(value=float(getattr(module, "truncation", 1.0)), min=0.0, max=2.0,
                                                 step=0.05, description="ψ", layout=w.Layout(width="130px"),
                                                 tooltip="truncation: lower is more typical, less varied")
        self.truncation_box.observe(lambda c: self._quiet or self._guard(self.set_truncation, c.new), "value")
        self.class_box = w.BoundedIntText(value=int(getattr(module, "class_index", 0)), min=0,
                                          max=max(0, int(getattr(module, "num_classes", 1)) - 1),
                                          description="class", layout=w.Layout(width="150px"))
        self.class_box.observe(lambda c: self._quiet or self._guard(self.set_class, c.new), "value")
        family = [box for box, attr in ((self.truncation_box, "truncation"), (self.class_box, "class_index"))
                  if hasattr(module, attr)]
        self._toolbar = w.HBox([self.seed_box, self.samples_box, self.range_box, *family, resample, reset])
        self._slider_box = w.VBox(layout=w.Layout(max_height="300px", overflow="auto", width="460px"))
        self._slider_box.add_class("gx-sliders")

        self.k_box = w.BoundedIntText(value=min(10, self.generator.latent_dim), min=1,
                                      max=self.generator.latent_dim, description="K", layout=w.Layout(width="130px"))
        self.steps_box = w.BoundedIntText(value=1000, min=1, max=10**7, description="steps",
                                          layout=w.Layout(width="170px"))
        self.deformator_box = w.Dropdown(options=["ortho", "unit-norm", "linear", "random", "coordinate"],
                                         value="ortho", description="A", layout=w.Layout(width="170px"))
        presets = layer_presets(self.generator.num_layers)
        self.layers_box = w.Combobox(value="all", options=presets, description="layers", ensure_option=False,
                                     layout=w.Layout(width="170px", display="flex" if len(presets) > 1 else "none"),
                                     tooltip="SeFa on these layers' style weights; its directions move only them")
        self.layers_box.add_class("gx-layers")
        buttons = {"SeFa": lambda: self.run_sefa(self.k_box.value, self.layers_box.value or "all"),
                   "PCA": lambda: self.run_pca(self.k_box.value),
                   "Discover": lambda: self.discover(self.steps_box.value, self.k_box.value,
                                                     self.deformator_box.value),
                   "Cancel": self.cancel}
        row = []
        for name, action in buttons.items():
            button = w.Button(description=name, button_style="danger" if name == "Cancel" else "primary")
            button.add_class(f"gx-{name.lower()}")
            button.on_click(lambda _, a=action: self._guard(a))
            row.append(button)
        self._methods = w.HBox([self.k_box, self.layers_box, self.steps_box, self.deformator_box, *row])
        self.progress = w.IntProgress(value=0, min=0, max=1, description="training", layout=w.Layout(width="420px"))
        self.curve = w.Image(format="png", layout=w.Layout(width="320px"))
        self._training = w.HBox([self.progress, self.curve], layout=w.Layout(display="none"))

        self.direction_box = w.Dropdown(description="direction", layout=w.Layout(width="260px"))
        self.name_box = w.Text(description="name", continuous_update=False, layout=w.Layout(width="260px"))
        self.name_box.add_class("gx-name")
        self.star_box = w.ToggleButton(description="☆ star", layout=w.Layout(width="90px"))
        self.direction_layers = w.Combobox(options=presets, description="layers", ensure_option=False,
                                           continuous_update=False, layout=w.Layout(
                                               width="170px", display="flex" if len(presets) > 1 else "none"),
                                           tooltip="which layers this direction moves")
        self.direction_layers.observe(lambda c: self._quiet or self._guard(self._layers_typed, c.new), "value")
        self.notes_box = w.Textarea(description="notes", continuous_update=False, layout=w.Layout(width="420px"))
        self.suggestion = w.Button(description="suggest a name", tooltip="measure what this direction does")
        self.suggestion.add_class("gx-suggest")
        prev_b, next_b = w.Button(description="◀", layout=w.Layout(width="40px")), w.Button(
            description="▶", layout=w.Layout(width="40px"))
        prev_b.on_click(lambda _: self._guard(self.select, self.selected - 1))
        next_b.on_click(lambda _: self._guard(self.select, self.selected + 1))
        self.strip = w.Image(format="png")
        self.direction_box.observe(
            lambda c: self._quiet or c.new is None or self._guard(self.select, c.new), "value")
        self.name_box.observe(lambda c: self._quiet or self._guard(self.label, self.selected, c.new), "value")
        self.star_box.observe(lambda c: self._quiet or self._guard(self.star, self.selected, c.new), "value")
        self.notes_box.observe(lambda c: self._quiet or self._guard(self.note, self.selected, c.new), "value")
        self.suggestion.on_click(lambda _: self._guard(self._suggest_or_accept))
        self._labeling = w.VBox([w.HBox([prev_b, self.direction_box, next_b, self.name_box, self.star_box,
                                         self.direction_layers, self.suggestion]), self.notes_box, self.strip])

        self.pad_x = w.Dropdown(description="pad →", layout=w.Layout(width="200px"))
        self.pad_y = w.Dropdown(description="pad ↑", layout=w.Layout(width="200px"))
        self.pad = Pad(lambda u, v: self._guard(self.move_pad, u, v))
        self._pad_box = w.HBox([self.pad.canvas, w.VBox([self.pad_x, self.pad_y])])

        self.path_box = w.Text(value="ganexplorer_export", description="file", layout=w.Layout(width="300px"))
        export = {"grid PNG": lambda: self.export_grid(self.path_box.value + ".png"),
                  "GIF": lambda: self.export_gif(self.selected, self.path_box.value + ".gif"),
                  "bank": lambda: self.export_bank(self.path_box.value + ".gxb")}
        ebuttons = []
        for name, action in export.items():
            b = w.Button(description=f"save {name}")
            b.on_click(lambda _, a=action: self._guard(a))
            ebuttons.append(b)
        self._export = w.HBox([self.path_box, *ebuttons])
        self.status = w.HTML()
        self.status.add_class("gx-status")

    def _guard(self, action, *args) -> Any:
        """Run a UI action; errors go to the status line instead of vanishing in the kernel log."""
        try:
            return action(*args)
        except Exception as exc:  # noqa: BLE001 - shown to the user
            self._say(f"<b style='color:#b00'>error:</b> {type(exc).__name__}: {exc}")
            return None

    def _say(self, html: str) -> None:
        self.status.value = html

    def _build_sliders(self) -> None:
        bank, rows = self.bank, []
        self._sliders: list[w.FloatSlider] = []
        for k in range(min(len(bank), self.max_sliders)):
            r = bank.shift_range[k]
            slider = w.FloatSlider(value=0.0, min=-r, max=r, step=r / 50, description=bank.labels[k][:18],
                                   continuous_update=True, readout_format=".2f", style={"description_width": "120px"},
                                   layout=w.Layout(width="380px"))
            slider.add_class(f"gx-slider-{k}")
            slider.observe(lambda c, k=k: self._quiet or self._guard(self.set_shift, k, c.new), "value")
            score = bank.scores[k]
            badge = w.HTML(("★ " if bank.starred[k] else "") + ("" if score is None else f"{score:.3g}"))
            self._sliders.append(slider)
            rows.append(w.HBox([slider, badge]))
        self._slider_box.children = rows

    # ------------------------------------------------------------ rendering
    def frames(self) -> np.ndarray:
        """The current frames (samples, H, W, C) uint8, as shown."""
        with self._lock:
            return self.generator.render_uint8(self.bank.shift(self.z, self.shifts))

    def _render(self) -> None:
        self.canvas.show(tile(self.frames()))

    # ------------------------------------------------------------ Python API
    def set_shift(self, k: int, value: float) -> None:
        """Move direction k to ``value`` and redraw."""
        value = float(value)
        if not np.isfinite(value):
            raise ValueError(f"shift for direction {k} must be a finite number, got {value}")
        with self._lock:
            self.shifts[self.bank._index(k)] = value
        if k < len(self._sliders) and self._sliders[k].value != value:
            self._quiet = True
            self._sliders[k].value = value
            self._quiet = False
        self._render()

    def set_shifts(self, shifts: dict[int, float]) -> None:
        """Move several directions at once, with one redraw."""
        values = {self.bank._index(k): float(v) for k, v in shifts.items()}
        if not all(np.isfinite(v) for v in values.values()):
            raise ValueError(f"shifts must be finite numbers, got {shifts}")
        with self._lock:
            for k, v in values.items():
                self.shifts[k] = v
        self._quiet = True
        for k, v in values.items():
            if k < len(self._sliders):
                self._sliders[k].value = v
        self._quiet = False
        self._render()

    def move_pad(self, u: float, v: float) -> None:
        """The 2-D pad: u, v in [-1, 1] move the pad's two directions over their shift ranges."""
        kx, ky = self.pad_x.value, self.pad_y.value
        if kx is None or ky is None:
            raise ValueError("choose the pad's two directions first")
        self.set_shifts({kx: u * self.bank.shift_range[kx], ky: v * self.bank.shift_range[ky]})

    def reset(self) -> None:
        """All shifts back to 0."""
        with self._lock:
            self.shifts.zero_()
        self._quiet = True
        for s in self._sliders:
            s.value = 0.0
        self._quiet = False
        self._render()

    def resample(self, seed: int | None = None, samples: int | None = None) -> None:
        """New latents: ``seed`` (default: a fresh random one) and ``samples`` side by side."""
        self.seed = int(np.random.randint(2**31)) if seed is None else int(seed)
        self.samples = samples or self.samples
        self._quiet = True
        self.seed_box.value, self.samples_box.value = self.seed, self.samples
        self._quiet = False
        with self._lock:
            self.z = self.generator.sample_latents(self.samples, self.seed)
        self._render()
        self._refresh_strip()

    def set_truncation(self, psi: float) -> None:
        """Truncation ψ of StyleGAN2 / BigGAN: new latents are drawn (same seed) and shown."""
        if not hasattr(self.generator.module, "truncation"):
            raise ValueError(f"{self.generator.name} has no truncation setting")
        psi = float(psi)
        with self._lock:
            self.generator.module.truncation = psi  # the module checks its own range
        self._quiet = True
        self.truncation_box.value = psi
        self._quiet = False
        self.resample(self.seed)

    def set_class(self, index: int) -> None:
        """The class a class-conditional generator (BigGAN) draws; the sliders keep their values."""
        if not hasattr(self.generator.module, "class_index"):
            raise ValueError(f"{self.generator.name} is not class-conditional")
        with self._lock:
            self.generator.module.class_index = int(index)  # the module checks the range
        self._quiet = True
        self.class_box.value = int(index)
        self._quiet = False
        self._render()
        self._refresh_strip()

    def set_layers(self, k: int, layers: str) -> None:
        """Restrict direction k to a layer range ("0-1", "2-5", "all") of a style generator (autosaved)."""
        with self._lock:
            self.bank.set_layers(k, layers)
        if self.selected == k and self.direction_layers.value != layers:
            self._quiet = True
            self.direction_layers.value = layers
            self._quiet = False
        self._render()
        self._refresh_strip()
        self._say(f"direction {k} moves layers {layers}")

    def _layers_typed(self, text: str) -> None:
        try:
            self.set_layers(self.selected, text or "all")
        except ValueError:  # show the bank's range again, and the error in the status line
            self._quiet = True
            self.direction_layers.value = self.bank.layers[self.selected] or "all"
            self._quiet = False
            raise

    def set_range(self, r: float) -> None:
        """The same slider range +-r for every direction."""
        with self._lock:
            self.bank.shift_range = [float(r)] * len(self.bank)
        for s in self._sliders:
            s.min, s.max, s.step = -r, r, r / 50

    def _set_bank(self, bank: DirectionBank) -> None:
        with self._lock:
            bank.to(self.generator.device)
            if self.bank_path is not None:
                bank.autosave_path = self.bank_path
                bank.save(self.bank_path)
            self.bank = bank
            self.shifts = torch.zeros(len(bank), device=self.generator.device)
        self._build_sliders()
        self._quiet = True
        self.direction_box.options = [(f"{i}: {bank.labels[i]}", i) for i in range(len(bank))]
        for box, default in ((self.pad_x, 0), (self.pad_y, min(1, len(bank) - 1))):
            box.options = self.direction_box.options
            box.value = default
        self._quiet = False
        self.select(0)
        self._render()

    def _kept(self) -> list[int]:
        """Directions the user has touched (named, starred or annotated): they survive a new method run."""
        b = self.bank
        return [i for i in range(len(b)) if b.starred[i] or b.notes[i] or not AUTO_LABEL.match(b.labels[i])]

    def use_bank(self, bank: DirectionBank) -> None:
        """Show ``bank`` on the sliders, keeping the directions already named, starred or annotated."""
        bank.check_fits(self.generator)
        kept = self._kept()
        self._set_bank(self.bank.select(kept).extend(bank) if kept else bank)

    def run_sefa(self, k: int | None = None, layers: str = "all") -> DirectionBank:
        """SeFa directions on the sliders at once."""
        bank = sefa(self.generator, layers=layers, k=k)
        self.use_bank(bank)
        self._say(f"SeFa: {len(bank)} directions (score = eigenvalue)")
        return bank

    def run_pca(self, k: int | None = None, n_samples: int = 20000) -> DirectionBank:
        """GANSpace-style PCA directions on the sliders."""
        bank = pca(self.generator, k=k or 10, n_samples=n_samples)
        self.use_bank(bank)
        self._say(f"PCA: {len(bank)} directions (score = explained variance)")
        return bank

    def discover(self, steps: int = 1000, k: int | None = None, deformator: str = "ortho", block: bool = False,
                 log_every: int = 25, **options) -> threading.Thread:
        """Latent discovery training in a background thread (sliders keep working); the progress bar and
        curve follow it, ``cancel()`` stops it, and the directions go onto the sliders when it ends."""
        if self._thread is not None and self._thread.is_alive():
            raise RuntimeError("a discovery run is already going: cancel it first")
        trainer = DiscoveryTrainer(self.generator, k=k, deformator=deformator, **options)
        self._cancel = threading.Event()
        self.progress.max, self.progress.value = steps, 0
        self._training.layout.display = "flex"
        checkpoint = None if self.bank_path is None else self.bank_path.with_name(self.bank_path.name + ".ckpt")
        if checkpoint is not None and checkpoint.exists():
            checkpoint.unlink()  # a new run, not a resume

        def progress(step: int, metrics: dict[str, float]) -> None:
            self.progress.value = step
            self.curve.value = curve_png(trainer.history)
            self._say(f"discovery step {step}/{steps}: accuracy {metrics['accuracy']:.3f}, "
                      f"shift error {metrics['shift_error']:.3f}")

        def work() -> None:
            try:
                bank = trainer.run(steps, callback=progress, cancel=self._cancel, log_every=log_every,
                                   checkpoint=checkpoint)
                self.use_bank(bank)
                state = "finished" if bank.info["complete"] else "cancelled"
                self._say(f"discovery {state} after {bank.info['steps']} steps: {len(bank)} directions on the "
                          "sliders (score = reconstructor accuracy per direction)")
            except Exception as exc:  # noqa: BLE001 - shown to the user
                self._say(f"<b style='color:#b00'>discovery failed:</b> {type(exc).__name__}: {exc}")

        self._say(f"discovery started: {steps} steps, K={trainer.k}, deformator {deformator}")
        self._thread = threading.Thread(target=work, daemon=True, name="ganexplorer-discovery")
        self._thread.start()
        if block:
            self._thread.join()
        return self._thread

    def cancel(self) -> None:
        """Stop a running discovery; its directions so far go onto the sliders."""
        if self._cancel is not None:
            self._cancel.set()

    # -------------------------------------------------------------- labeling
    @property
    def selected(self) -> int:
        return self.direction_box.value if self.direction_box.value is not None else 0

    def select(self, k: int) -> None:
        """Make direction k the one being labelled; shows its name, star, notes and traversal strip."""
        k = k % len(self.bank)
        self._quiet = True
        self.direction_box.value = k
        self.name_box.value = self.bank.labels[k]
        self.star_box.value = self.bank.starred[k]
        self.star_box.description = "★ starred" if self.bank.starred[k] else "☆ star"
        self.notes_box.value = self.bank.notes[k]
        self.direction_layers.value = self.bank.layers[k] or "all"
        self.suggestion.description = "suggest a name"
        self._quiet = False
        self._refresh_strip()

    def _refresh_strip(self) -> None:
        k = self.selected
        r = self.bank.shift_range[k]
        shifts = np.linspace(-r, r, 7).tolist()
        z = self.z[: min(3, len(self.z))]
        frames = render_traversals(self.generator, self.bank, z, [k], shifts)[0]  # (N, S, H, W, C)
        image = enlarged(np.concatenate([tile(sample) for sample in frames], axis=0), 64 * len(frames))
        self.strip.layout.width, self.strip.layout.height = f"{image.width}px", f"{image.height}px"
        self.strip.value = _png(image)

    def _after_edit(self, k: int) -> None:
        selected = self.selected
        self._quiet = True
        options = [(f"{i}: {self.bank.labels[i]}", i) for i in range(len(self.bank))]
        for box in (self.direction_box, self.pad_x, self.pad_y):
            value = box.value
            box.options = options
            box.value = value
        self.direction_box.value = selected
        self._quiet = False
        if k < len(self._sliders):
            self._sliders[k].description = self.bank.labels[k][:18]
        where = f" (saved to {self.bank_path})" if self.bank_path else ""
        self._say(f"direction {k}: {self.bank.labels[k]!r}{' ★' if self.bank.starred[k] else ''}{where}")

    def label(self, k: int, name: str) -> None:
        """Name direction k (autosaved with ``bank_path``)."""
        self.bank.label(k, name)
        if self.selected == k and self.name_box.value != name:
            self._quiet = True
            self.name_box.value = name
            self._quiet = False
        self._after_edit(k)

    def star(self, k: int, starred: bool = True) -> None:
        self.bank.star(k, starred)
        if self.selected == k:
            self._quiet = True
            self.star_box.value = starred
            self.star_box.description = "★ starred" if starred else "☆ star"
            self._quiet = False
        self._after_edit(k)

    def note(self, k: int, text: str) -> None:
        self.bank.note(k, text)
        if self.selected == k:
            self._quiet = True
            self.notes_box.value = text
            self._quiet = False
        self._after_edit(k)

    def suggest(self, k: int) -> tuple[str, float]:
        """Measured suggestion for direction k's name, with a confidence."""
        return suggest_labels(self.generator, self.bank.select([k]), n=12)[0]

    def _suggest_or_accept(self) -> None:
        text = self.suggestion.description
        if text.startswith("use: "):
            self.label(self.selected, text[5:].rsplit(" (", 1)[0])
            self.suggestion.description = "suggest a name"
            return
        label, confidence = self.suggest(self.selected)
        self.suggestion.description = f"use: {label} ({confidence:.0%})"

    # ---------------------------------------------------------------- export
    def export_grid(self, path: str | Path, directions: list[int] | None = None) -> Path:
        """Traversal grid PNG of ``directions`` (default: the starred ones, else the first 8)."""
        if directions is None:
            directions = [i for i in range(len(self.bank)) if self.bank.starred[i]] or None
        traversal_grid(self.generator, self.bank, directions, z=self.z[:3]).save(path)
        self._say(f"saved {path}")
        return Path(path)

    def export_gif(self, k: int, path: str | Path, frames: int = 24, size: int = 256) -> Path:
        """Animated GIF of direction k: -range -> +range -> -range, the current samples side by side."""
        r = self.bank.shift_range[k]
        up = np.linspace(-r, r, frames // 2 + 1)
        shifts = np.concatenate([up[:-1], up[::-1][:-1]]).tolist()  # a loop with no repeated frame
        video = render_traversals(self.generator, self.bank, self.z, [k], shifts)[0]  # (N, S, H, W, C)
        images = [enlarged(tile(video[:, j]), size) for j in range(len(shifts))]
        images[0].save(path, save_all=True, append_images=images[1:], duration=80, loop=0)
        self._say(f"saved {path}")
        return Path(path)

    def export_bank(self, path: str | Path) -> Path:
        """Save the bank (labels, stars, notes included) somewhere else too."""
        saved = self.bank.save(path)
        self._say(f"saved {saved}")
        return saved
