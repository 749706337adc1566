"""Inference: whole-scene tiled prediction, window readers and COG writers, confidence, calibration.

``predict_scene`` (imports torch when used) maps a scene; ``confidence`` and the calibrators are numpy only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from glacierlab import lazy_exports

if TYPE_CHECKING:
    from glacierlab.inference.calibration import (
        METHODS,
        N_BINS,
        Calibrator,
        ReliabilityTable,
        expected_calibration_error,
        fit_calibrator,
    )
    from glacierlab.inference.confidence import CONVENTIONS, binary_entropy, confidence
    from glacierlab.inference.predict import predict_scene
    from glacierlab.inference.tiling import gaussian_weights, iter_windows, window_starts

_EXPORTS = {
    "predict_scene": "predict",
    "gaussian_weights": "tiling",
    "window_starts": "tiling",
    "iter_windows": "tiling",
    "confidence": "confidence",
    "binary_entropy": "confidence",
    "CONVENTIONS": "confidence",
    "Calibrator": "calibration",
    "ReliabilityTable": "calibration",
    "expected_calibration_error": "calibration",
    "fit_calibrator": "calibration",
    "METHODS": "calibration",
    "N_BINS": "calibration",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
