"""Generators: the ``Generator`` wrapper, the built-in zoo and checkpoint loading."""

from .generator import Generator
from .zoo import ZOO, load_generator

__all__ = ["Generator", "ZOO", "load_generator"]
