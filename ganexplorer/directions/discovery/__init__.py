"""Latent discovery (Voynov & Babenko): deformators, reconstructors, the trainer, RCA and the main table."""

from .comparison import format_table, rca_comparison, rca_comparisons, summarize
from .deformators import DEFORMATORS, Deformator
from .rca import rca
from .reconstructors import RECONSTRUCTORS, make_reconstructor
from .sampling import sample_shifts
from .trainer import DiscoveryStopped, DiscoveryTrainer, discover

__all__ = ["DEFORMATORS", "RECONSTRUCTORS", "Deformator", "DiscoveryStopped", "DiscoveryTrainer", "discover",
           "format_table", "make_reconstructor", "rca", "rca_comparison", "rca_comparisons", "sample_shifts",
           "summarize"]
