"""Run the discovery reference's own trainer (anvoynov/GANLatentDiscovery, ``trainer.py``) on one of our generators
and time its steps: the real peer, not a rewrite. Nothing of it is copied here; pass the path of a checkout.

What is changed, and why (each leaves the timed training step as shipped):
- ``np.product`` (gone in numpy 2) is numpy's ``prod``, ``torch.solve`` (gone in torch 2) is ``torch.linalg.solve``
  with the old argument order: the reference calls them in its deformator and R.
- Modules its trainer imports but the step never uses are stubbed when they are not installed: tensorboardX's
  ``SummaryWriter`` (its scalars are written every 10 steps; the stub drops them, which can only speed it up)
  and torchvision (used by its image charts and its ResNet R, not by its LeNet R).
- Its image charts (at step 0, then every 1000) are not drawn, and its every-1000-step validation does not fire
  inside the timed window (both would lower its rate further); its log line, statistics file and per-step host
  syncs stay. Its defaults otherwise: run_train.py's ``random_init=True``, Adam lr 1e-4 for A and R.
- The generator is ours, wrapped in the interface the reference expects (``dim_z``, ``gen_shifted``).
"""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np
import torch
from torch import nn


def _patch_environment() -> None:
    if not hasattr(np, "product"):
        np.product = np.prod
    torch.solve = lambda b, a: (torch.linalg.solve(a, b), None)  # torch 2 keeps a stub that raises
    try:
        import tensorboardX  # noqa: F401
    except ImportError:
        stub = types.ModuleType("tensorboardX")

        class SummaryWriter:
            def __init__(self, *args, **kwargs):
                pass

            def __getattr__(self, name):
                return lambda *args, **kwargs: None

        stub.SummaryWriter = SummaryWriter
        sys.modules["tensorboardX"] = stub
    try:
        import torchvision  # noqa: F401
    except ImportError:
        tv = types.ModuleType("torchvision")
        for name, attrs in {"models": ("resnet18",), "transforms": ("Resize", "ToTensor", "Compose"),
                            "utils": ("make_grid", "save_image")}.items():
            sub = types.ModuleType(f"torchvision.{name}")
            for attr in attrs:
                setattr(sub, attr, lambda *a, _n=attr, **k: (_ for _ in ()).throw(ImportError(f"stub {_n}")))
            setattr(tv, name, sub)
            sys.modules[f"torchvision.{name}"] = sub
        sys.modules["torchvision"] = tv


class ReferenceG(nn.Module):
    """Our generator's module behind the reference's generator interface (its G is not frozen: nor is this)."""

    def __init__(self, generator):
        super().__init__()
        import copy

        self.module = copy.deepcopy(generator.module).requires_grad_(True)
        self.dim_z = generator.latent_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.module(z)

    def gen_shifted(self, z: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
        return self.forward(z + shift)


def reference_steps_per_second(reference: str | Path, generator, k: int, deformator: str = "ortho",
                               steps: int = 300, batch_size: int = 32, skip: int = 20) -> float:
    """The reference's ``Trainer.train`` for ``steps`` steps with its LeNet R; steps per second over the steps
    after the first ``skip`` (read at each step's log call, after its host syncs)."""
    reference = str(Path(reference).resolve())
    _patch_environment()
    if reference not in sys.path:
        sys.path.insert(0, reference)
    import trainer as ref_trainer
    from latent_deformator import DeformatorType, LatentDeformator
    from latent_shift_predictor import LeNetShiftPredictor

    kind = {"ortho": DeformatorType.ORTHO, "proj": DeformatorType.PROJECTIVE}[deformator]
    g = ReferenceG(generator)
    d = g.dim_z
    # run_train.py's construction: input_dim = directions_count, out_dim = the latent size; ortho needs K = d
    a = LatentDeformator(shift_dim=[d], input_dim=k, out_dim=d, type=kind, random_init=True)
    channels = generator.image_shape[0]
    r = LeNetShiftPredictor(k, channels)
    params = ref_trainer.Params(directions_count=k, batch_size=batch_size, n_steps=steps,
                                steps_per_img_log=10**9, steps_per_backup=10**9, steps_per_save=10**9)
    stamps: list[float] = []
    with tempfile.TemporaryDirectory() as out:
        trainer = ref_trainer.Trainer(params, out_dir=out)
        log = trainer.log

        def timed_log(*args, **kwargs):
            stamps.append(time.perf_counter())
            return log(*args, **kwargs)

        trainer.log = timed_log
        trainer.log_interpolation = lambda *args, **kwargs: None
        with contextlib.redirect_stdout(io.StringIO()):
            trainer.train(g, a, r)
    return (len(stamps) - 1 - skip) / (stamps[-1] - stamps[skip])
