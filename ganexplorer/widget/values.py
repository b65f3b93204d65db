"""Values a person typed into the Explorer: used as typed, or refused with a message that names the value and what
is allowed. Never clamped, rounded or replaced quietly."""

from __future__ import annotations

import math
import re
from typing import Any

MAX_SEED = 2**31 - 1
MAX_SAMPLES = 64
MAX_STEPS = 10**7
MAX_RANGE = 100.0
_WHOLE = re.compile(r"[+-]?\d+")
_LAYERS = re.compile(r"\s*(all|\d{1,4}(\s*-\s*\d{1,4})?(\s*,\s*\d{1,4}(\s*-\s*\d{1,4})?)*)\s*", re.IGNORECASE)


class Refused(ValueError):
    """A typed value that is not used; the message says why and what is allowed."""


def whole(value: Any, name: str, lo: int, hi: int) -> int:
    """``value`` as an int in [lo, hi]; "abc", 2.5, "1e99" or out-of-range values are refused."""
    if isinstance(value, bool):
        raise Refused(f"{name} must be a whole number from {lo} to {hi}, got {value!r}")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and _WHOLE.fullmatch(value.strip()):
        value = int(value.strip())
    if not isinstance(value, int):
        raise Refused(f"{name} must be a whole number from {lo} to {hi}, got {value!r}")
    if not lo <= value <= hi:
        raise Refused(f"{name} must be from {lo} to {hi}, got {value}")
    return value


def number(value: Any, name: str, lo: float, hi: float, *, above: bool = False) -> float:
    """``value`` as a finite float in [lo, hi] (or (lo, hi] with ``above``); NaN, inf and text are refused."""
    try:
        x = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise Refused(f"{name} must be a number, got {value!r}") from None
    if isinstance(value, bool) or not math.isfinite(x):
        raise Refused(f"{name} must be a finite number, got {value!r}")
    if x < lo or x > hi or (above and x == lo):
        bounds = f"above {lo:g} and at most {hi:g}" if above else f"from {lo:g} to {hi:g}"
        raise Refused(f"{name} must be {bounds}, got {x:g}")
    return x


def layer_range(value: Any, num_layers: int | None) -> str:
    """A layer range ("all", "3", "0-1", "2-5,8") checked against ``num_layers`` before anything is expanded;
    "5-" or "0-99999999999" are refused, not read as something else."""
    text = "all" if value is None else str(value).strip()
    if not _LAYERS.fullmatch(text or "all"):
        example = f"'0-1,{num_layers - 1}'" if num_layers and num_layers > 2 else "'0,1'"
        raise Refused(f"layer range {value!r} is not understood: use 'all', 'N', 'A-B' or a comma list such as "
                      f"{example}" + (f" (this generator has {num_layers} layers, 0..{num_layers - 1})"
                                      if num_layers else ""))
    if text.lower() in ("", "all"):
        return "all"
    if not num_layers:
        raise Refused("this generator has one latent for all layers: only 'all' is possible")
    for part in text.replace(" ", "").split(","):
        lo, _, hi = part.partition("-")
        a, b = int(lo), int(hi or lo)
        if a > b:
            raise Refused(f"layer range {value!r}: {a}-{b} runs backwards; write {b}-{a}")
        if b >= num_layers:
            raise Refused(f"layer range {value!r} goes past the last layer: this generator has {num_layers} "
                          f"layers (0..{num_layers - 1})")
    return text.replace(" ", "")


def choice(value: Any, name: str, options: tuple[str, ...]) -> str:
    if value not in options:
        raise Refused(f"{name} must be one of {', '.join(options)}; got {value!r}")
    return value
