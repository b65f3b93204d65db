"""Latent discovery (Voynov & Babenko): deformators, reconstructors, the trainer, RCA and the main table."""

from .comparison import format_table, rca_comparison, rca_comparisons, summarize
from .deformators import DEFORMATORS, Deformator
from .distributed import (
    DistributedDiscovery,
    DistributedDiscoveryTrainer,
    DistributedRunError,
    discover_distributed,
    launch_discovery,
)
from .rca import rca
from .reconstructors import RECONSTRUCTORS, make_reconstructor
from .sampling import sample_shifts
from .trainer import DiscoveryStopped, DiscoveryTrainer, discover

__all__ = ["DEFORMATORS", "RECONSTRUCTORS", "Deformator", "DiscoveryStopped", "DiscoveryTrainer",
           "DistributedDiscovery", "DistributedDiscoveryTrainer", "DistributedRunError", "discover",
           "discover_distributed", "format_table", "launch_discovery", "make_reconstructor", "rca",
           "rca_comparison", "rca_comparisons", "sample_shifts", "summarize"]
