"""Held-out evaluation of a glacier model on the blocks of a spatial split (scores and calibration).

The pieces the Everest benchmark (``benchmarks/everest_model.py``) and the shipped-model test share:

* pixel confusion counts on an area and their scores live in :mod:`glacierlab.metrics`
  (``heldout_counts(...).scores()``), a stack's model inputs in :func:`glacierlab.inference.compat.model_inputs`;
* :func:`predict_area`: tiled prediction (:func:`glacierlab.inference.predict.predict_scene`) restricted to the
  crops that cover an area, with the same window grid as a whole-scene run (so the same values);
* :func:`calibration_ece`: calibrators fitted on one area (validation blocks) and ECE before / after on
  another (test blocks).

Nothing here chooses anything on the evaluation area: thresholds, calibrators and baselines are fitted
on the areas the caller names for fitting.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import ndimage

from glacierlab.contract.calibration import METHODS, Calibrator, ReliabilityTable, fit_calibrator
from glacierlab.contract.confidence import CONVENTIONS, confidence_correctness
from glacierlab.contract.options import PredictOptions, resolve_options
from glacierlab.errors import InputError, NoDataError
from glacierlab.inference.tiling import window_starts

if TYPE_CHECKING:
    import xarray as xr

    from glacierlab.models.checkpoint import CheckpointLike

def _cover_span(lo: int, hi: int, size: int, window: int, stride: int) -> tuple[int, int]:
    """Crop [a0, a1) along one axis whose window grid reproduces the scene grid over pixels [lo, hi]."""
    starts = np.asarray(window_starts(size, window, stride))
    need = starts[(starts > lo - window) & (starts <= hi)]
    return int(need.min()), int(need.max()) + min(window, size)


def predict_area(
    checkpoint: CheckpointLike,
    inputs: Mapping[str, xr.DataArray],
    area: np.ndarray,
    options: PredictOptions | None = None,
    *,
    device: str = "cpu",
    **overrides: Any,
) -> np.ndarray:
    """Glacier probability on the pixels of ``area`` only, equal to a whole-scene tiled prediction there.

    Each connected part of ``area`` is predicted on a crop made of exactly the scene-grid windows
    (:func:`glacierlab.inference.tiling.window_starts`) that touch it, so its pixels are blended from the same
    windows with the same weights as in ``predict_scene`` over the whole scene, at a fraction of the cost.

    Args:
        checkpoint: Loaded checkpoint (or path) for :func:`glacierlab.inference.predict.predict_scene`.
        inputs: Group -> (band, y, x) DataArray on one grid (see :func:`glacierlab.inference.compat.model_inputs`).
        area: (H, W) bool pixels wanted.
        options: Prediction options; None = the checkpoint's own (window, stride, nodata policy...).
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``.
        **overrides: Single option fields (``window``, ``stride``, ``batch_size``...). Confidence is
            irrelevant here (raw, uncalibrated). With ``"paper"`` tiling (windows placed relative to the
            padded whole scene) the whole scene is predicted once.

    Returns:
        (H, W) float32 glacier probability, NaN outside ``area`` and where there is no data.

    Raises:
        NoDataError: ``area`` is empty.
    """
    from glacierlab.inference.predict import predict_scene
    from glacierlab.models.checkpoint import as_checkpoint

    area = np.asarray(area, dtype=bool)
    if not area.any():
        raise NoDataError("the area to predict is empty; check the split mask.")
    ckpt = as_checkpoint(checkpoint)
    opts = resolve_options(ckpt, options, **{"batch_size": 16, **overrides}).replace(calibration="none")
    window, stride = opts.window, opts.stride
    h, w = area.shape
    out = np.full((h, w), np.nan, dtype=np.float32)
    if opts.tiling == "paper":
        prob = np.asarray(predict_scene(ckpt, inputs, opts, device=device, progress=False)["probability"].values)
        out[area] = prob[area]
        return out
    labels, _ = ndimage.label(area)
    for sl in ndimage.find_objects(labels):
        r0, r1 = _cover_span(sl[0].start, sl[0].stop - 1, h, window, stride)
        c0, c1 = _cover_span(sl[1].start, sl[1].stop - 1, w, window, stride)
        crop = {g: da.isel(y=slice(r0, r1), x=slice(c0, c1)) for g, da in inputs.items()}
        pred = predict_scene(ckpt, crop, opts, device=device, progress=False)
        prob = np.asarray(pred["probability"].values, dtype=np.float32)
        sub = area[r0:r1, c0:c1]
        out[r0:r1, c0:c1][sub] = prob[sub]
    return out


@dataclass
class CalibrationReport:
    """ECE (100 bins) on the evaluation area before and after recalibration.

    Attributes:
        ece_raw: Convention -> ECE of the uncalibrated confidence (``entropy`` = the paper's 1 − H₂(p),
            ``maxprob`` = max(p, 1 − p)).
        ece_calibrated: Method -> ECE after that calibrator (fitted on the fitting area).
        calibrators: Method -> fitted :class:`~glacierlab.contract.calibration.Calibrator`.
        tables: ``"fit"``, ``"raw"`` and each method -> the 100-bin reliability table behind the numbers.
        pixels_fit: Pixels used for fitting.
        pixels_eval: Pixels the ECE is computed on.
    """

    ece_raw: dict[str, float]
    ece_calibrated: dict[str, float]
    calibrators: dict[str, Calibrator]
    tables: dict[str, ReliabilityTable] = field(repr=False)
    pixels_fit: int
    pixels_eval: int


def _conf_correct(
    probability: np.ndarray, reference: np.ndarray, area: np.ndarray, convention: str
) -> tuple[np.ndarray, np.ndarray]:
    conf, correct, valid = confidence_correctness(probability, reference, convention)
    keep = np.asarray(area, bool) & valid
    if not keep.any():
        raise NoDataError("no pixel of the area has both a prediction and a reference label.")
    return conf[keep], correct[keep]


def calibration_ece(
    probability: np.ndarray,
    reference: np.ndarray,
    fit_area: np.ndarray,
    eval_area: np.ndarray,
    *,
    methods: Sequence[str] = METHODS,
    convention: str = "entropy",
) -> CalibrationReport:
    """Fit calibrators on ``fit_area`` pixels and report ECE₁₀₀ on ``eval_area`` pixels.

    Args:
        probability: (H, W) glacier probability (NaN = no data), uncalibrated.
        reference: (H, W) uint8 reference (0, 1; 255 no data).
        fit_area: (H, W) bool pixels for fitting (validation blocks; never the evaluation area).
        eval_area: (H, W) bool pixels for the ECE (test blocks).
        methods: Calibration methods of :data:`glacierlab.contract.calibration.METHODS`.
        convention: Raw confidence the calibrators take as input (the paper: ``"entropy"``).

    Returns:
        The :class:`CalibrationReport`.

    Raises:
        InputError: The fitting and evaluation areas overlap. NoDataError: an area has no labelled pixel.
    """
    fit_area, eval_area = np.asarray(fit_area, bool), np.asarray(eval_area, bool)
    if (fit_area & eval_area).any():
        raise InputError(
            f"fit and evaluation areas share {int((fit_area & eval_area).sum())} pixels; calibrators "
            "must be fitted on other pixels (validation blocks) than those they are scored on."
        )
    conf_fit, ok_fit = _conf_correct(probability, reference, fit_area, convention)
    fit_table = ReliabilityTable()
    fit_table.update(conf_fit, ok_fit)
    tables: dict[str, ReliabilityTable] = {"fit": fit_table}
    ece_raw = {}
    for conv in CONVENTIONS:
        c, ok = _conf_correct(probability, reference, eval_area, conv)
        t = ReliabilityTable()
        t.update(c, ok)
        ece_raw[conv] = t.ece()
        if conv == convention:
            tables["raw"] = t
    conf_eval, ok_eval = _conf_correct(probability, reference, eval_area, convention)
    calibrators, ece_cal = {}, {}
    for method in methods:
        cal = fit_calibrator(conf_fit, ok_fit, method, convention=convention)
        t = ReliabilityTable()
        t.update(cal(conf_eval), ok_eval)
        calibrators[method], ece_cal[method], tables[method] = cal, t.ece(), t
    return CalibrationReport(ece_raw, ece_cal, calibrators, tables, int(ok_fit.size), int(ok_eval.size))


def calibration_arrays(calibrators: Mapping[str, Calibrator]) -> dict[str, np.ndarray]:
    """All calibrators as the checkpoint's ``calibration`` arrays (``{"<method>/<name>": array}``)."""
    out: dict[str, np.ndarray] = {}
    for cal in calibrators.values():
        out |= cal.to_arrays()
    return out
