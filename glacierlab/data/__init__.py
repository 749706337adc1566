"""Data: the catalog, hashed fetching, rasters and outlines, model-ready stacks, STAC search.

Importing this package is cheap. The face exports ``fetch`` (a catalog source -> its local, hash-checked
path; home :mod:`glacierlab.data.download`); everything else is imported from its module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from glacierlab import lazy_exports

if TYPE_CHECKING:
    from glacierlab.data.download import fetch

_EXPORTS = {
    "fetch": "download",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
