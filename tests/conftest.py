import os

# One torch / BLAS thread per process unless told otherwise (OMP_NUM_THREADS=N): the suite runs notebook kernels,
# a Jupyter server and a browser beside pytest, and they inherit this environment. Default threads oversubscribe a
# small machine: the suite took 31 min on a loaded 2-core machine, 6 min with one thread per process.
THREADS = int(os.environ.setdefault("OMP_NUM_THREADS", "1"))
os.environ.setdefault("MKL_NUM_THREADS", str(THREADS))

import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from ganexplorer import Generator, load_generator  # noqa: E402
from ganexplorer.layers import parse_layers  # noqa: E402

torch.set_num_threads(THREADS)


class TinyGenerator(nn.Module):
    """A random-weight generator: Linear from the latent, then a conv; 16x16 images in [-1, 1]."""

    def __init__(self, latent_dim: int = 8, channels: int = 3):
        super().__init__()
        self.latent_dim = latent_dim
        self.fc = nn.Linear(latent_dim, 16 * 8 * 8)
        self.conv = nn.ConvTranspose2d(16, channels, 4, 2, 1)

    def forward(self, z):
        return torch.tanh(self.conv(torch.relu(self.fc(z).view(-1, 16, 8, 8))))


@pytest.fixture
def tiny():
    torch.manual_seed(0)
    return Generator(TinyGenerator(), device="cpu", name="tiny")


@pytest.fixture(scope="session")
def mnist():
    return load_generator("mnist", device="cpu")


@pytest.fixture(scope="session")
def shapes():
    return load_generator("shapes", device="cpu")


class ToyStyle(nn.Module):
    """A layer-aware toy: one style (affine) per layer read from its own latent, like StyleGAN's W+."""

    latent_dim, num_layers = 8, 4

    def __init__(self):
        super().__init__()
        self.affines = nn.ModuleList(nn.Linear(8, 6) for _ in range(self.num_layers))
        self.to_image = nn.Linear(6 * self.num_layers, 3 * 8 * 8)

    def forward(self, latents):
        if latents.ndim == 2:
            latents = latents[:, None].expand(-1, self.num_layers, -1)
        styles = torch.cat([a(latents[:, i]) for i, a in enumerate(self.affines)], dim=1)
        return torch.tanh(self.to_image(styles)).view(-1, 3, 8, 8)

    def sefa_weight(self, layers):
        return torch.cat([self.affines[i].weight for i in parse_layers(layers, self.num_layers)])


@pytest.fixture
def style():
    torch.manual_seed(0)
    return Generator(ToyStyle(), device="cpu", name="toy")


class Evil:
    """A pickle payload: unpickling it would run a shell command that creates ``marker``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)
