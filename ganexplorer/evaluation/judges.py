"""Judges: small nets trained on *real* data that score *generated* images.

- ``digits``: a classifier of MNIST-5k digits (is a generated digit recognisable, and which one is it?);
- ``factors``: a regressor of the procedural shapes' ground-truth factors (what does an image show?);
- ``scenes``: a regressor of the procedural scenes' factors (object and background); the angles and the hue are
  circular there (an ellipse turned by 180 degrees, stripes turned by 180, hue 0 = hue 1), so the judge predicts
  them as (cos, sin) pairs and ``decode_scene_factors`` turns its outputs back into factors in [0, 1].
All ship as fp16 safetensors, retrained by ``ganexplorer train-judges``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..data.scenes import SCENE_FACTORS, make_scenes
from ..data.shapes import FACTORS, make_shapes
from ..device import resolve_device
from ..files import load_weights, read_header, save_weights

JUDGES = ("digits", "factors", "scenes")
CIRCULAR = ("rotation", "hue", "gradient_angle", "texture_angle")  # scene factors whose ends meet
_CIRC = [SCENE_FACTORS.index(n) for n in CIRCULAR]
_LINEAR = [i for i in range(len(SCENE_FACTORS)) if i not in _CIRC]


def encode_scene_factors(f: torch.Tensor) -> torch.Tensor:
    """Scene factors (N, 18) in [0, 1] -> judge targets (N, 22): the linear factors, then (cos, sin) of each
    circular one (a full turn over [0, 1])."""
    angle = 2 * math.pi * f[:, _CIRC]
    return torch.cat([f[:, _LINEAR], torch.cos(angle), torch.sin(angle)], 1)


def decode_scene_factors(y: torch.Tensor) -> torch.Tensor:
    """Judge outputs (N, 22) -> scene factors (N, 18) in [0, 1] (the inverse of ``encode_scene_factors``)."""
    n_lin, n_circ = len(_LINEAR), len(_CIRC)
    f = torch.empty(y.shape[0], len(SCENE_FACTORS), device=y.device, dtype=y.dtype)
    f[:, _LINEAR] = y[:, :n_lin].clamp(0, 1)
    angle = torch.atan2(y[:, n_lin + n_circ:], y[:, n_lin:n_lin + n_circ])
    f[:, _CIRC] = (angle / (2 * math.pi)) % 1.0
    return f


def _conv_stack(in_ch: int, width: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for c_out in (width, width * 2, width * 4):  # 32 -> 16 -> 8 -> 4
        layers += [nn.Conv2d(in_ch, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
                   nn.MaxPool2d(2)]
        in_ch = c_out
    return nn.Sequential(*layers, nn.Flatten())


class Judge(nn.Module):
    """Conv net on 32x32 images in [-1, 1] with ``outputs`` logits (digits) or factor values (factors)."""

    def __init__(self, channels: int, outputs: int, width: int = 32):
        super().__init__()
        self.channels, self.outputs, self.width = channels, outputs, width
        self.features = _conv_stack(channels, width)
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(width * 4 * 16, 256), nn.ReLU(inplace=True),
                                  nn.Linear(256, outputs))

    def config(self) -> dict[str, int]:
        return {"channels": self.channels, "outputs": self.outputs, "width": self.width}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _jitter(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Small random rotations, scalings and shifts, so the digit judge is not fooled by a slightly odd pose."""
    n = x.shape[0]
    angle = (torch.rand(n, generator=gen) - 0.5) * math.radians(20)
    scale = 1 + (torch.rand(n, generator=gen) - 0.5) * 0.2
    shift = (torch.rand(n, 2, generator=gen) - 0.5) * 0.25
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta.to(x.device), list(x.shape), align_corners=False)
    return F.grid_sample(x + 1, grid, align_corners=False) - 1  # pad with background (-1)


def train_judge(name: str, steps: int = 2000, batch_size: int = 64, seed: int = 0,
                device: str = "auto") -> tuple[Judge, dict]:
    """Train judge ``name`` and return it with its held-out score (accuracy, or R^2 per factor)."""
    dev = resolve_device(device)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    if name == "digits":
        from ..data.mnist import load_mnist5k

        images, labels = load_mnist5k()
        held = torch.arange(len(images)) % 10 == 0  # 500 held-out digits, 50 per class
        train_x, train_y = images[~held].to(dev), labels[~held].to(dev)
        model = Judge(1, 10).to(dev)
    elif name == "factors":
        model = Judge(3, len(FACTORS)).to(dev)
    elif name == "scenes":
        model = Judge(3, len(SCENE_FACTORS) + len(CIRCULAR)).to(dev)
    else:
        raise ValueError(f"unknown judge {name!r}: choose one of {JUDGES}")
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
    model.train()
    for _ in range(steps):
        if name == "digits":
            idx = torch.randint(len(train_x), (batch_size,), generator=gen).to(dev)
            loss = F.cross_entropy(model(_jitter(train_x[idx], gen)), train_y[idx])
        elif name == "factors":
            x, f = make_shapes(batch_size, seed=int(torch.randint(2**31, (1,), generator=gen)), device=dev)
            loss = F.mse_loss(model(x), f)
        else:
            x, _, f = make_scenes(batch_size, seed=int(torch.randint(2**31, (1,), generator=gen)), device=dev)
            loss = F.mse_loss(model(x), encode_scene_factors(f))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    model.eval()
    with torch.no_grad():
        if name == "digits":
            score = {"heldout_accuracy": (model(images[held].to(dev)).argmax(1).cpu() == labels[held])
                     .float().mean().item()}
        elif name == "factors":
            x, f = make_shapes(2000, seed=seed + 12345, device=dev)
            score = {"heldout_r2": dict(zip(FACTORS, r2_score(model(x), f).tolist()))}
        else:  # R^2 of the linear factors, and of the (cos, sin) pairs of the circular ones
            x, _, f = make_scenes(2000, seed=seed + 12345, device=dev)
            r2 = r2_score(model(x), encode_scene_factors(f)).tolist()
            n_lin, n_circ = len(_LINEAR), len(_CIRC)
            per = {SCENE_FACTORS[i]: r2[j] for j, i in enumerate(_LINEAR)}
            per.update({SCENE_FACTORS[i]: (r2[n_lin + j] + r2[n_lin + n_circ + j]) / 2 for j, i in enumerate(_CIRC)})
            score = {"heldout_r2": {name: per[name] for name in SCENE_FACTORS}}
    return model, score


def r2_score(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Coefficient of determination per column."""
    resid = ((pred - target) ** 2).sum(0)
    total = ((target - target.mean(0)) ** 2).sum(0).clamp_min(1e-12)
    return 1 - resid / total


def judge_path(name: str):
    from ..generators.zoo import WEIGHTS_DIR

    return WEIGHTS_DIR / f"judge_{name}.safetensors"


def save_judge(model: Judge, name: str, score: dict, path=None) -> None:
    save_weights(model.state_dict(), path or judge_path(name),
                 {"format": "ganexplorer-judge", "judge": name, "config": model.config(), "score": score})


def load_judge(name: str, device: str | torch.device = "auto") -> Judge:
    """A shipped judge in eval mode on ``device``."""
    if name not in JUDGES:
        raise ValueError(f"unknown judge {name!r}: choose one of {JUDGES}")
    path = judge_path(name)
    if not path.exists():
        raise FileNotFoundError(f"judge weights missing at {path}: run `ganexplorer train-judges`")
    model = Judge(**read_header(path)["config"])
    model.load_state_dict(load_weights(path))
    return model.to(resolve_device(device)).eval().requires_grad_(False)
