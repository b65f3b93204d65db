"""``DirectionBank``: K latent directions on the generator's device, plus what people learned about each one.

The tensor and the metadata travel together in one file (safetensors, with the metadata as JSON in its header:
``.gxb``) or in a directory (a hand-editable ``bank.json`` that names its tensor file ``directions.<n>.safetensors``).

Nothing a user typed is lost, whatever the other writers of the same bank do:

- every direction has a stable id (``bank.ids``), saved in the file; merges match directions by id;
- with ``autosave_path`` set, each edit (``label``, ``star``, ``note``, ``hide``, ``set_layers``) is applied as
  read-merge-write under a lock on the bank (an OS-level file lock beside it, ``.<name>.lock``, plus an
  in-process reentrant lock): the file on disk is read, this one field of this one direction is set, the result
  is written atomically, and the in-memory bank becomes the merged result, so it picks up what other writers
  (threads, other Explorers, other processes) saved. ``bank.changes`` then lists what was picked up, and any
  conflict (the later edit wins), as human-readable strings; ``refresh()`` does the same without an edit;
- a plain ``save()`` back to the file the bank was loaded from (or last saved to) merges the same way; if another
  writer replaced the directions there, it writes nothing and raises ``BankConflict`` naming the file;
- a single-file bank is replaced by one rename; a directory bank writes a new generation of its tensor file and
  then renames ``bank.json`` (which names it) over the old one, so after a kill it loads as the old or the new
  version; stale temp files are removed on the next save or load.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import numbers
import os
import re
import threading
import uuid
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from filelock import FileLock, Timeout
from safetensors import SafetensorError
from safetensors.torch import load, load_file, safe_open, save_file

from ..device import resolve_device
from ..files import atomic_write
from ..layers import is_all, layer_mask, parse_layers
from ..limits import MAX_SHIFT

BANK_FORMAT = "ganexplorer-bank"
BANK_VERSION = 1
SINGLE_FILE_SUFFIXES = (".gxb", ".safetensors")
SOURCES = ("sefa", "discovery", "pca", "random", "coordinate", "manual")
PER_DIRECTION = ("labels", "starred", "notes", "hidden", "scores", "source", "layers", "shift_range")
# how messages name each per-direction field
FIELD_NAMES = {"labels": "label", "starred": "star", "notes": "note", "hidden": "hidden", "scores": "score",
               "source": "source", "layers": "layers", "shift_range": "shift range"}
BANK_FIELDS = ("generator", "info", "num_layers")
ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,32}")
DIRECTIONS_FILE = re.compile(r"directions(\.\d{1,12})?\.safetensors")
LOCK_TIMEOUT = 60.0
MAX_SHIFT_RANGE = 1e4


class BankConflict(ValueError):
    """An edit of a direction that another writer removed: the bank on disk was replaced. The in-memory bank
    has been refreshed to the disk version (see ``bank.changes``); redo the edit there if it still applies."""


# ------------------------------------------------------------------ locking
class _PathLock:
    """One bank path's locks: a reentrant in-process lock, and the OS-level file lock it takes once."""

    def __init__(self, lock_file: Path):
        self.rlock = threading.RLock()
        self.depth = 0
        self.lock_file = lock_file
        self.file: FileLock | None = None


_LOCKS: dict[str, _PathLock] = {}
_LOCKS_GUARD = threading.Lock()


def _forget_locks() -> None:  # a forked child holds none of its parent's locks
    global _LOCKS_GUARD
    _LOCKS.clear()
    _LOCKS_GUARD = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_locks)


def _key(path: str | Path) -> Path:
    return Path(os.path.abspath(Path(path).expanduser()))


def _lock_file(path: Path) -> Path:
    """``.<name>.lock`` beside the bank (outside a directory bank, which is replaced as a whole)."""
    return path.parent / f".{path.name}.lock"


def _per_path_lock(path: Path) -> _PathLock:
    with _LOCKS_GUARD:
        lock = _LOCKS.get(str(path))
        if lock is None:
            lock = _LOCKS[str(path)] = _PathLock(_lock_file(path))
        return lock


# ------------------------------------------------------------- validation
def _describe(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


def _is_real(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _is_bool(x: Any) -> bool:
    return isinstance(x, bool) or type(x).__name__ == "bool_"  # numpy bool


CHECKS = {  # field -> (test of one entry, what it must be, convert)
    "labels": (lambda x: isinstance(x, str), "a string", str),
    "starred": (_is_bool, "true or false", bool),
    "notes": (lambda x: isinstance(x, str), "a string", str),
    "hidden": (_is_bool, "true or false", bool),
    "scores": (lambda x: x is None or _is_real(x), "a number or null",
               lambda x: None if x is None else float(x)),
    "source": (lambda x: isinstance(x, str), f"one of {', '.join(SOURCES)}", str),
    "layers": (lambda x: x is None or isinstance(x, str), "a layer range such as 'all' or '2-5' (or null)",
               lambda x: None if x is None else str(x)),
    "shift_range": (lambda x: _is_real(x) and 0 < x <= MAX_SHIFT_RANGE,
                    f"a number in (0, {MAX_SHIFT_RANGE:g}] (the largest |shift| a slider offers)", float),
    "ids": (lambda x: isinstance(x, str) and ID_PATTERN.fullmatch(x) is not None,
            "a short id (1-32 letters, digits, '_' or '-')", str),
}


def _per_direction(value: Any, k: int, name: str, default: Any, strict: bool = False) -> list:
    """A metadata field as a list of k checked entries: a single value is repeated (not with ``strict``, as in
    a file), a sequence must have length k; a wrong type is a ValueError naming the field and the value."""
    test, what, convert = CHECKS[name]
    if value is None:
        value = default
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        value = value.tolist()  # tensors, numpy arrays and scalars
    if isinstance(value, (list, tuple)):
        if len(value) != k:
            raise ValueError(f"bank field '{name}' has {len(value)} entries for {k} directions")
        items = list(value)
    elif strict and value is not default:
        raise ValueError(f"bank field '{name}' must be a list of {k} entries, each {what}; got {_describe(value)}")
    elif isinstance(value, (dict, set, bytes)) or (hasattr(value, "__iter__") and not isinstance(value, str)):
        raise ValueError(f"bank field '{name}' must be {what} or a list of {k} of them, got {_describe(value)}")
    else:
        items = [value] * k
    for i, x in enumerate(items):
        if not test(x):
            raise ValueError(f"bank field '{name}' entry {i} must be {what}, got {_describe(x)}")
    return [convert(x) for x in items]


def new_ids(k: int, taken: Sequence[str] = ()) -> list[str]:
    """k fresh short ids, none of them in ``taken``."""
    seen, out = set(taken), []
    while len(out) < k:
        ident = uuid.uuid4().hex[:8]
        if ident not in seen:
            seen.add(ident)
            out.append(ident)
    return out


def _content_ids(directions: torch.Tensor) -> list[str]:
    """Ids for a bank saved before ids existed: derived from the content, so every process that loads the same
    old file gives its directions the same ids."""
    rows = directions.detach().float().cpu().contiguous()
    return [hashlib.sha1(rows[i].numpy().tobytes() + str(i).encode()).hexdigest()[:8] for i in range(len(rows))]


def _unique(ids: list[str]) -> list[str]:
    """``ids`` with duplicates (after the first) renamed to fresh ids."""
    seen: set[str] = set()
    out = []
    for ident in ids:
        out.append(new_ids(1, [*ids, *seen])[0] if ident in seen else ident)
        seen.add(out[-1])
    return out


class DirectionBank:
    """K directions ``directions`` (K, d) and per-direction lists of length K:
    ``ids`` (stable short unique strings, saved with the bank), ``labels``, ``starred``, ``notes``, ``hidden``
    (kept in the bank, not shown on sliders), ``scores`` (eigenvalue, accuracy...), ``source`` (sefa, discovery,
    pca, random, coordinate, manual), ``layers`` (layer range a direction applies to; None = all) and
    ``shift_range`` (suggested max |shift|). ``generator`` names the generator the bank was made for and
    ``info`` holds method settings and training history. ``num_layers`` is set for banks of layer-aware
    (style) generators: a direction whose ``layers`` is a range ("0-1", "2-5") then moves only those layers'
    latents, so shifted latents become per-layer (N, num_layers, d) (W+).

    Concurrency (see the module docstring): with ``autosave_path`` set every edit is a locked read-merge-write
    of one field of one direction, matched by id; ``changes`` lists, after each edit and ``refresh()``, what
    this bank picked up from other writers and any conflicts (the edit methods return None). The messages
    (fields named label, star, note, hidden, score, source, layers, shift range; indices in the merged bank):

    - ``direction 3 (id 1f0c9a2e): label 'x' → 'y' by another writer``
    - ``direction 3 (id 1f0c9a2e): label conflict: another writer had set 'y'; this later edit 'z' wins``
    - ``direction 3 (id 1f0c9a2e): shift range conflict: kept 2.0, saved by another writer, over this bank's
      unsaved 5.0`` (a change made by assigning the lists directly, never saved)
    - ``another writer replaced the bank: 5 → 7 directions (2 new, 0 gone)``

    An edit of a direction another writer removed raises ``BankConflict`` (a ValueError): ``direction 3 (id
    1f0c9a2e) is no longer in bank.gxb: another writer replaced the bank (it now has 7 directions); this bank
    was reloaded from disk, so the label edit was not saved: redo it on the current directions``, with the
    bank refreshed to the disk version (and the messages in ``changes``). ``DirectionBank.locked(path)``
    makes a longer sequence (refresh, compose a new bank, save it) atomic.
    """

    Conflict = BankConflict

    def __init__(self, directions: torch.Tensor, *, labels: Sequence[str] | None = None,
                 starred: Sequence[bool] | None = None, notes: Sequence[str] | None = None,
                 scores: Sequence[float] | None = None, source: str | Sequence[str] = "manual",
                 layers: str | Sequence[str | None] | None = None, shift_range: float | Sequence[float] = 3.0,
                 generator: str | None = None, info: dict[str, Any] | None = None, num_layers: int | None = None,
                 hidden: bool | Sequence[bool] | None = None, ids: Sequence[str] | None = None):
        directions = torch.as_tensor(directions, dtype=torch.float32)
        if directions.ndim != 2 or directions.shape[0] == 0:
            raise ValueError(f"directions must be a non-empty (K, d) tensor, got shape {tuple(directions.shape)}")
        if not torch.isfinite(directions).all():
            raise ValueError("directions contain NaN or inf")
        self.directions = directions
        k = directions.shape[0]
        self.ids = _per_direction(ids, k, "ids", None) if ids is not None else new_ids(k)
        if len(set(self.ids)) != k:
            raise ValueError("bank field 'ids' has duplicates: every direction needs its own id")
        self.labels = (_per_direction(labels, k, "labels", None) if labels is not None
                       else [f"direction {i}" for i in range(k)])
        self.starred = _per_direction(starred, k, "starred", False)
        self.notes = _per_direction(notes, k, "notes", "")
        self.hidden = _per_direction(hidden, k, "hidden", False)
        self.scores = _per_direction(scores, k, "scores", None)
        self.source = _per_direction(source, k, "source", "manual")
        unknown = sorted(set(self.source) - set(SOURCES))
        if unknown:
            raise ValueError(f"unknown direction source {unknown}: use one of {SOURCES}")
        self.layers = _per_direction(layers, k, "layers", None)
        if num_layers is not None and not (isinstance(num_layers, int) and not isinstance(num_layers, bool)
                                           and 0 < num_layers <= 4096):
            raise ValueError(f"num_layers must be a whole number in 1..4096 (or None), got {_describe(num_layers)}")
        self.num_layers = num_layers
        self._check_layers()
        self.shift_range = _per_direction(shift_range, k, "shift_range", 3.0)
        if generator is not None and not isinstance(generator, str):
            raise ValueError(f"bank field 'generator' must be a name (a string) or null, got {_describe(generator)}")
        if info is not None and not isinstance(info, dict):
            raise ValueError(f"bank field 'info' must be a dict, got {_describe(info)}")
        self.generator = generator
        self.info: dict[str, Any] = dict(info or {})
        self.autosave_path: Path | None = None
        self.changes: list[str] = []  # what the last edit / refresh picked up from other writers, and conflicts
        self.trainer: Any = None  # the DiscoveryTrainer that made it (this session only; keeps R for rca)
        self._synced: Path | None = None  # the file ``_base`` describes
        self._base: dict[str, Any] | None = None  # this bank's fields as last read from / written to it

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
                "ids": list(self.ids), **{name: list(getattr(self, name)) for name in PER_DIRECTION}}

    def records(self) -> list[dict[str, Any]]:
        """One dict per direction (index, id, label, star, score, ...), e.g. for a table."""
        return [{"index": i, "id": self.ids[i], **{name: getattr(self, name)[i] for name in PER_DIRECTION}}
                for i in range(len(self))]

    # ---------------------------------------------------------------- editing
    def _index(self, k: int) -> int:
        if isinstance(k, bool) or not isinstance(k, numbers.Integral):
            raise IndexError(f"a direction index must be a whole number, got {_describe(k)}")
        k = int(k)
        if not -len(self) <= k < len(self):
            raise IndexError(f"direction {k} does not exist: this bank has {len(self)} (0..{len(self) - 1})")
        return k % len(self)

    def label(self, k: int, name: str) -> None:
        """Name direction k (with ``autosave_path``: merged into the file at once; see ``changes``)."""
        if not isinstance(name, str):
            raise ValueError(f"a label must be a string, got {_describe(name)}")
        self._edit(k, "labels", name)

    def star(self, k: int, starred: bool = True) -> None:
        """Star (or, with False, unstar) direction k."""
        if not _is_bool(starred):
            raise ValueError(f"star takes True or False, got {_describe(starred)}")
        self._edit(k, "starred", bool(starred))

    def note(self, k: int, text: str) -> None:
        """Attach a free-text note to direction k."""
        if not isinstance(text, str):
            raise ValueError(f"a note must be a string, got {_describe(text)}")
        self._edit(k, "notes", text)

    def hide(self, k: int, hidden: bool = True) -> None:
        """Hide (or, with False, show again) direction k: it stays in the bank, off the sliders."""
        if not _is_bool(hidden):
            raise ValueError(f"hide takes True or False, got {_describe(hidden)}")
        self._edit(k, "hidden", bool(hidden))

    def set_layers(self, k: int, layers: str | None) -> None:
        """Restrict direction k to a layer range ("0-1", "2-5", "all") of a layer-aware generator."""
        if layers is not None and not isinstance(layers, str):
            raise ValueError(f"a layer range must be a string such as '2-5' or 'all', got {_describe(layers)}")
        self._edit(k, "layers", layers)

    def _set(self, i: int, field: str, value: Any) -> None:
        """Set one field of direction i, checked (layer ranges against ``num_layers``)."""
        values = getattr(self, field)
        before, values[i] = values[i], value
        if field == "layers":
            try:
                self._check_layers()
            except ValueError:
                values[i] = before
                raise

    def _edit(self, k: int, field: str, value: Any) -> None:
        path = self.autosave_path
        if path is None:
            self._set(self._index(k), field, value)
            self.changes = []
            return
        path = _key(path)
        with self.locked(path):
            i = self._index(k)
            ident = self.ids[i]
            if self._synced != path or self._base is None or not path.exists():
                # the first write of this bank to this file (or the file is gone): the bank is saved as a whole
                self._set(i, field, value)
                self._save_locked(path)
                self.changes = []
                return
            disk = self._read(path)
            messages, picked = self._adopt(disk)
            if ident not in self.ids:
                message = (f"direction {i} (id {ident}) is no longer in {path.name}: another writer replaced the "
                           f"bank (it now has {len(self)} directions); this bank was reloaded from disk, so the "
                           f"{FIELD_NAMES[field]} edit was not saved: redo it on the current directions")
                self.changes = [*messages, message]
                raise BankConflict(message)
            j = self.ids.index(ident)
            if (ident, field) in picked and picked[(ident, field)] != value:
                messages = [m for m in messages if not m.startswith(f"direction {j} (id {ident}): "
                                                                    f"{FIELD_NAMES[field]} ")]
                messages.append(f"direction {j} (id {ident}): {FIELD_NAMES[field]} conflict: another writer had "
                                f"set {picked[(ident, field)]!r}; this later edit {value!r} wins")
            self.changes = messages
            self._set(j, field, value)
            self._write(path)
            self._base = self._snapshot()

    def refresh(self) -> list[str]:
        """Pick up what other writers saved to this bank's file (``autosave_path``, else the file it was loaded
        from or last saved to) and return the messages (also in ``changes``). If the file holds a different set
        of directions (another writer replaced the bank), this bank becomes the disk version. Returns [] for a
        bank without a file."""
        path = self.autosave_path or self._synced
        if path is None:
            self.changes = []
            return []
        path = _key(path)
        with self.locked(path):
            if not path.exists():
                self.changes = [f"{path.name} no longer exists: this bank was kept as it is"]
                return list(self.changes)
            disk = self._read(path)
            if self._synced != path:
                self._base = None
            messages, _ = self._adopt(disk)
            self._synced = path
        self.changes = messages
        return list(messages)

    # ----------------------------------------------------------------- merging
    def _snapshot(self) -> dict[str, Any]:
        return {"ids": list(self.ids), **{name: list(getattr(self, name)) for name in PER_DIRECTION},
                "generator": self.generator, "num_layers": self.num_layers, "info": copy.deepcopy(self.info)}

    def _adopt(self, disk: DirectionBank, mine_wins: bool = False) -> tuple[list[str], dict[tuple[str, str], Any]]:
        """Become ``disk`` merged with this bank's changes not yet saved (three-way, against ``_base``: what
        this bank last read or wrote), direction by direction, by id; where both changed a field, the disk's
        value is kept (this bank's with ``mine_wins``, for a save). Returns the messages and, per (id, field)
        another writer changed since, the value it set. ``_base`` becomes the disk version."""
        base = self._base if self._base is not None else self._snapshot()
        mine = self._snapshot()
        base_at = {ident: i for i, ident in enumerate(base["ids"])}
        mine_at = {ident: i for i, ident in enumerate(mine["ids"])}
        messages: list[str] = []
        picked: dict[tuple[str, str], Any] = {}
        if disk.ids != base["ids"]:
            gone = len(set(base["ids"]) - set(disk.ids))
            new = len(set(disk.ids) - set(base["ids"]))
            messages.append(f"another writer replaced the bank: {len(base['ids'])} → {len(disk)} directions "
                            f"({new} new, {gone} gone{', reordered' if not new and not gone else ''})")
        merged = {}
        for name in PER_DIRECTION:
            values = list(getattr(disk, name))
            for j, ident in enumerate(disk.ids):
                if ident not in base_at or ident not in mine_at:
                    continue
                b, m, d = base[name][base_at[ident]], mine[name][mine_at[ident]], values[j]
                if d != b:
                    picked[(ident, name)] = d
                    if m != b and m != d and mine_wins:
                        values[j] = m
                        messages.append(f"direction {j} (id {ident}): {FIELD_NAMES[name]} conflict: another "
                                        f"writer had set {d!r}; this save's {m!r} wins")
                    elif m != b and m != d:
                        messages.append(f"direction {j} (id {ident}): {FIELD_NAMES[name]} conflict: kept "
                                        f"{d!r}, saved by another writer, over this bank's unsaved {m!r}")
                    else:
                        messages.append(f"direction {j} (id {ident}): {FIELD_NAMES[name]} {b!r} → {d!r} "
                                        f"by another writer")
                elif m != b:
                    values[j] = m  # a change of this bank not saved yet
            merged[name] = values
        for name in BANK_FIELDS:
            d = getattr(disk, name)
            merged[name] = mine[name] if (mine_wins or d == base[name]) and mine[name] != base[name] else d
        result = DirectionBank(disk.directions.to(self.device), ids=list(disk.ids), **merged)
        for name in ("directions", "ids", *PER_DIRECTION, *BANK_FIELDS):
            setattr(self, name, getattr(result, name))
        self._base = disk._snapshot()
        return messages, picked

    @classmethod
    @contextlib.contextmanager
    def locked(cls, path: str | Path, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
        """Hold the bank at ``path`` for a sequence of steps (refresh, compose a new bank, save it): other
        threads and processes wait, and ``load``/``save``/edits/``refresh`` inside the block (in this thread)
        do not deadlock. The OS-level lock is the file ``.<name>.lock`` beside the bank; where it cannot be
        created (a read-only folder) only the in-process lock is held. TimeoutError after ``timeout`` seconds."""
        path = _key(path)
        lock = _per_path_lock(path)
        if not lock.rlock.acquire(timeout=timeout):
            raise TimeoutError(f"{path} is held by another thread of this process for more than {timeout:g} s")
        try:
            if lock.depth == 0:
                lock.file = None
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    held = FileLock(str(lock.lock_file), thread_local=False)
                    held.acquire(timeout=timeout, poll_interval=0.005)
                    lock.file = held
                except Timeout:
                    raise TimeoutError(f"{path} is held by another process for more than {timeout:g} s (lock file "
                                       f"{lock.lock_file}): close the other notebook or try again") from None
                except OSError:
                    pass  # a read-only folder: nobody can write there, reading needs no OS lock
            lock.depth += 1
            try:
                yield
            finally:
                lock.depth -= 1
                if lock.depth == 0 and lock.file is not None:
                    lock.file.release()
                    lock.file = None
        finally:
            lock.rlock.release()

    def select(self, indices: Sequence[int]) -> DirectionBank:
        """A new bank with the chosen directions (e.g. the starred ones), metadata and ids kept (a direction
        chosen twice gets a fresh id the second time)."""
        idx = [self._index(i) for i in indices]
        if not idx:
            raise ValueError("select needs at least one direction index")
        return DirectionBank(self.directions[idx], generator=self.generator, info=copy.deepcopy(self.info),
                             num_layers=self.num_layers, ids=_unique([self.ids[i] for i in idx]),
                             **{name: [getattr(self, name)[i] for i in idx] for name in PER_DIRECTION})

    def extend(self, other: DirectionBank) -> DirectionBank:
        """A new bank with ``other``'s directions appended (same latent size, same number of layers); ids are
        kept, except that those of ``other`` already in this bank are renamed to fresh ids."""
        if other.latent_dim != self.latent_dim:
            raise ValueError(f"cannot join banks of latent size {self.latent_dim} and {other.latent_dim}")
        if None not in (self.num_layers, other.num_layers) and self.num_layers != other.num_layers:
            raise ValueError(f"cannot join banks for generators with {self.num_layers} and {other.num_layers} layers")
        return DirectionBank(torch.cat([self.directions, other.directions.to(self.device)]),
                             generator=self.generator or other.generator,
                             info={**copy.deepcopy(other.info), **copy.deepcopy(self.info)},
                             num_layers=self.num_layers if self.num_layers is not None else other.num_layers,
                             ids=_unique(self.ids + other.ids),
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
        _check_shifts(shifts)
        z, offsets = self._aligned(z, self.offsets(shifts))
        return z + offsets

    def traverse_many(self, z: torch.Tensor, directions: Sequence[int], shifts: Sequence[float]) -> torch.Tensor:
        """Latents ordered (direction, sample, shift), flattened: every latent of z moved along each direction
        by each shift; (K * N * S, d) or, when layered, (K * N * S, num_layers, d)."""
        steps = torch.as_tensor(list(shifts), dtype=torch.float32, device=self.device)
        _check_shifts(steps)
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
    def save(self, path: str | Path, *, replace: bool = False) -> Path:
        """Write the bank atomically, under the bank's lock: ``*.gxb``/``*.safetensors`` one file, any other path
        a directory (``bank.json`` naming ``directions.<n>.safetensors``: a new generation each save, so a kill at
        any moment leaves the old or the new version).

        Saving back to the file this bank was loaded from (or last saved to) merges, as the edits do: what other
        writers saved there since is kept, this bank's changes are written over it (on the same field of the same
        direction, this save wins), and ``changes`` says what was picked up. If another writer replaced the
        directions there, nothing is written: ``BankConflict`` names the file (``refresh()`` takes the file's
        version, ``replace=True`` writes this bank over it). A bank saved to any other path replaces what that
        file held."""
        path = Path(path).expanduser()
        key = _key(path)
        with self.locked(key):
            if not replace and self._synced == key and self._base is not None and key.exists():
                self._merge_before_save(key)
            self._save_locked(key)
        return path

    def _merge_before_save(self, path: Path) -> None:
        """Adopt what other writers saved to ``path`` since this bank last read or wrote it, this bank's own
        changes winning; ``BankConflict`` (nothing changed) when the directions there are no longer these."""
        try:
            disk = self._read(path)
        except ValueError as exc:
            raise ValueError(f"{exc}; nothing was saved: save(path, replace=True) writes this bank over it") from None
        if disk.ids != self._base["ids"] or self.ids != self._base["ids"]:
            raise BankConflict(
                f"{path} changed under this bank: another writer replaced its directions ({len(self._base['ids'])}"
                f" → {len(disk)}) after this bank read it, so nothing was saved (its labels would be lost): save "
                f"to another file, refresh() to take the file's version and redo the edits there, or "
                f"save(path, replace=True) to write this bank over it")
        directions = self.directions
        self.changes, _ = self._adopt(disk, mine_wins=True)
        self.directions = directions  # the tensor this bank holds is the one saved

    def _save_locked(self, path: Path) -> None:
        self._write(path)
        if self.autosave_path is None or _key(self.autosave_path) == path:
            self._synced, self._base = path, self._snapshot()

    def _write(self, path: Path) -> None:
        """Write to ``path`` (the caller holds the lock), removing stale temp files first and after."""
        tensors = {"directions": self.directions.detach().float().cpu().contiguous()}
        if path.suffix in SINGLE_FILE_SUFFIXES:
            with contextlib.suppress(OSError):
                self._clean(path)
            meta = json.dumps(self.metadata())
            atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata={"format": BANK_FORMAT, "bank": meta}))
            return
        if path.exists() and not path.is_dir():
            raise ValueError(f"{path} is a file, not a directory bank: save to a folder, or to a .gxb file")
        path.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            self._clean(path)
        numbers_ = [int(m.group(1)[1:]) for p in path.iterdir() if (m := DIRECTIONS_FILE.fullmatch(p.name))
                    and m.group(1)]
        name = f"directions.{max(numbers_, default=0) + 1}.safetensors"
        atomic_write(path / name, lambda tmp: save_file(tensors, tmp, metadata={"format": BANK_FORMAT}))
        text = json.dumps({**self.metadata(), "directions_file": name}, indent=1)
        atomic_write(path / "bank.json", lambda tmp: Path(tmp).write_text(text))  # the switch to the new version
        with contextlib.suppress(OSError):
            self._clean(path)

    @staticmethod
    def _clean(path: Path) -> None:
        """Remove what a killed save left: temp files of this bank, and (in a directory bank) tensor files that
        ``bank.json`` does not name. Only called with the bank's lock held, so no save is in flight."""
        for tmp in path.parent.glob(f".{_glob_escape(path.name)}.*.tmp"):
            tmp.unlink(missing_ok=True)
        if not path.is_dir():
            return
        for tmp in path.glob(".*.tmp"):
            if tmp.is_file():
                tmp.unlink(missing_ok=True)
        try:
            named = _tensor_file(path, _parse_json((path / "bank.json").read_text()))
        except (OSError, ValueError, UnicodeDecodeError):
            return  # no readable manifest: delete nothing
        for p in path.iterdir():
            if DIRECTIONS_FILE.fullmatch(p.name) and p.name != named:
                p.unlink(missing_ok=True)

    @classmethod
    def _read(cls, path: Path) -> DirectionBank:
        """The bank at ``path``, every field checked (ValueError saying what is wrong; the file is untouched)."""
        try:
            if path.is_dir():
                meta = _parse_json((path / "bank.json").read_text())
                tensors = load_file(str(path / _tensor_file(path, meta)))
            else:
                with safe_open(str(path), "pt") as fh:
                    header = fh.metadata() or {}
                if header.get("format") != BANK_FORMAT:
                    raise ValueError(f"header format is {header.get('format')!r}, not {BANK_FORMAT!r}")
                tensors = load(path.read_bytes())
                meta = _parse_json(header["bank"])
            return cls._from_meta(tensors, meta)
        except (SafetensorError, OSError, json.JSONDecodeError, KeyError, TypeError, ValueError,
                UnicodeDecodeError) as exc:
            raise ValueError(f"{path} is not a valid ganexplorer direction bank ({exc}); "
                             "it was left untouched: restore it from a backup or recreate it") from None

    @classmethod
    def _from_meta(cls, tensors: dict[str, torch.Tensor], meta: Any) -> DirectionBank:
        if not isinstance(meta, dict):
            raise ValueError(f"its metadata is a JSON {type(meta).__name__}, not an object of bank fields")
        if meta.get("format") != BANK_FORMAT or meta.get("version") != BANK_VERSION:
            raise ValueError(f"unsupported bank format/version {meta.get('format')!r}/{meta.get('version')!r}")
        if "directions" not in tensors:
            raise ValueError("it holds no 'directions' tensor")
        directions = tensors["directions"]
        k, d = meta.get("k"), meta.get("latent_dim")
        for name, value in (("k", k), ("latent_dim", d)):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"bank field '{name}' must be a positive whole number, got {_describe(value)}")
        if directions.ndim != 2 or list(directions.shape) != [k, d]:
            raise ValueError(f"directions have shape {tuple(directions.shape)}, metadata says ({k}, {d})")
        fields = {name: _per_direction(meta[name], k, name, None, strict=True)
                  for name in ("ids", *PER_DIRECTION) if meta.get(name) is not None}
        if "ids" not in fields:
            fields["ids"] = _content_ids(directions)  # a bank saved before ids: the same ids in every process
        return cls(directions, generator=meta.get("generator"), info=meta.get("info"),
                   num_layers=meta.get("num_layers"), **fields)

    @classmethod
    def load(cls, path: str | Path, generator: Any = None, device: str | torch.device | None = None,
             autosave: bool = False) -> DirectionBank:
        """Read a bank saved by ``save`` (under the bank's lock, removing stale temp files); with ``generator``
        check it fits and move it to its device. ``autosave=True`` merges every later edit into ``path``."""
        path = Path(path).expanduser()
        if not path.exists():
            raise FileNotFoundError(f"no direction bank at {path}")
        key = _key(path)
        with cls.locked(key):
            with contextlib.suppress(OSError):
                cls._clean(key)
            bank = cls._read(key)
        bank._synced, bank._base = key, bank._snapshot()
        if generator is not None:
            bank.check_fits(generator)
            bank.to(generator.device)
        elif device is not None:
            bank.to(device)
        if autosave:
            bank.autosave_path = path
        return bank


def _check_shifts(shifts: torch.Tensor) -> None:
    if not torch.isfinite(shifts).all():
        raise ValueError("shifts contain NaN or inf: every slider value must be a finite number")
    largest = float(shifts.abs().max()) if shifts.numel() else 0.0
    if largest > MAX_SHIFT:
        raise ValueError(f"a shift of {largest:.3g} is out of range: shifts must be within ±{MAX_SHIFT:g} (slider "
                         f"ranges are a few units)")


def _glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


def _parse_json(text: str) -> Any:
    """JSON metadata (ValueError for nesting deeper than Python can follow)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("its metadata JSON is nested too deeply to be bank metadata") from None


def _tensor_file(path: Path, meta: Any) -> str:
    """The tensor file a directory bank's ``bank.json`` names (banks saved before generations: the one
    ``directions.safetensors``)."""
    if not isinstance(meta, dict):
        raise ValueError(f"bank.json holds a JSON {type(meta).__name__}, not an object of bank fields")
    name = meta.get("directions_file", "directions.safetensors")
    if not isinstance(name, str) or not DIRECTIONS_FILE.fullmatch(name):
        raise ValueError(f"bank.json names the tensor file {name!r}: expected directions.<n>.safetensors")
    return name
