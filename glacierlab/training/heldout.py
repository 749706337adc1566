"""Is a trained model worth mapping with? Its held-out test blocks, scored next to the baselines.

:func:`compare_heldout` predicts the test blocks of the spatial split stored in a checkpoint and scores,
on the same pixels, "everything is glacier" (IoU = the glacier share of the test pixels), a per-pixel
random forest fitted on the training blocks of the same split (:mod:`glacierlab.training.baselines`) and
the shipped Everest model where it fits the imagery (saying when its own training blocks overlap these
test blocks). :func:`record_comparison` stores the result in the checkpoint (``extra.heldout``) and
:func:`glacierlab.contract.comparison.stored_comparison` reads it back, so the later workshop steps
(:func:`glacierlab.inference.compat.choose_checkpoint`) skip a model that does not beat the baseline.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from glacierlab.contract.comparison import (
    ALL_GLACIER,
    EXTRA_KEY,
    FOREST,
    MODEL,
    SHIPPED,
    HeldOutComparison,
    MethodScore,
)
from glacierlab.errors import GlacierLabError, InputError
from glacierlab.metrics import heldout_counts

if TYPE_CHECKING:
    import xarray as xr


def method_score(
    method: str, prediction: np.ndarray, reference: np.ndarray, area: np.ndarray, note: str = ""
) -> MethodScore:
    """Score one (H, W) prediction (mask 0/1/255 or probability) against the reference on ``area``."""
    c = heldout_counts(prediction, reference, area)
    return MethodScore(method, c.iou, c.precision, c.recall, (c.tp + c.fp) / max(c.total, 1), note)


def _shipped_note(shipped: Any, stack: xr.Dataset, test: np.ndarray) -> str:
    """Whether the shipped model's training blocks cover any of these test pixels, in one sentence."""
    split = shipped.record.spatial_split
    same = shipped.record.region_id == stack.attrs.get("region")
    if split is not None and same and tuple(split.shape) == tuple(test.shape):
        seen = split.mask("train") & test
        if not seen.any():
            return "its training blocks do not touch these test blocks (same split)"
        return f"trained on {seen.sum() / max(test.sum(), 1):.0%} of these test pixels: not a held-out score"
    if same:
        return "trained on another frame of this region: it may have seen these test pixels"
    return "trained on another region (Everest)"


def compare_heldout(
    checkpoint: str | os.PathLike[str] | Any,
    stack: xr.Dataset,
    *,
    shipped: bool = True,
    forest_pixels: int = 50_000,
    seed: int = 0,
    device: str = "cpu",
) -> HeldOutComparison:
    """Score a trained checkpoint on the test blocks of its stored split, next to the baselines.

    Args:
        checkpoint: A trained checkpoint (path or loaded) whose ``extra.spatial_split`` is on ``stack``'s grid
            (what :func:`glacierlab.training.train_scene` writes).
        stack: The stack it was trained on (:func:`glacierlab.data.stack.stack_region`).
        shipped: Also score the shipped Everest model where it fits the imagery (product level, bands).
        forest_pixels: Training-block pixels the random forest is fitted on.
        seed: Seed of the forest.
        device: Where the models predict.

    Returns:
        The :class:`HeldOutComparison` (the model, "everything is glacier", the random forest, the
        shipped model where it applies).

    Raises:
        InputError: The checkpoint has no spatial split, or the split is not on the stack's grid.
        NoDataError: The test blocks hold no labelled pixel.
    """
    from glacierlab.errors import NoDataError
    from glacierlab.inference.compat import fit_problem, predict_if_fits
    from glacierlab.models import load_checkpoint
    from glacierlab.models.checkpoint import Checkpoint
    from glacierlab.training.baselines import fit_random_forest, pixel_features
    from glacierlab.training.scene_dataset import scene_from_stack
    from glacierlab.weights import shipped_checkpoint_path

    ck = checkpoint if isinstance(checkpoint, Checkpoint) else load_checkpoint(checkpoint)
    ref = np.asarray(stack["reference"].values)
    if ck.record.spatial_split is None:
        raise InputError(
            "this checkpoint stores no spatial split (extra.spatial_split), so it has no declared test blocks; "
            "compare a checkpoint written by glacierlab.training.train_scene."
        )
    split = ck.record.spatial_split
    if split.shape != tuple(ref.shape):
        raise InputError(
            f"the checkpoint's split is {split.shape[0]} x {split.shape[1]} px but the stack is "
            f"{ref.shape[0]} x {ref.shape[1]} px; pass the stack (region, scene, bbox) the model was trained on."
        )
    test = split.mask("test")
    if not ((ref[test] == 0) | (ref[test] == 1)).any():
        raise NoDataError("the test blocks hold no labelled pixel; use a larger area or other split sizes.")
    # the stack the model was trained on: its value range is the model's own, no range check needed
    pred, why = predict_if_fits(ck, stack, device=device, check=False)
    if pred is None:
        raise InputError(f"the trained model cannot map its own stack: {why}")
    mask = np.asarray(pred["mask"].values)
    rows = [method_score(MODEL, mask, ref, test)]
    rows.append(method_score(ALL_GLACIER, np.where(mask == 255, 255, 1).astype(np.uint8), ref, test))
    groups = tuple(ck.bands)
    scene = scene_from_stack(stack, groups, ck.normalisation, stats_mask=split.mask("train"))
    forest = fit_random_forest(
        scene.inputs, scene.bands, scene.reference, split.mask("train"), n_pixels=forest_pixels, seed=seed
    )
    feats, _ = pixel_features(scene.inputs, scene.bands)  # the forest predicts the test pixels only
    where = np.flatnonzero(test)
    forest_mask = np.full(ref.shape, 255, dtype=np.uint8)
    forest_mask.flat[where] = forest.predict(feats.reshape(feats.shape[0], -1)[:, where].T)
    rows.append(method_score(FOREST, forest_mask, ref, test, "fitted on the training blocks"))
    ship_path = shipped_checkpoint_path()
    own = isinstance(checkpoint, str | os.PathLike) and Path(checkpoint).resolve() == ship_path.resolve()
    if shipped and not own:
        ship = load_checkpoint(ship_path)
        if not fit_problem(ship, stack, "the shipped model"):
            try:  # the value checks may still refuse the imagery (e.g. other scaling): then no row
                sp, _ = predict_if_fits(ship, stack, name="the shipped model", device=device)
            except GlacierLabError:
                sp = None
            if sp is not None:
                rows.append(
                    method_score(SHIPPED, np.asarray(sp["mask"].values), ref, test, _shipped_note(ship, stack, test))
                )
    scored = test & ((ref == 0) | (ref == 1)) & (mask != 255)
    return HeldOutComparison(
        str(stack.attrs.get("region", ck.record.region_id or "")),
        int(scored.sum()),
        float((ref[scored] == 1).mean()),
        tuple(rows),
    )


def record_comparison(path: str | os.PathLike[str], comparison: HeldOutComparison) -> Path:
    """Store ``comparison`` in the checkpoint at ``path`` (``extra.heldout``), keeping everything else."""
    from glacierlab.models import load_checkpoint, save_checkpoint

    ck = load_checkpoint(path)
    extra = ck.record.to_extra() | {EXTRA_KEY: comparison.to_dict()}
    return save_checkpoint(
        path,
        ck.model,
        bands=ck.bands,
        normalisation=ck.normalisation,
        calibration=ck.calibration,
        class_names=ck.class_names,
        extra=extra,
        overwrite=True,
        options=ck.options,
        inputs=ck.inputs or None,
    )
