import pytest
import torch
from torch import nn

from ganexplorer import Generator, load_generator


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
