"""The Jupyter widget: a thin view over the headless core (needs ipywidgets and anywidget)."""

from .explorer import Explorer

__all__ = ["Explorer"]
