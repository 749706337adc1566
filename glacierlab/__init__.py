"""glacierlab: glacier mapping with GlaViTU, headless helpers for notebooks, widgets and batch reports.

Importing ``glacierlab`` is cheap: it does not import torch, leafmap, ipywidgets or papermill.
Submodules are imported on use (``from glacierlab import catalog``).
"""

from glacierlab.errors import GlacierLabError

__version__ = "0.1.0"

__all__ = ["GlacierLabError", "__version__"]
