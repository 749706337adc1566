"""Model weights shipped inside the package (see ``MODEL_CARD.md`` next to them).

``glavitu_lite_everest``: ``glavitu_lite`` trained on the Everest/Khumbu Landsat-7 2000 scene
(NIR + RGB, DEM elevation + slope) against RGI 6.0 outlines, with its spatial split, normalisation
statistics and confidence calibrators stored in the checkpoint. Load it with::

    from glacierlab.models import load_checkpoint
    from glacierlab.weights import shipped_checkpoint_path

    ckpt = load_checkpoint(shipped_checkpoint_path())

Its held-out figures are in ``<name>_metrics.json`` (written by ``benchmarks/everest_model.py``).
"""

from __future__ import annotations

from pathlib import Path

from glacierlab.errors import DataNotFoundError, unknown_name

WEIGHTS_DIR = Path(__file__).resolve().parent
SHIPPED = ("glavitu_lite_everest",)
#: Optical product level each shipped model reads (a ``vocabulary.PRODUCT_LEVELS`` key; the checkpoint
#: says the same, ``tests/data/test_contents.py`` checks it): lets the catalog advice say, without loading
#: torch, which scenes the shipped model refuses.
SHIPPED_PRODUCT_LEVEL = {"glavitu_lite_everest": "dn8"}


def shipped_checkpoint_path(name: str = "glavitu_lite_everest") -> Path:
    """Path of a checkpoint shipped in the package.

    Args:
        name: One of :data:`SHIPPED`.

    Returns:
        The ``.safetensors`` file (load it with :func:`glacierlab.models.load_checkpoint`).

    Raises:
        UnknownNameError: ``name`` is not a shipped model.
        DataNotFoundError: The file is missing from this installation.
    """
    if name not in SHIPPED:
        raise unknown_name("shipped model", name, SHIPPED)
    path = WEIGHTS_DIR / f"{name}.safetensors"
    if not path.exists():
        raise DataNotFoundError(
            f"shipped weights {path} are missing from this installation; reinstall glacierlab "
            "(the wheel must include glacierlab/weights/*.safetensors), or regenerate them with "
            "`python benchmarks/everest_model.py --ship "
            "--checkpoint runs/everest_long/glavitu_lite_everest.safetensors`."
        )
    return path


def shipped_metrics_path(name: str = "glavitu_lite_everest") -> Path:
    """Path of the held-out figures (JSON) of a shipped model, written next to its weights.

    Raises:
        UnknownNameError: ``name`` is not a shipped model.
        DataNotFoundError: The file is missing.
    """
    weights = shipped_checkpoint_path(name)
    path = weights.with_name(f"{name}_metrics.json")
    if not path.exists():
        raise DataNotFoundError(
            f"{path} is missing; run `python benchmarks/everest_model.py --ship` to write it."
        )
    return path
