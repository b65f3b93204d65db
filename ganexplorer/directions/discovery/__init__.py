"""Latent discovery (Voynov & Babenko): deformators, reconstructors, the trainer and RCA."""

from .deformators import DEFORMATORS, Deformator
from .rca import format_table, rca, rca_comparison
from .reconstructors import make_reconstructor
from .trainer import DiscoveryStopped, DiscoveryTrainer, discover

__all__ = ["DEFORMATORS", "Deformator", "DiscoveryStopped", "DiscoveryTrainer", "discover", "format_table",
           "make_reconstructor", "rca", "rca_comparison"]
