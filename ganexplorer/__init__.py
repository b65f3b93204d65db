"""ganexplorer: explore, discover and label interpretable directions in the latent space of GANs."""

from .directions import DirectionBank, sefa
from .generators import ZOO, Generator, load_generator

__version__ = "0.1.0"
__all__ = ["DirectionBank", "Generator", "ZOO", "load_generator", "sefa", "__version__"]
