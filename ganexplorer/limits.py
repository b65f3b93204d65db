"""Values a person gives, at the command line, in Python or in the Explorer: used as given, or refused with a
message that names the value and what is allowed. One set of rules for all three, and every bound is checked
before anything is expanded or allocated ('0-99999999999' is refused, never built). Nothing is clamped, rounded
or replaced quietly. The core and the widget both import it; it imports neither."""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

MAX_SEED = 2**31 - 1
MAX_SAMPLES = 64  # rows of samples in a grid or the Explorer
MAX_STEPS = 10**7
MAX_RANGE = 100.0  # a slider's ±range
MAX_SHIFT = 1e6  # |shift| beyond this is no slider value (and overflows any generator)
MAX_SHIFTS = 100  # shifts (columns) of a traversal grid
MAX_INDICES = 10_000  # directions one index list may name
MAX_SPEC_CHARS = 1000  # a typed range or list
MAX_PCA_SAMPLES = 10**6  # latents PCA draws (GANSpace's own count)
MAX_JUDGED = 10**5  # samples a quality measure renders and keeps
MAX_GRID_PIXELS = 2**28  # of all frames of one traversal grid (cells upscaled to 64 px): about 800 MB in RGB
MAX_IMAGE_PIXELS = 2**26  # an image file to project (8192 x 8192): its header is read before its pixels

_WHOLE = re.compile(r"[+-]?[0-9]{1,30}")
_DECIMAL = re.compile(r"[+-]?([0-9]{1,30}(\.[0-9]{0,30})?|\.[0-9]{1,30})([eE][+-]?[0-9]{1,4})?")
_PLAIN = re.compile(r"[0-9]{1,30}")


class Refused(ValueError):
    """A value that is not used; the message says why and what is allowed."""


def shown(value: Any) -> str:
    """``repr(value)``, cut to 40 characters: a message stays one short line whatever was typed."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def whole(value: Any, name: str, lo: int, hi: int) -> int:
    """``value`` as an int in [lo, hi]: an int, a whole float (2.0) or the digits of one ("12"); True, 2.5,
    "abc", "1e99" and out-of-range values are refused."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and _WHOLE.fullmatch(value.strip()):
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise Refused(f"{name} must be a whole number from {lo} to {hi}, got {shown(value)}")
    if not lo <= value <= hi:
        raise Refused(f"{name} must be from {lo} to {hi}, got {shown(int(value))}")
    return int(value)


def number(value: Any, name: str, lo: float, hi: float, *, above: bool = False) -> float:
    """``value`` as a finite float in [lo, hi] (or (lo, hi] with ``above``); NaN, inf, True and text other than a
    decimal number ("2.5", "-1e3") are refused."""
    if isinstance(value, str):
        if not _DECIMAL.fullmatch(value.strip()):
            raise Refused(f"{name} must be a finite number, got {shown(value)}")
        value = value.strip()
    elif isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise Refused(f"{name} must be a finite number, got {shown(value)}")
    x = float(value)
    if not math.isfinite(x):
        raise Refused(f"{name} must be a finite number, got {shown(value)}")
    if x < lo or x > hi or (above and x == lo):
        bounds = f"above {lo:g} and at most {hi:g}" if above else f"from {lo:g} to {hi:g}"
        raise Refused(f"{name} must be {bounds}, got {x:g}")
    return x


def choice(value: Any, name: str, options: tuple[str, ...]) -> str:
    """``value`` if it is one of ``options``."""
    if not isinstance(value, str) or value not in options:
        raise Refused(f"{name} must be one of {', '.join(options)}; got {shown(value)}")
    return value


def _spec(spec: Any, what: str, usage: str) -> str:
    if not isinstance(spec, str):
        raise Refused(f"{what} must be text such as {usage}, got {shown(spec)}")
    if len(spec) > MAX_SPEC_CHARS:
        raise Refused(f"{what} of {len(spec)} characters is not understood, being longer than {MAX_SPEC_CHARS}: "
                      f"use {usage}")
    return spec


def _bounds(part: str) -> tuple[int, int] | None:
    """'A' or 'A-B' (ASCII digits) as (A, B); None if ``part`` is neither. Nothing is expanded."""
    lo, dash, hi = part.partition("-")
    if not _PLAIN.fullmatch(lo) or (dash and not _PLAIN.fullmatch(hi)):
        return None
    return int(lo), int(hi) if dash else int(lo)


def parse_layers(spec: str | None, num_layers: int) -> list[int]:
    """Sorted layer indices of ``spec`` ("all" or None: every layer; "2-5"; "0-1,8"), checked against
    ``num_layers`` (each bound before any range is expanded)."""
    if spec is None or str(spec).strip().lower() in ("", "all"):
        return list(range(num_layers))
    allowed = f"layers 0..{num_layers - 1}"
    example = f"'0-1,{num_layers - 1}'" if num_layers > 2 else "'0,1'"  # one that fits this generator
    usage = f"'all', 'N', 'A-B' or a comma list such as {example} ({allowed})"
    text = _spec(str(spec), "a layer range", usage)
    ranges = []
    for part in text.replace(" ", "").split(","):
        bounds = _bounds(part)
        if bounds is None:
            raise Refused(f"layer range {shown(spec)} is not understood: use {usage}")
        lo, hi = bounds
        if lo > hi:
            raise Refused(f"layer range {shown(spec)} is not understood: {lo}-{hi} runs backwards; write {hi}-{lo} "
                          f"({allowed})")
        if hi >= num_layers:
            raise Refused(f"layer range {shown(spec)} goes past the last layer: this generator has {num_layers} "
                          f"layers (0..{num_layers - 1})")
        ranges.append((lo, hi))
    return sorted({i for lo, hi in ranges for i in range(lo, hi + 1)})


def layer_range(value: Any, num_layers: int | None) -> str:
    """A layer range as it is stored in a bank ("all", "3", "0-1", "2-5,8"), checked against ``num_layers``;
    generators with one latent for every layer (``num_layers`` None) take only "all"."""
    text = "all" if value is None else str(value).strip()
    if text.lower() in ("", "all"):
        return "all"
    if not num_layers:
        raise Refused("this generator has one latent for all layers: only 'all' is possible")
    parse_layers(text, num_layers)
    return text.replace(" ", "")


def parse_indices(spec: str, k: int) -> list[int]:
    """Direction indices of ``spec`` ('all', '0-7', '0,3,5', '2-4,9'), each below ``k``, in the order given;
    every bound and the total count are checked before a range is expanded."""
    usage = "'all', '0-7', '0,3,5' or '2-4,9'"
    text = _spec(spec, "a list of directions", usage).replace(" ", "")
    if text.lower() == "all":
        return list(range(k))
    ranges = []
    for part in text.split(","):
        bounds = _bounds(part)
        if bounds is None:
            raise Refused(f"cannot read the directions {shown(spec)}: use {usage}")
        lo, hi = bounds
        if lo > hi:
            raise Refused(f"cannot read the directions {shown(spec)}: {lo}-{hi} runs backwards; write {hi}-{lo}")
        if hi >= k:
            raise Refused(f"direction {hi} does not exist: the bank has {k} (0..{k - 1})")
        ranges.append((lo, hi))
    count = sum(hi - lo + 1 for lo, hi in ranges)
    if count > MAX_INDICES:
        raise Refused(f"the directions {shown(spec)} name {count} directions, more than {MAX_INDICES}")
    return [i for lo, hi in ranges for i in range(lo, hi + 1)]


def parse_shifts(spec: str) -> list[float]:
    """Shifts of ``spec``: 'from:to:count' (evenly spaced, count 2..MAX_SHIFTS) or a list '-2,0,2'; each a
    finite number within ±MAX_SHIFT."""
    usage = "from:to:count (e.g. -3:3:7) or a list (e.g. -2,0,2)"
    text = _spec(spec, "shifts", usage)
    if ":" in text:
        parts = text.split(":")
        if len(parts) != 3:
            raise Refused(f"cannot read the shifts {shown(spec)}: use {usage}")
        lo, hi = (number(p, "a shift", -MAX_SHIFT, MAX_SHIFT) for p in parts[:2])
        count = whole(parts[2], "the number of shifts (from:to:COUNT)", 2, MAX_SHIFTS)
        return np.linspace(lo, hi, count).tolist()
    values = [number(p, "a shift", -MAX_SHIFT, MAX_SHIFT) for p in text.split(",")]
    if len(values) > MAX_SHIFTS:
        raise Refused(f"{len(values)} shifts are more than a grid shows ({MAX_SHIFTS})")
    return values


def check_grid(directions: int, samples: int, shifts: int, image_shape: Sequence[int]) -> None:
    """Refuse a traversal grid whose frames would not fit ``MAX_GRID_PIXELS``, before any is rendered."""
    for count, name in ((directions, "directions"), (samples, "samples"), (shifts, "shifts")):
        if count < 1:
            raise Refused(f"a traversal grid needs at least one of its {name}, got none")
    h, w = image_shape[-2:]
    pixels = directions * samples * shifts * max(h, 64) * max(w, 64)
    if pixels > MAX_GRID_PIXELS:
        raise Refused(f"a grid of {directions} directions x {samples} samples x {shifts} shifts of {h}x{w} images "
                      f"is {pixels / 1e6:.0f} Mpixels, over the limit of {MAX_GRID_PIXELS / 1e6:.0f}: show fewer "
                      "directions, samples or shifts")
