"""Values a person typed into the Explorer: the core's rules (``ganexplorer.limits``), shared with the command
line and the Python API, so a value is refused the same way wherever it is typed."""

from ..limits import MAX_RANGE, MAX_SAMPLES, MAX_SEED, MAX_STEPS, Refused, choice, layer_range, number, whole

__all__ = ["MAX_RANGE", "MAX_SAMPLES", "MAX_SEED", "MAX_STEPS", "Refused", "choice", "layer_range", "number",
           "whole"]
