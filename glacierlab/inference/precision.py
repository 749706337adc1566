"""Is the int8 map the float32 map? Whole-scene mask agreement and IoU change of the int8 CPU path.

:func:`int8_for_scene` is what ``predict_scene(..., precision="int8")`` runs: it calibrates
:func:`glacierlab.models.quantize.quantize_for_cpu` on windows of the scene being mapped and checks the
int8 copy against float32 on held-out windows. :func:`int8_map_check` maps a whole scene both ways
(same window grid, blending and no-data policy) and compares the masks; ``benchmarks/bench_model.py
--only int8-check`` prints it for every shipped model and ``tests/models/test_quantize.py`` checks it
against :data:`INT8_TARGETS`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from glacierlab.errors import InputError
from glacierlab.vocabulary import GLACIER, NODATA

if TYPE_CHECKING:
    import xarray as xr

#: The int8 path may differ from float32 on at most 0.5 % of the mapped pixels, and move the glacier IoU
#: against the reference by at most 0.005 (issue 18).
INT8_TARGETS = {"agreement": 0.995, "iou_change": 0.005}


def _iou(mask: np.ndarray, reference: np.ndarray, ok: np.ndarray) -> float:
    ok = ok & (reference != NODATA)
    pred, ref = mask[ok] == GLACIER, reference[ok] == GLACIER
    union = int((pred | ref).sum())
    return float((pred & ref).sum()) / union if union else float("nan")


def int8_map_check(
    checkpoint: Any,
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


#: Scene windows used to calibrate int8 (``precision="int8"``) and held out to check it.
INT8_CALIBRATION_WINDOWS = 32
INT8_CHECK_WINDOWS = 16


def int8_for_scene(
    model: Any,
    readers: list[Any],
    stats: Mapping[str, Any],
    opts: Any,
    fixed_loc: np.ndarray | None,
) -> tuple[Any, dict[str, Any]]:
    """The int8 copy of ``model`` calibrated on this scene's windows, and what it is (for the outputs).

    Every third batch of 8 sampled windows is held out: the int8 copy's pixel agreement with float32 on them is
    recorded (``window_agreement``) and a :class:`~glacierlab.errors.GlacierLabWarning` says so when it is
    below :data:`INT8_TARGETS`, naming ``precision="float32"`` as the exact alternative.

    Raises:
        ConfigError: The model is not a float32 GlaViTU, or PyTorch has no x86 quantized engine.
    """
    import warnings

    import torch

    from glacierlab.errors import GlacierLabWarning
    from glacierlab.inference.location import window_locations
    from glacierlab.inference.sampling import located_windows
    from glacierlab.models.packed import pack_for_cpu, packing_available
    from glacierlab.models.quantize import quantize_for_cpu, window_agreement

    sampled = located_windows(readers, stats, opts, INT8_CALIBRATION_WINDOWS + INT8_CHECK_WINDOWS, 8)
    batches = []
    for arrays, centres in sampled:
        loc = window_locations(centres, fixed_loc, opts.location, readers[0])
        batches.append((arrays, None if loc is None else torch.from_numpy(loc).float()))
    held_out = batches[2::3]
    calibration = [b for i, b in enumerate(batches) if i % 3 != 2] or batches
    int8 = quantize_for_cpu(model, calibration)
    reference = pack_for_cpu(model) if packing_available() else model
    info: dict[str, Any] = dict(getattr(int8, "quantization", {}))
    if held_out:
        stats_ = window_agreement(reference, int8, held_out)
        info["window_agreement"] = round(stats_["agreement"], 5)
        info["check_windows"] = int(stats_["pixels"]) // (opts.window * opts.window)
        if stats_["agreement"] < INT8_TARGETS["agreement"]:
            warnings.warn(
                f"int8 inference differs from float32 on {100 * (1 - stats_['agreement']):.2f} % of the pixels of "
                f"{info['check_windows']} sampled windows of this scene (target: at most "
                f"{100 * (1 - INT8_TARGETS['agreement']):.1f} %); pixels near the 0.5 decision threshold flip. "
                "Use precision='float32' for the exact map.",
                GlacierLabWarning,
                stacklevel=4,
            )
    return int8, info
