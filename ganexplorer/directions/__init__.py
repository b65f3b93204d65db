"""Directions in latent space: the bank that stores them and the methods that find them."""

from .bank import DirectionBank
from .baselines import coordinate_directions, random_directions
from .discovery import DiscoveryStopped, DiscoveryTrainer, discover, rca, rca_comparison
from .pca import pca
from .sefa import sefa

__all__ = ["DirectionBank", "DiscoveryStopped", "DiscoveryTrainer", "coordinate_directions", "discover", "pca",
           "random_directions", "rca", "rca_comparison", "sefa"]
