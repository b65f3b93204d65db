"""Directions in latent space: the bank that stores them and the methods that find them."""

from .bank import DirectionBank
from .sefa import sefa

__all__ = ["DirectionBank", "sefa"]
