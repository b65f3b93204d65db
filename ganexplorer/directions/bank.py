"""``DirectionBank``: K latent directions on the generator's device, plus what people learned about each one.

The tensor and the metadata travel together in one file (safetensors, with the metadata as JSON in its header:
``.gxb``) or in a directory (``directions.safetensors`` + a hand-editable ``bank.json``). Every write is atomic
and, with ``autosave_path`` set, every label/star/note edit is saved at once, so nothing a user typed is lost.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load, load_file, safe_open, save_file

from ..device import resolve_device
from ..files import atomic_write
from ..layers import is_all, layer_mask, parse_layers

BANK_FORMAT = "ganexplorer-bank"
BANK_VERSION = 1
SINGLE_FILE_SUFFIXES = (".gxb", ".safetensors")
SOURCES = ("sefa", "discovery", "pca", "random", "coordinate", "manual")
PER_DIRECTION = ("labels", "starred", "notes", "scores", "source", "layers", "shift_range")


def _per_direction(value: Any, k: int, name: str, default: Any) -> list:
    """A metadata field as a list of length k: a scalar is repeated, a sequence must have length k."""
    if value is None:
        value = default
    if isinstance(value, (str, bool, int, float)) or value is None:
        return [value] * k
    value = list(value.tolist() if isinstance(value, torch.Tensor) else value)
    if len(value) != k:
        raise ValueError(f"bank field '{name}' has {len(value)} entries for {k} directions")
    return value


class DirectionBank:
    """K directions ``directions`` (K, d) and per-direction lists of length K:
    ``labels``, ``starred``, ``notes``, ``scores`` (eigenvalue, accuracy...), ``source`` (sefa, discovery, pca,
    random, coordinate, manual), ``layers`` (layer range a direction applies to; None = all) and
    ``shift_range`` (suggested max |shift|). ``generator`` names the generator the bank was made for and
    ``info`` holds method settings and training history. ``num_layers`` is set for banks of layer-aware
    (style) generators: a direction whose ``layers`` is a range ("0-1", "2-5") then moves only those layers'
    latents, so shifted latents become per-layer (N, num_layers, d) (W+).
    """

    def __init__(self, directions: torch.Tensor, *, labels: Sequence[str] | None = None,
                 starred: Sequence[bool] | None = None, notes: Sequence[str] | None = None,
                 scores: Sequence[float] | None = None, source: str | Sequence[str] = "manual",
                 layers: str | Sequence[str | None] | None = None, shift_range: float | Sequence[float] = 3.0,
                 generator: str | None = None, info: dict[str, Any] | None = None, num_layers: int | None = None):
        directions = torch.as_tensor(directions, dtype=torch.float32)
        if directions.ndim != 2 or directions.shape[0] == 0:
            raise ValueError(f"directions must be a non-empty (K, d) tensor, got shape {tuple(directions.shape)}")
        if not torch.isfinite(directions).all():
            raise ValueError("directions contain NaN or inf")
        self.directions = directions
        k = directions.shape[0]
        self.labels = ([str(x) for x in _per_direction(labels, k, "labels", None)] if labels is not None
                       else [f"direction {i}" for i in range(k)])
        self.starred = [bool(x) for x in _per_direction(starred, k, "starred", False)]
        self.notes = [str(x) for x in _per_direction(notes, k, "notes", "")]
        self.scores = [None if x is None else float(x) for x in _per_direction(scores, k, "scores", None)]
        self.source = [str(x) for x in _per_direction(source, k, "source", "manual")]
        unknown = sorted(set(self.source) - set(SOURCES))
        if unknown:
            raise ValueError(f"unknown direction source {unknown}: use one of {SOURCES}")
        self.layers = [None if x is None else str(x) for x in _per_direction(layers, k, "layers", None)]
        self.num_layers = None if num_layers is None else int(num_layers)
        self._check_layers()
        self.shift_range = [float(x) for x in _per_direction(shift_range, k, "shift_range", 3.0)]
        self.generator = generator
        self.info: dict[str, Any] = dict(info or {})
        self.autosave_path: Path | None = None
        self.trainer: Any = None  # the DiscoveryTrainer that made it (this session only; keeps R for rca)

    # ----------------------------------------------------------------- basics
    def __len__(self) -> int:
        return self.directions.shape[0]

    @property
    def latent_dim(self) -> int:
        return self.directions.shape[1]

    @property
    def device(self) -> torch.device:
        return self.directions.device

    def __repr__(self) -> str:
        sources = ",".join(sorted(set(self.source)))
        return (f"DirectionBank({len(self)} directions, d={self.latent_dim}, source={sources}, "
                f"generator={self.generator!r}, device={self.device})")

    def to(self, device: str | torch.device) -> DirectionBank:
        """Move the directions (in place) and return self."""
        self.directions = self.directions.to(resolve_device(device))
        return self

    def metadata(self) -> dict[str, Any]:
        """Everything but the tensor, as plain JSON-able data."""
        return {"format": BANK_FORMAT, "version": BANK_VERSION, "generator": self.generator,
                "latent_dim": self.latent_dim, "k": len(self), "num_layers": self.num_layers, "info": self.info,
                **{name: getattr(self, name) for name in PER_DIRECTION}}

    def records(self) -> list[dict[str, Any]]:
        """One dict per direction (index, label, star, score, ...), e.g. for a table."""
        return [{"index": i, **{name: getattr(self, name)[i] for name in PER_DIRECTION}} for i in range(len(self))]

    # ---------------------------------------------------------------- editing
    def _index(self, k: int) -> int:
        if not -len(self) <= k < len(self):
            raise IndexError(f"direction {k} does not exist: this bank has {len(self)} (0..{len(self) - 1})")
        return k % len(self)

    def _edited(self) -> None:
        if self.autosave_path is not None:
            self.save(self.autosave_path)

    def label(self, k: int, name: str) -> None:
        """Name direction k (saved at once when ``autosave_path`` is set)."""
        self.labels[self._index(k)] = str(name)
        self._edited()

    def star(self, k: int, starred: bool = True) -> None:
        self.starred[self._index(k)] = bool(starred)
        self._edited()

    def note(self, k: int, text: str) -> None:
        self.notes[self._index(k)] = str(text)
        self._edited()

    def set_layers(self, k: int, layers: str | None) -> None:
        """Restrict direction k to a layer range ("0-1", "2-5", "all") of a layer-aware generator."""
        i = self._index(k)
        before, self.layers[i] = self.layers[i], None if layers is None else str(layers)
        try:
            self._check_layers()
        except ValueError:
            self.layers[i] = before
            raise
        self._edited()

    def select(self, indices: Sequence[int]) -> DirectionBank:
        """A new bank with the chosen directions (e.g. the starred ones), metadata kept."""
        idx = [self._index(i) for i in indices]
        if not idx:
            raise ValueError("select needs at least one direction index")
        return DirectionBank(self.directions[idx], generator=self.generator, info=dict(self.info),
                             num_layers=self.num_layers,
                             **{name: [getattr(self, name)[i] for i in idx] for name in PER_DIRECTION})

    def extend(self, other: DirectionBank) -> DirectionBank:
        """A new bank with ``other``'s directions appended (same latent size, same number of layers)."""
        if other.latent_dim != self.latent_dim:
            raise ValueError(f"cannot join banks of latent size {self.latent_dim} and {other.latent_dim}")
        if None not in (self.num_layers, other.num_layers) and self.num_layers != other.num_layers:
            raise ValueError(f"cannot join banks for generators with {self.num_layers} and {other.num_layers} layers")
        return DirectionBank(torch.cat([self.directions, other.directions.to(self.device)]),
                             generator=self.generator or other.generator, info={**other.info, **self.info},
                             num_layers=self.num_layers if self.num_layers is not None else other.num_layers,
                             **{name: getattr(self, name) + getattr(other, name) for name in PER_DIRECTION})

    # --------------------------------------------------------------- applying
    def _check_layers(self) -> None:
        if self.num_layers is None:
            if not all(is_all(x) for x in self.layers):
                raise ValueError("directions restricted to layer ranges need num_layers (the generator's number "
                                 "of per-layer latents): check_fits(G) with a style generator sets it")
            return
        for spec in self.layers:
            parse_layers(spec, self.num_layers)

    def _layer_masks(self) -> torch.Tensor:
        """(K, num_layers) 0/1 masks of the directions' layer ranges, built once per set of ranges: shifting
        runs on every slider move."""
        key = (tuple(self.layers), self.num_layers, self.device)
        if getattr(self, "_masks_key", None) != key:
            self._masks = torch.stack([layer_mask(spec, self.num_layers, self.device) for spec in self.layers])
            self._masks_key = key
        return self._masks

    @property
    def layered(self) -> bool:
        """True when some direction moves only some layers: shifted latents are then per layer (W+)."""
        return self.num_layers is not None and not all(is_all(x) for x in self.layers)

    def offsets(self, coeffs: torch.Tensor) -> torch.Tensor:
        """Latent offsets of coefficient vectors (..., K): (..., d), or (..., num_layers, d) when layered."""
        if not self.layered:
            return coeffs @ self.directions
        return torch.einsum("...k,kl,kd->...ld", coeffs, self._layer_masks(), self.directions)

    def _aligned(self, z: torch.Tensor, offsets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z (N, d) or (N, L, d) and offsets given the same per-layer shape, ready to add."""
        z = z.to(self.device)
        if self.layered and z.ndim == 2:
            z = z.unsqueeze(1)
        elif not self.layered and z.ndim == 3:
            offsets = offsets.unsqueeze(-2)
        return z, offsets

    def shift(self, z: torch.Tensor, shifts: torch.Tensor | Sequence[float]) -> torch.Tensor:
        """``z + shifts @ directions``: shifts (K,) for every latent, or (N, K) one row per latent. Directions
        restricted to a layer range move only those layers: the result is then (N, num_layers, d)."""
        shifts = torch.as_tensor(shifts, dtype=torch.float32, device=self.device)
        if shifts.shape[-1] != len(self) or shifts.ndim not in (1, 2):
            raise ValueError(f"shifts must have shape ({len(self)},) or (N, {len(self)}), got {tuple(shifts.shape)}")
        if not torch.isfinite(shifts).all():
            raise ValueError("shifts contain NaN or inf: every slider value must be a finite number")
        z, offsets = self._aligned(z, self.offsets(shifts))
        return z + offsets

    def traverse_many(self, z: torch.Tensor, directions: Sequence[int], shifts: Sequence[float]) -> torch.Tensor:
        """Latents ordered (direction, sample, shift), flattened: every latent of z moved along each direction
        by each shift; (K * N * S, d) or, when layered, (K * N * S, num_layers, d)."""
        steps = torch.as_tensor(list(shifts), dtype=torch.float32, device=self.device)
        if not torch.isfinite(steps).all():
            raise ValueError("shifts contain NaN or inf")
        onehot = torch.eye(len(self), device=self.device)[[self._index(k) for k in directions]]  # (K, Kbank)
        z, offsets = self._aligned(z, self.offsets(onehot[:, None, :] * steps[None, :, None]))  # (K, S, [L,] d)
        lat = z[None, :, None] + offsets[:, None]
        return lat.reshape(-1, *lat.shape[3:])

    def traverse(self, z: torch.Tensor, k: int, shifts: Sequence[float]) -> torch.Tensor:
        """Latents (len(shifts) * N, ...): every latent of z moved along direction k by each shift, shift-major."""
        lat = self.traverse_many(z, [k], shifts)  # ordered (sample, shift)
        lat = lat.reshape(len(z), len(shifts), *lat.shape[1:])
        return lat.transpose(0, 1).reshape(-1, *lat.shape[2:])

    def check_fits(self, generator: Any) -> None:
        """Raise a ValueError unless this bank's latent size (and layer count) matches ``generator`` (a
        ``Generator``); a bank without a layer count takes the generator's."""
        if generator.latent_dim != self.latent_dim:
            raise ValueError(
                f"this bank was made for generator {self.generator!r} with latent size {self.latent_dim}, but "
                f"{generator.name!r} has latent size {generator.latent_dim}: load a bank made for "
                f"{generator.name!r}, or make one with sefa()/discover() on it")
        g_layers = getattr(generator, "num_layers", None)
        if self.layered and g_layers != self.num_layers:
            raise ValueError(
                f"this bank has directions restricted to layer ranges of a generator with {self.num_layers} layers, "
                f"but {generator.name!r} has {g_layers or 'no per-layer'} latents: load a bank made for "
                f"{generator.name!r}, or set every direction's layers to 'all'")
        if g_layers is not None:
            self.num_layers = g_layers
        if self.generator and self.generator != generator.name:
            warnings.warn(f"bank was made for generator {self.generator!r}, using it with {generator.name!r}",
                          stacklevel=2)

    # ------------------------------------------------------------------- I/O
    def save(self, path: str | Path) -> Path:
        """Write atomically: ``*.gxb``/``*.safetensors`` one file, any other path a directory."""
        path = Path(path).expanduser()
        tensors = {"directions": self.directions.detach().float().cpu().contiguous()}
        meta = json.dumps(self.metadata())
        if path.suffix in SINGLE_FILE_SUFFIXES:
            atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata={"format": BANK_FORMAT, "bank": meta}))
        else:
            atomic_write(path / "directions.safetensors",
                         lambda tmp: save_file(tensors, tmp, metadata={"format": BANK_FORMAT}))
            atomic_write(path / "bank.json", lambda tmp: Path(tmp).write_text(json.dumps(self.metadata(), indent=1)))
        return path

    @classmethod
    def load(cls, path: str | Path, generator: Any = None, device: str | torch.device | None = None,
             autosave: bool = False) -> DirectionBank:
        """Read a bank saved by ``save``; with ``generator`` check it fits and move it to its device.
        ``autosave=True`` saves every later edit back to ``path``."""
        path = Path(path).expanduser()
        if not path.exists():
            raise FileNotFoundError(f"no direction bank at {path}")
        try:
            if path.is_dir():
                tensors = load_file(str(path / "directions.safetensors"))
                meta = json.loads((path / "bank.json").read_text())
            else:
                with safe_open(str(path), "pt") as fh:
                    header = fh.metadata() or {}
                if header.get("format") != BANK_FORMAT:
                    raise ValueError(f"header format is {header.get('format')!r}, not {BANK_FORMAT!r}")
                tensors = load(path.read_bytes())
                meta = json.loads(header["bank"])
            directions = tensors["directions"]
            if meta.get("format") != BANK_FORMAT or meta.get("version") != BANK_VERSION:
                raise ValueError(f"unsupported bank format/version {meta.get('format')!r}/{meta.get('version')!r}")
            if directions.ndim != 2 or list(directions.shape) != [meta["k"], meta["latent_dim"]]:
                raise ValueError(f"directions have shape {tuple(directions.shape)}, "
                                 f"metadata says ({meta['k']}, {meta['latent_dim']})")
            bank = cls(directions, generator=meta.get("generator"), info=meta.get("info"),
                       num_layers=meta.get("num_layers"), **{name: meta.get(name) for name in PER_DIRECTION})
        except (SafetensorError, OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path} is not a valid ganexplorer direction bank ({exc}); "
                             "it was left untouched: restore it from a backup or recreate it") from exc
        if generator is not None:
            bank.check_fits(generator)
            bank.to(generator.device)
        elif device is not None:
            bank.to(device)
        if autosave:
            bank.autosave_path = path
        return bank
