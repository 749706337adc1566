"""Does a checkpoint fit a scene? Product level (reflectance vs 8-bit numbers) and bands, checked before predicting.

A model trained on 8-bit digital numbers (0-255, e.g. the shipped Everest model) fed top-of-atmosphere
reflectance (0-1) - or the reverse - draws a plausible-looking map that is wrong. :func:`model_inputs`
refuses that, and fills bands a scene lacks (e.g. NIR of an RGB-only image) with no data only when asked.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from glacierlab.errors import DataNotFoundError, InputError
from glacierlab.geo import on_grid_of
from glacierlab.vocabulary import PRODUCT_LEVELS

if TYPE_CHECKING:
    import xarray as xr

    from glacierlab.contract.record import CheckpointContract
    from glacierlab.models.checkpoint import Checkpoint

#: Optical normalisation maxima above this are digital numbers, not reflectance (TOA can reach ~1.5).
_DN_THRESHOLD = 2.0
_REFLECTANCE = ("toa", "surface")


def checkpoint_product_level(checkpoint: CheckpointContract) -> str | None:
    """The optical product level a checkpoint was trained on, or None when it cannot be told.

    Uses the header's ``inputs["optical"]["product_level"]``, else the training record's ``product_level``
    (written by :func:`glacierlab.training.train_scene`) when present,
    else the optical normalisation statistics: maxima above 2 mean digital numbers (``"dn8"``), maxima
    up to 2 mean reflectance (``"reflectance"``, TOA or surface not known).

    Args:
        checkpoint: A loaded checkpoint (``.inputs``, ``.record``, ``.normalisation``).

    Returns:
        ``"toa"``, ``"surface"``, ``"dn8"``, ``"reflectance"`` or None (no optical group or statistics).
    """
    from glacierlab.inference.checks import model_level

    stored = model_level(checkpoint)  # the header's inputs (every checkpoint written since options travel)
    if stored is not None:
        return stored
    stats = (checkpoint.normalisation or {}).get("optical") or {}
    hi = stats.get("max")
    if hi is None or not len(np.atleast_1d(hi)):
        return None
    return "dn8" if float(np.max(hi)) > _DN_THRESHOLD else "reflectance"


def require_product_level_fit(checkpoint: CheckpointContract, stack: xr.Dataset, name: str = "the checkpoint") -> None:
    """Refuse a scene whose optical product level differs in kind from the checkpoint's.

    Reflectance (TOA or surface) vs digital numbers is refused; TOA vs surface reflectance is allowed
    (the paper trains on TOA; surface reflectance differs by the atmosphere, not by scale).

    Raises:
        InputError: Naming both levels and what to do instead.
    """
    if "optical" not in stack:
        return
    where = f"{stack.attrs.get('region', '')} {stack.attrs.get('scene', '')}"
    problem = product_level_problem(checkpoint, str(stack.attrs.get("product_level") or ""), where, name)
    if problem:
        raise InputError(problem)


def product_level_problem(
    checkpoint: CheckpointContract, scene_level: str, where: str = "", name: str = "the checkpoint"
) -> str:
    """Why a checkpoint does not fit imagery of ``scene_level`` (a catalog ``product_level``), or "" if it does.

    The same rule as :func:`require_product_level_fit`, for callers that know the level without loading the scene
    (e.g. from the catalog source).
    """
    from glacierlab.inference.checks import level_fit

    model = checkpoint_product_level(checkpoint)
    if model is None or level_fit(model, scene_level) != "refuse":
        return ""
    return (
        f"{name} was trained on {PRODUCT_LEVELS.get(model, model + ' (0-1)')}, but this scene "
        f"({where}) is {PRODUCT_LEVELS[scene_level]}: "
        "its map would look plausible and be wrong. Train a model on this kind of imagery "
        "(notebooks/train_your_region.ipynb) or pick a checkpoint trained on it."
    )


def model_inputs(
    stack: xr.Dataset, bands: Mapping[str, Sequence[str]], *, fill_missing: bool = False
) -> tuple[dict[str, xr.DataArray], dict[str, list[str]]]:
    """The stack's groups as ``(band, y, x)`` DataArrays with exactly the checkpoint's bands, in order.

    Args:
        stack: A stack from :func:`glacierlab.data.stack.stack_region` (groups with ``<group>_band`` dims).
        bands: Group -> band names the model expects (``Checkpoint.bands``).
        fill_missing: Add bands the stack lacks as all-NaN layers. NaN is no data: the normaliser maps
            it to 0 (the paper's convention for missing inputs) and ``predict_scene(nodata="all")``
            keeps predicting where the other bands have data. The model then sees a constant 0 band
            it never saw alone in training (its occlusion augmentation blanks whole groups, not single
            bands), so scores with filled bands measure robustness, not the model's skill.

    Returns:
        (group -> DataArray, group -> names of the bands that were filled).

    Raises:
        InputError: A group is missing, or a band is missing and ``fill_missing`` is False.
    """
    import xarray as xr

    from glacierlab.data.stack import group

    out, filled = {}, {}
    for g, names in bands.items():
        if g not in stack.data_vars:
            raise InputError(
                f"the stack has no {g!r} group (it has {list(stack.data_vars)}); the model needs "
                f"{dict(bands)}. Choose a scene with {g} data (the region picker lists what each holds)."
            )
        da = group(stack, g)
        have = [str(b) for b in da["band"].values]
        missing = [b for b in names if b not in have]
        if missing and not fill_missing:
            raise InputError(
                f"group {g!r} lacks bands {missing} (it has {have}); pass fill_missing=True to feed "
                "them as no data (0 after normalisation)."
            )
        if len(missing) == len(names):
            raise InputError(
                f"group {g!r} has none of the checkpoint's bands {list(names)} (it has {have}); "
                "a model cannot map a scene from no data. Choose a checkpoint trained on these bands."
            )
        layers = [
            da.sel(band=b) if b in have else xr.full_like(da.isel(band=0), np.nan).assign_coords(band=b)
            for b in names
        ]
        arr = xr.concat(layers, dim="band").assign_coords(band=list(names))
        out[g] = on_grid_of(arr, stack)
        filled[g] = missing
    return out, filled


def choose_checkpoint(checkpoint: str | os.PathLike[str] | None = "") -> Path:
    """The checkpoint a workshop step uses: the one given, else the trained one, else the shipped model.

    Args:
        checkpoint: A path (relative paths are taken from :func:`glacierlab.settings.workspace`);
            ``""``/None: ``<workspace>/runs/train_your_region/model.safetensors`` when
            ``train_your_region.ipynb`` wrote it and it beat "everything is glacier" on its held-out
            test blocks (:func:`trained_checkpoint_problem`), else the shipped Everest model.

    Returns:
        The checkpoint file (:func:`checkpoint_choice_reason` says why, in one sentence).

    Raises:
        DataNotFoundError: A given checkpoint does not exist (the message names the shipped model).
    """
    from glacierlab.settings import TRAINED_CHECKPOINT, workspace
    from glacierlab.weights import shipped_checkpoint_path

    shipped = shipped_checkpoint_path()
    if not checkpoint:
        trained = workspace() / TRAINED_CHECKPOINT
        return trained if trained.is_file() and not trained_checkpoint_problem(trained) else shipped
    p = Path(checkpoint).expanduser()
    p = p if p.is_absolute() else workspace() / p
    if not p.is_file():
        raise DataNotFoundError(
            f"checkpoint {p} does not exist: run notebooks/train_your_region.ipynb to write one, or use "
            f"the shipped Everest model (checkpoint = \"\" or {shipped})."
        )
    return p


def trained_checkpoint_problem(path: str | os.PathLike[str]) -> str:
    """Why a trained checkpoint is not used by default, in one sentence ('' when it is).

    A checkpoint whose held-out comparison (``extra.heldout``, written by ``train_your_region.ipynb``
    through :func:`glacierlab.training.heldout.record_comparison`) shows it does not beat "everything is
    glacier" on its test blocks is not used; one without a comparison (or with an unreadable header) is.
    """
    from glacierlab.contract.comparison import stored_comparison
    from glacierlab.errors import GlacierLabError
    from glacierlab.models.header import header_of

    try:
        comparison = stored_comparison(header_of(path))
    except GlacierLabError:
        return ""  # loading it later says what is wrong with the file
    if comparison is None or comparison.beats_baseline:
        return ""
    return (
        f"the model train_your_region wrote ({path}) does not beat 'everything is glacier' on its held-out "
        f"test blocks (glacier IoU {comparison.model.iou:.3f} vs {comparison.baseline.iou:.3f})"
    )


def checkpoint_choice_reason(checkpoint: str | os.PathLike[str] | None = "") -> str:
    """One sentence: which model :func:`choose_checkpoint` picks for ``checkpoint`` and why."""
    from glacierlab.contract.comparison import stored_comparison
    from glacierlab.errors import GlacierLabError
    from glacierlab.models.header import header_of
    from glacierlab.settings import TRAINED_CHECKPOINT, workspace
    from glacierlab.weights import shipped_checkpoint_path

    path = choose_checkpoint(checkpoint)
    if checkpoint:
        return f"Using the checkpoint you chose: {path}."
    trained = workspace() / TRAINED_CHECKPOINT
    if path != trained:
        why = trained_checkpoint_problem(trained) if trained.is_file() else "no model trained in this workspace yet"
        return f"Using the shipped Everest model ({shipped_checkpoint_path().name}): {why}."
    try:
        comparison = stored_comparison(header_of(path))
    except GlacierLabError:
        comparison = None
    if comparison is None:
        return f"Using the model train_your_region wrote ({path}); it was not scored on its held-out blocks."
    return (
        f"Using the model train_your_region wrote ({path}): on its held-out test blocks it beats "
        f"'everything is glacier' by {comparison.gain:.3f} glacier IoU ({comparison.model.iou:.3f})."
    )


def workshop_checkpoints() -> list[Path]:
    """The checkpoints a workshop offers: the one train_your_region wrote (if any), then the shipped model."""
    from glacierlab.settings import TRAINED_CHECKPOINT, workspace
    from glacierlab.weights import shipped_checkpoint_path

    trained = workspace() / TRAINED_CHECKPOINT
    return ([trained] if trained.is_file() else []) + [shipped_checkpoint_path()]


def fit_problem(
    checkpoint: CheckpointContract, stack: xr.Dataset, name: str = "the checkpoint", *, fill_missing: bool = True
) -> str:
    """Why ``checkpoint`` cannot map ``stack``, in one sentence ('' when it can).

    Checks the product level (:func:`require_product_level_fit`) and that every input group, and at least one
    band of each (every band with ``fill_missing=False``), is in the stack (:func:`model_inputs`).
    """
    from glacierlab.errors import GlacierLabError

    try:
        require_product_level_fit(checkpoint, stack, name)
        model_inputs(stack, checkpoint.bands, fill_missing=fill_missing)
    except GlacierLabError as exc:
        return str(exc)
    return ""


def checkpoint_for(stack: xr.Dataset | None, checkpoint: str | os.PathLike[str] = "") -> tuple[Path | None, str]:
    """The checkpoint that maps a whole scene (reports, batch), or None and one sentence saying why none does.

    Args:
        stack: The scene's stack (None: no raster inputs).
        checkpoint: A checkpoint path; empty: the shipped model.

    Returns:
        ``(path, "")`` when the checkpoint's product level and every band fit the scene (no band is fed as
        no data for a main map), else ``(None, why)``.
    """
    if stack is None or "optical" not in stack:
        return None, "this scene has no optical imagery for a model to map."
    from glacierlab.models import load_checkpoint  # torch: only where there is something to map
    from glacierlab.weights import shipped_checkpoint_path

    path = Path(checkpoint) if checkpoint else shipped_checkpoint_path()
    problem = fit_problem(load_checkpoint(path), stack, path.name, fill_missing=False)
    return (None, problem) if problem else (path, "")


def predict_if_fits(
    checkpoint: Checkpoint, stack: xr.Dataset, *, name: str = "the checkpoint", **overrides: Any
) -> tuple[xr.Dataset | None, str]:
    """Predict a stack when the checkpoint fits it, else say why in one sentence (no prediction).

    The checkpoint's stored options apply (:func:`glacierlab.contract.options.options_for`); bands the
    scene lacks (e.g. NIR of an RGB image) are fed as no data with ``nodata="all"`` (see :func:`model_inputs`).

    Args:
        checkpoint: A loaded checkpoint.
        stack: A stack (``stack_region`` format).
        name: How the checkpoint is named in the message.
        **overrides: Passed to :func:`glacierlab.inference.predict.predict_scene` (option fields such as
            ``window``, ``stride``, ``calibration``; None keeps the stored value).

    Returns:
        ``(prediction, "")`` or ``(None, why)``.
    """
    from glacierlab.inference.predict import predict_scene

    problem = fit_problem(checkpoint, stack, name)
    if problem:
        return None, problem
    inputs, filled = model_inputs(stack, checkpoint.bands, fill_missing=True)
    if any(filled.values()):
        overrides["nodata"] = "all"
    overrides.setdefault("progress", False)
    level = stack.attrs.get("product_level") or None
    return predict_scene(checkpoint, inputs, product_level=level, **overrides), ""
