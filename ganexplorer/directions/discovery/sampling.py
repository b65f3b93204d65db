"""The training distribution of discovery: shifts eps and direction indices (shared by the trainer and RCA)."""

from __future__ import annotations

import torch


def sample_shifts(n: int, shift_scale: float, min_shift: float, device: torch.device | str,
                  gen: torch.Generator | None = None) -> torch.Tensor:
    """eps = shift_scale * U[-1, 1], with |eps| pushed up to at least ``min_shift`` (the reference's rule)."""
    eps = (torch.rand(n, device=device, generator=gen) * 2 - 1) * shift_scale
    return torch.where(eps < 0, eps.clamp(max=-min_shift), eps.clamp(min=min_shift))


def progress_default(progress: bool | None) -> bool:
    """``None`` means: show a progress bar when a person is likely watching (a notebook kernel or a terminal)."""
    if progress is not None:
        return bool(progress)
    import sys

    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    if shell is not None and type(shell).__name__ == "ZMQInteractiveShell":
        return True
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


def is_out_of_memory(exc: BaseException) -> bool:
    """CUDA OOM, or the CPU allocator failing (torch raises RuntimeError "... not enough memory ..." or a
    DefaultCPUAllocator error)."""
    if isinstance(exc, torch.cuda.OutOfMemoryError | MemoryError):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and ("not enough memory" in text or "DefaultCPUAllocator" in text
                                              or "out of memory" in text)
