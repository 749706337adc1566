"""glacierlab: glacier mapping with GlaViTU, headless helpers for notebooks, widgets and batch reports.

Importing ``glacierlab`` is cheap: it does not import torch, leafmap, ipywidgets or papermill. The
sub-packages name the roles (``data``, ``models``, ``inference``, ``outlines``, ``training``,
``reports``, ``batch``); a package re-exports, lazily, only the few names callers outside it use, so ``from
glacierlab.inference import predict_scene`` imports torch only when that name is asked for; everything else is
imported from its module.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

from glacierlab.errors import GlacierLabError

__version__ = "0.2.0"

__all__ = ["GlacierLabError", "__version__", "lazy_exports"]


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``package.<module>`` on first access of one of its names.

    Args:
        package: The package's ``__name__``.
        exports: Public name -> the module that defines it: a submodule name relative to ``package``,
            or an absolute ``glacierlab.<...>`` module for a name whose home is a lower layer.

    Returns:
        The ``__getattr__`` function to assign in the package's ``__init__``.
    """

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        home = module if module.startswith("glacierlab.") else f"{package}.{module}"
        return getattr(importlib.import_module(home), name)

    return __getattr__
