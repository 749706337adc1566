"""glacierlab: glacier mapping with GlaViTU, headless helpers for notebooks, widgets and batch reports.

Importing ``glacierlab`` is cheap: it does not import torch, leafmap, ipywidgets or papermill. The
sub-packages name the roles (``data``, ``models``, ``inference``, ``outlines``, ``training``,
``reports``, ``batch``); each re-exports its public names lazily, so ``from glacierlab.inference import
predict_scene`` imports torch only when that name is asked for.
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
        exports: Public name -> submodule (relative to ``package``) that defines it.

    Returns:
        The ``__getattr__`` function to assign in the package's ``__init__``.
    """

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    return __getattr__
