"""Is the int8 map the float32 map? Whole-scene mask agreement and IoU change of the int8 CPU path.

:func:`int8_map_check` maps a scene with ``precision="float32"`` and ``precision="int8"`` (same window
grid, blending and no-data policy) and compares the masks; ``benchmarks/bench_model.py --only
int8-check`` prints it for every shipped model and ``tests/models/test_quantize.py`` checks it against
:data:`glacierlab.inference.precision.INT8_TARGETS`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from glacierlab.errors import InputError
from glacierlab.inference.precision import INT8_TARGETS
from glacierlab.vocabulary import GLACIER, NODATA

if TYPE_CHECKING:
    import xarray as xr

    from glacierlab.models.checkpoint import CheckpointLike


def _iou(mask: np.ndarray, reference: np.ndarray, ok: np.ndarray) -> float:
    ok = ok & (reference != NODATA)
    pred, ref = mask[ok] == GLACIER, reference[ok] == GLACIER
    union = int((pred | ref).sum())
    return float((pred & ref).sum()) / union if union else float("nan")


def int8_map_check(
    checkpoint: CheckpointLike,
    inputs: xr.Dataset | Mapping[str, Any],
    *,
    reference: np.ndarray | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """Map a scene with ``precision="float32"`` and ``precision="int8"`` and compare the two masks.

    Args:
        checkpoint: A loaded checkpoint whose model is a float32 GlaViTU.
        inputs: The scene, as for ``predict_scene``.
        reference: Optional reference mask on the scene grid (0 ice-free, 1 glacier, 255 no data);
            ``inputs["reference"]`` is used when ``inputs`` is a stack that has one.
        **overrides: Prediction options replacing the checkpoint's (e.g. ``window=96, nodata="all"``).

    Returns:
        ``agreement`` (share of pixels mapped in both with the same class), ``pixels``, ``iou_float32``,
        ``iou_int8`` and ``iou_change`` (int8 minus float32; NaN without a reference), the seconds of
        both predictions, the int8 run's ``quantization`` record, and ``meets_targets``
        (:data:`INT8_TARGETS`).

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
    quant: dict[str, Any] = {}
    for precision in ("float32", "int8"):
        t0 = time.perf_counter()
        with warnings.catch_warnings():  # the int8 run's own agreement warning: measured here instead
            warnings.simplefilter("ignore", GlacierLabWarning)
            out = predict_scene(
                checkpoint, inputs, device="cpu", progress=False, precision=precision, **overrides
            )
        masks[precision] = np.asarray(out["mask"].values)
        seconds[precision] = time.perf_counter() - t0
        quant = json.loads(out.attrs.get("quantization", "{}")) or quant
    ok = (masks["float32"] != NODATA) & (masks["int8"] != NODATA)
    pixels = int(ok.sum())
    agreement = float((masks["float32"][ok] == masks["int8"][ok]).mean()) if pixels else float("nan")
    iou = {"float32": float("nan"), "int8": float("nan")}
    if reference is not None:
        if reference.shape != ok.shape:
            raise InputError(f"reference is {reference.shape} but the scene is {ok.shape}; pass it on the scene grid.")
        iou = {k: _iou(m, reference, ok) for k, m in masks.items()}
    change = iou["int8"] - iou["float32"]
    return {
        "agreement": agreement,
        "pixels": pixels,
        "iou_float32": iou["float32"],
        "iou_int8": iou["int8"],
        "iou_change": change,
        "seconds_float32": seconds["float32"],
        "seconds_int8": seconds["int8"],
        "quantization": quant,
        "meets_targets": bool(
            agreement >= INT8_TARGETS["agreement"]
            and (np.isnan(change) or abs(change) <= INT8_TARGETS["iou_change"])
        ),
    }


