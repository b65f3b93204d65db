"""Files written safely and read as data: atomic writes, and fp16 safetensors weight files with a JSON header.

A crash or a full disk never leaves a half-written bank or checkpoint, and no file is ever unpickled.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file


def atomic_write(path: str | Path, write: Callable[[str], object]) -> None:
    """Call ``write(tmp_path)`` on a temp file ``.<name>.*.tmp`` beside ``path``, flush it to disk, then rename
    it over ``path`` (and flush the folder, so the rename survives a power cut)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_weights(state: dict[str, torch.Tensor], path: str | Path, header: dict[str, Any]) -> None:
    """Save a state dict as fp16 safetensors (integers kept), with ``header`` values JSON-encoded."""
    tensors = {k: (v.half() if v.is_floating_point() else v).detach().contiguous().cpu() for k, v in state.items()}
    meta = {k: json.dumps(v) for k, v in header.items()}
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=meta))


def read_header(path: str | Path) -> dict[str, Any]:
    """The JSON header of a weights file written by ``save_weights`` (ValueError if unreadable)."""
    try:
        with safe_open(str(path), "pt") as fh:
            raw = fh.metadata() or {}
        return {k: json.loads(v) for k, v in raw.items()}
    except RecursionError:
        raise ValueError(f"{path} has a header nested too deeply to be a weights header") from None
    except (SafetensorError, OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} is not a readable safetensors weights file ({exc})") from exc


def load_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a weights file, as float32 (ValueError if truncated or corrupt)."""
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise ValueError(f"{path} is not a readable safetensors weights file ({exc})") from exc
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
