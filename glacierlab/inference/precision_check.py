"""Is the low-precision map the float32 map? Whole-scene mask agreement and IoU change of int8 / bf16.

:func:`precision_map_check` maps a scene with ``precision="float32"`` and with ``"int8"`` or
``"bfloat16"`` (same window grid, blending and no-data policy) and compares the masks;
``benchmarks/bench_model.py --only lowp-check`` prints it for every shipped model and
``tests/accel/test_low_precision.py`` checks it against
:data:`glacierlab.accel.copy.PRECISION_TARGETS`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from glacierlab.accel.copy import PRECISION_TARGETS
from glacierlab.errors import InputError
from glacierlab.vocabulary import GLACIER, NODATA

if TYPE_CHECKING:
    import xarray as xr

    from glacierlab.models.checkpoint import CheckpointLike


def _iou(mask: np.ndarray, reference: np.ndarray, ok: np.ndarray) -> float:
    ok = ok & (reference != NODATA)
    pred, ref = mask[ok] == GLACIER, reference[ok] == GLACIER
    union = int((pred | ref).sum())
    return float((pred & ref).sum()) / union if union else float("nan")


def precision_map_check(
    checkpoint: CheckpointLike,
    inputs: xr.Dataset | Mapping[str, Any],
    precision: str = "int8",
    *,
    reference: np.ndarray | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """Map a scene with ``precision="float32"`` and with ``precision`` on CPU and compare the two masks.

    Args:
        checkpoint: A loaded checkpoint whose model is a float32 GlaViTU.
        inputs: The scene, as for ``predict_scene``.
        precision: ``"int8"`` or ``"bfloat16"``.
        reference: Optional reference mask on the scene grid (0 ice-free, 1 glacier, 255 no data);
            ``inputs["reference"]`` is used when ``inputs`` is a stack that has one.
        **overrides: Prediction options replacing the checkpoint's (e.g. ``window=96, nodata="all"``).

    Returns:
        ``precision``, ``agreement`` (share of pixels mapped in both with the same class, in [0, 1]),
        ``pixels``, ``iou_float32``, ``iou_low`` and ``iou_change`` (low precision minus float32; NaN
        without a reference), ``seconds_float32`` and ``seconds_low`` (whole predictions), the low-precision
        run's ``record`` (its ``precision_check`` output tag), and ``meets_targets`` (:data:`PRECISION_TARGETS`).

    Raises:
        InputError: The reference does not match the scene grid.
    """
    import json
    import warnings

    from glacierlab.errors import GlacierLabWarning
    from glacierlab.inference.predict import predict_scene

    if reference is None and hasattr(inputs, "data_vars") and "reference" in inputs.data_vars:
        reference = np.asarray(inputs["reference"].values)
    masks: dict[str, np.ndarray] = {}
    seconds: dict[str, float] = {}
    record: dict[str, Any] = {}
    for run in ("float32", precision):
        t0 = time.perf_counter()
        with warnings.catch_warnings():  # the run's own window-agreement warning: measured here instead
            warnings.simplefilter("ignore", GlacierLabWarning)
            out = predict_scene(checkpoint, inputs, device="cpu", progress=False, precision=run, **overrides)
        key = "float32" if run == "float32" else "low"
        masks[key] = np.asarray(out["mask"].values)
        seconds[key] = time.perf_counter() - t0
        record = json.loads(out.attrs.get("precision_check", "{}")) or record
    ok = (masks["float32"] != NODATA) & (masks["low"] != NODATA)
    pixels = int(ok.sum())
    agreement = float((masks["float32"][ok] == masks["low"][ok]).mean()) if pixels else float("nan")
    iou = {"float32": float("nan"), "low": float("nan")}
    if reference is not None:
        if reference.shape != ok.shape:
            raise InputError(f"reference is {reference.shape} but the scene is {ok.shape}; pass it on the scene grid.")
        iou = {k: _iou(m, reference, ok) for k, m in masks.items()}
    change = iou["low"] - iou["float32"]
    return {
        "precision": precision,
        "agreement": agreement,
        "pixels": pixels,
        "iou_float32": iou["float32"],
        "iou_low": iou["low"],
        "iou_change": change,
        "seconds_float32": seconds["float32"],
        "seconds_low": seconds["low"],
        "record": record,
        "meets_targets": bool(
            agreement >= PRECISION_TARGETS["agreement"]
            and (np.isnan(change) or abs(change) <= PRECISION_TARGETS["iou_change"])
        ),
    }
