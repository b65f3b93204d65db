"""ganexplorer: explore, discover and label interpretable directions in the latent space of GANs."""

from .directions import (
    DirectionBank,
    DiscoveryTrainer,
    coordinate_directions,
    discover,
    pca,
    random_directions,
    rca,
    rca_comparison,
    sefa,
)
from .generators import ZOO, Generator, load_generator

__version__ = "0.1.0"
__all__ = ["DirectionBank", "DiscoveryTrainer", "Generator", "ZOO", "coordinate_directions", "discover",
           "load_generator", "pca", "random_directions", "rca", "rca_comparison", "sefa", "__version__"]
