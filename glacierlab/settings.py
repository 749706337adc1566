"""Where glacierlab reads and writes, and whether it may use the network: one home for the environment.

Environment variables:
    ``GLACIERLAB_CACHE_DIR``: the download cache (default ``pooch.os_cache("glacierlab")``).
    ``GLACIERLAB_SEED_DIR``: a folder laid out like ``../shared/data`` that seeds the cache.
    ``GLACIERLAB_OFFLINE``: any value but ``""``/``"0"`` forbids downloads and STAC searches.
    ``GLACIERLAB_WORKSPACE``: the root of notebook and CLI outputs (default: the project root when run
    from a checkout, else the current folder).
    ``GLACIERLAB_MAX_GIB``: the memory budget (GiB, default 4) of one array read or built whole.
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


#: Default of ``GLACIERLAB_MAX_GIB``: the most memory (GiB) one array read or built whole may take.
DEFAULT_MAX_GIB = 4.0


def memory_budget() -> int:
    """Bytes one array that glacierlab reads or builds *whole* may take (``$GLACIERLAB_MAX_GIB``, default 4 GiB).

    Checked from headers before anything is allocated (:func:`check_budget`): a raster read whole, a
    bbox x resolution stack, an ``.h5`` weight, an array in a calibration pickle. Streaming paths
    (whole-scene prediction reads and writes windows) are not bounded by it.
    """
    env = os.environ.get("GLACIERLAB_MAX_GIB", "")
    try:
        gib = float(env) if env else DEFAULT_MAX_GIB
    except ValueError:
        gib = DEFAULT_MAX_GIB
    return int(gib * 2**30) if gib > 0 else int(DEFAULT_MAX_GIB * 2**30)


def check_budget(nbytes: float, what: str, fix: str = "") -> None:
    """Raise :class:`~glacierlab.errors.InputError` when ``nbytes`` exceeds :func:`memory_budget`.

    Args:
        nbytes: Bytes the allocation would take (computed from a header, before allocating).
        what: What would be allocated, e.g. ``"raster x.tif (96 x 50000000 px, 4 bands, float32)"``.
        fix: How to make it smaller (tile, bbox...); the message adds how to raise the budget.
    """
    budget = memory_budget()
    if nbytes > budget:
        from glacierlab.errors import InputError

        raise InputError(
            f"{what} would take {nbytes / 2**30:.2f} GiB, over the memory budget of {budget / 2**30:.2f} GiB. To fix: "
            + (f"{fix}; or " if fix else "")
            + "raise the budget with the environment variable GLACIERLAB_MAX_GIB (e.g. GLACIERLAB_MAX_GIB=16) "
            "if the machine has the memory."
        )
