"""One place that turns the user's ``device`` argument into a torch device."""

from __future__ import annotations

from dataclasses import dataclass

import torch


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"`` (or None) means CUDA when present, else CPU; anything else is passed to torch."""
    if device is None or (isinstance(device, str) and device == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"unknown device {device!r}: use 'auto', 'cpu', 'cuda' or 'cuda:N'") from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for CUDA, but torch sees no GPU here: use device='auto' or 'cpu'")
    return resolved


# ---- rendering precision and memory format, per family -----------------------------------------------------------

HALF = ("bfloat16", "float16")
# Which half types a family renders correctly in under autocast on a GPU, and why. bfloat16 keeps float32's range
# (only the mantissa shrinks, ~3 significant digits, below the 1/255 step of a uint8 frame for values near 1), so
# every built-in family allows it. float16 tops out at 65504: only StyleGAN2/3 files with conv_clamp (NVIDIA's own
# fp16 recipe: activations clamped to ±256) are safe; the others square activations in their normalisations (pixel
# norm, instance norm) or were never checked in float16.
FAMILY_HALF: dict[str, tuple[str, ...]] = {
    "StyleGAN2Generator": ("bfloat16", "float16 if conv_clamp"),
    "StyleGAN3Generator": ("bfloat16", "float16 if conv_clamp"),
    "StyleGANGenerator": ("bfloat16",),
    "ProGANGenerator": ("bfloat16",),
    "BigGANGenerator": ("bfloat16",),
    "DCGANGenerator": (),  # 32-64 px nets: a GPU is launch-bound on them, half precision buys nothing
    "SNGANGenerator": (),
}
# bfloat16 against float32 on a GPU, renders per second (NVIDIA H200, torch 2.11, CUDA 13, 2026-12-04, random
# weights; docs/results.md's GPU section): the smaller of two runs (benchmarks/families.py --device cuda at batch 1,
# and make gpu-check at batch 1 and 16). A half type is the default only where it is safe (FAMILY_HALF) AND was
# measured to pay by HALF_PAYS or more in every run; nowhere so far: StyleGAN2 x1.03-1.10, StyleGAN v1 x0.85 and x1.45
# at batch 1 but x0.93 at 16, ProGAN x0.75-0.95, BigGAN x0.70-0.73. bfloat16 also moved shapes-stylegan2 frames up
# to 7/255 from the CPU's; float32 (cuDNN's convolutions in TF32, torch's default) kept the zoo's within 1/255.
CUDA_HALF_SPEEDUP: dict[str, float] = {"StyleGAN2Generator": 1.03, "StyleGANGenerator": 0.85,
                                       "ProGANGenerator": 0.75, "BigGANGenerator": 0.70}
HALF_PAYS = 1.10
# channels-last weights: on where it was measured to pay on CPU (benchmarks/families.py --layouts --clock cpu; fp32,
# AMD EPYC, one thread, CPU time per image: DCGAN 32 px 1.13-1.5x, ProGAN 1.16x, StyleGAN v1 1.10x; BigGAN 1.00x
# and StyleGAN2 0.95x stay NCHW, StyleGAN2 already runs its activations channels-last inside forward). Not measured
# on a GPU: off there until it is.
CPU_CHANNELS_LAST: frozenset[str] = frozenset({"DCGANGenerator", "ProGANGenerator", "StyleGANGenerator"})
CUDA_CHANNELS_LAST: frozenset[str] = frozenset()


@dataclass(frozen=True)
class RenderPolicy:
    """How a generator renders on a device: the autocast dtype, channels-last weights or not, and why."""

    dtype: torch.dtype
    channels_last: bool
    why: str


def render_policy(module: torch.nn.Module, device: torch.device, bf16_supported: bool | None = None) -> RenderPolicy:
    """The best dtype / memory format for ``module``'s family on ``device``: float32 on CPU (renders identical on
    every CPU; bfloat16 autocast is faster only on CPUs with AVX512-BF16 / AMX, and only for some families, so it
    stays an opt-in). On CUDA a built-in family renders in half precision only where it is safe and was measured
    to pay (``CUDA_HALF_SPEEDUP`` >= ``HALF_PAYS``), else float32; then bfloat16 where the GPU has it (Ampere and
    later), else float16 where the family is safe in it. A user's module renders in float32 unless it declares
    ``render_half = ("bfloat16", ...)`` (its author's choice). ``bf16_supported`` overrides the GPU query."""
    family = type(module).__name__
    declared = getattr(module, "render_half", None)
    allowed = declared if declared is not None else FAMILY_HALF.get(family, ())
    if device.type != "cuda":
        return RenderPolicy(torch.float32, family in CPU_CHANNELS_LAST,
                            f"{device.type}: float32 (exact, the same on every CPU; dtype='bfloat16' opts in)")
    channels_last = family in CUDA_CHANNELS_LAST
    speedup = CUDA_HALF_SPEEDUP.get(family)
    if declared is None and allowed and (speedup is None or speedup < HALF_PAYS):
        measured = (f"half precision measured x{speedup:.2f} against float32 at batch 1 on a GPU, under the "
                    f"x{HALF_PAYS:.2f} that would pay" if speedup is not None
                    else "half precision not measured to pay on a GPU")
        return RenderPolicy(torch.float32, channels_last,
                            f"cuda: float32 ({family}: {measured}; dtype='bfloat16' opts in)")
    if bf16_supported is None:
        bf16_supported = torch.cuda.is_bf16_supported()
    if "bfloat16" in allowed and bf16_supported:
        return RenderPolicy(torch.bfloat16, channels_last, f"cuda: bfloat16 ({family} allows it, the GPU has it)")
    clamped = getattr(module, "conv_clamp", None) is not None or any(
        getattr(layer, "conv_clamp", None) is not None for layer in getattr(module, "layers", []))
    if "float16" in allowed or ("float16 if conv_clamp" in allowed and clamped):
        return RenderPolicy(torch.float16, channels_last, f"cuda: float16 ({family} with conv_clamp stays in range)")
    reason = "no bfloat16 on this GPU and " if "bfloat16" in allowed else ""
    return RenderPolicy(torch.float32, channels_last, f"cuda: float32 ({reason}{family} is not known to be safe in "
                        "float16" + (" without conv_clamp" if "float16 if conv_clamp" in allowed else "") + ")")
