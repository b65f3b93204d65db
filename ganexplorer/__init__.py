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
from .directions.describe import describe
from .generators import ZOO, Generator, load_generator
from .projection import load_latents, project

__version__ = "0.1.0"


def __getattr__(name: str):
    """``ganexplorer.Explorer`` imports the widget stack only when asked for: the core never needs it."""
    if name == "Explorer":
        from .widget import Explorer

        return Explorer
    raise AttributeError(f"module 'ganexplorer' has no attribute {name!r}")
__all__ = ["DirectionBank", "DiscoveryTrainer", "Explorer", "Generator", "ZOO", "coordinate_directions", "describe",
           "discover", "load_generator", "load_latents", "pca", "project", "random_directions", "rca", "rca_comparison",
           "sefa", "__version__"]
