"""Where glacierlab reads and writes, and whether it may use the network: one home for the environment.

Environment variables:
    ``GLACIERLAB_CACHE_DIR``: the download cache (default ``pooch.os_cache("glacierlab")``).
    ``GLACIERLAB_SEED_DIR``: a folder laid out like ``../shared/data`` that seeds the cache.
    ``GLACIERLAB_OFFLINE``: any value but ``""``/``"0"`` forbids downloads and STAC searches.
    ``GLACIERLAB_WORKSPACE``: the root of notebook and CLI outputs (default: the project root when run
    from a checkout, else the current folder).
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """The download cache folder (``$GLACIERLAB_CACHE_DIR`` or the platform user cache)."""
    env = os.environ.get("GLACIERLAB_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    import pooch

    return Path(pooch.os_cache("glacierlab"))


def seed_dir() -> Path | None:
    """The seed folder (``$GLACIERLAB_SEED_DIR``) or None when unset."""
    env = os.environ.get("GLACIERLAB_SEED_DIR")
    return Path(env).expanduser() if env else None


def offline() -> bool:
    """True when ``GLACIERLAB_OFFLINE`` is set to anything but ``""`` or ``"0"``."""
    return os.environ.get("GLACIERLAB_OFFLINE", "") not in ("", "0")


def project_root() -> Path | None:
    """The checkout holding this package (a folder with ``pyproject.toml`` and ``notebooks/``), or None."""
    here = Path(__file__).resolve().parents[1]
    return here if (here / "pyproject.toml").is_file() and (here / "notebooks").is_dir() else None


def workspace() -> Path:
    """The root folder of outputs written by notebooks, widgets and the CLI when no folder is given.

    ``$GLACIERLAB_WORKSPACE`` when set; else the project root of a checkout (so JupyterLab, Voilà and
    papermill, whatever their working folder, write to the same place); else the current folder.
    Outputs go to ``<workspace>/runs/...`` (git-ignored).
    """
    env = os.environ.get("GLACIERLAB_WORKSPACE")
    if env:
        return Path(env).expanduser().resolve()
    return project_root() or Path.cwd().resolve()


#: Where train_your_region.ipynb writes its model, relative to the workspace.
TRAINED_CHECKPOINT = "runs/train_your_region/model.safetensors"


def output_dir(step: str, given: str | os.PathLike[str] | None = None) -> Path:
    """The folder a notebook or widget step writes to: ``given``, else ``<workspace>/runs/<step>``.

    Args:
        step: The step's name (a notebook name such as ``"map_glaciers"``).
        given: A folder chosen by the user; relative paths are taken from the workspace (not the
            current folder), so Lab, Voila and papermill write to the same place. ``""``/None: default.

    Returns:
        The absolute folder (not created).
    """
    if given:
        p = Path(given).expanduser()
        return p if p.is_absolute() else workspace() / p
    return workspace() / "runs" / step
