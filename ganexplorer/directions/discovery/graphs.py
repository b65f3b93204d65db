"""Whole-step CUDA graphs for discovery training.

Why: on a GPU a discovery step of a small generator is about 1 ms of GPU work inside 7-8 ms of Python and kernel
launches (measured on an H200). Capturing the whole step once (sampling, G, R, the loss, backward and Adam) and
replaying it leaves only one launch per step. This follows PyTorch's "whole-network capture" recipe: a few eager
warm-up steps on a side stream, gradients set to None before capture, an optimiser built with
``capturable=True``, then ``graph.replay()`` per step. Sampling is captured too (torch registers the CUDA
generator's offsets with the graph, so every replay draws fresh pairs). The step's metrics accumulate in place in
a tensor the trainer reads every ``log_every`` steps, so replays add no host syncs.

A step that cannot be captured (a user's generator with data-dependent control flow or a host copy) falls back to
eager training once, with one warning saying why.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch

from .sampling import is_out_of_memory

#: eager steps before capture (lazy initialisation: Adam's state, cuDNN's algorithm choice, autograd's buffers)
WARMUP_STEPS = 3


class StepGraph:
    """Runs one training step per ``step(train_step)`` call: ``WARMUP_STEPS`` eager steps on a side stream, then
    captures ``train_step`` once and replays it. ``reset()`` drops the graph (after anything that replaces the
    tensors it captured: a checkpoint load, a new micro-batch size); ``failed`` tells whether capture was given up.
    It keeps no reference to the trainer (the step is passed in each call), so a dropped trainer frees its graph's
    memory at once instead of at the next garbage collection."""

    def __init__(self, name: str = "the generator"):
        self.name = name
        self.graph: torch.cuda.CUDAGraph | None = None
        self.failed = False
        self.warmup_left = WARMUP_STEPS
        self.captures = 0

    def reset(self) -> None:
        self.graph, self.warmup_left = None, WARMUP_STEPS

    def step(self, train_step: Callable[[], None]) -> None:
        if self.failed:
            train_step()
        elif self.graph is not None:
            self.graph.replay()
        elif self.warmup_left > 0:
            self.warmup_left -= 1
            self._side_stream_step(train_step)
        else:
            try:
                self.graph = self._capture(train_step)
            except Exception as exc:  # anything capture cannot take: train eagerly from here on
                if is_out_of_memory(exc):
                    raise  # the trainer halves its micro-batch and this graph is captured again
                self.give_up(exc)
                train_step()
                return
            self.graph.replay()  # the capture ran nothing: this replay is the step

    def give_up(self, exc: BaseException) -> None:
        self.failed, self.graph = True, None
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        warnings.warn(f"discovery on {self.name}: the training step could not be captured in a CUDA graph "
                      f"({type(exc).__name__}: {first}); training eagerly (same results, slower). "
                      "Pass cuda_graph=False to skip the attempt.", stacklevel=4)

    def _side_stream_step(self, train_step: Callable[[], None]) -> None:
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            train_step()
        torch.cuda.current_stream().wait_stream(side)

    def _capture(self, train_step: Callable[[], None]) -> torch.cuda.CUDAGraph:
        graph, stream = torch.cuda.CUDAGraph(), torch.cuda.current_stream()
        try:
            with torch.cuda.graph(graph):
                train_step()
        except BaseException:
            _recover_from_failed_capture(stream)
            raise
        self.captures += 1
        return graph


def _recover_from_failed_capture(stream: torch.cuda.Stream) -> None:
    """After a capture that failed inside its body, torch leaves two things as if capture went on: the capture
    stream stays current, and the CUDA generator keeps counting its offsets for the graph (the next eager
    ``randn`` then fails with "Offset increment outside graph capture"). Go back to the caller's stream and close
    the generator's capture with one empty capture that completes."""
    torch.cuda.set_stream(stream)
    torch.cuda.synchronize()
    with torch.cuda.graph(torch.cuda.CUDAGraph()):
        torch.empty(1, device=stream.device).zero_()
