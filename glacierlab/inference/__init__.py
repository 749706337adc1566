"""Inference: whole-scene tiled prediction, window readers and COG writers, confidence, calibration.

``predict_scene`` (imports torch when used) maps a scene; ``confidence`` and the calibrators are numpy only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from glacierlab import lazy_exports

if TYPE_CHECKING:
    from glacierlab.contract.calibration import (
        METHODS,
        N_BINS,
        Calibrator,
        ReliabilityTable,
        expected_calibration_error,
        fit_calibrator,
    )
    from glacierlab.contract.confidence import CONVENTIONS, binary_entropy, confidence
    from glacierlab.inference.predict import predict_scene
    from glacierlab.inference.tiling import gaussian_weights, iter_windows, window_starts

_EXPORTS = {
    "predict_scene": "predict",
    "gaussian_weights": "tiling",
    "window_starts": "tiling",
    "iter_windows": "tiling",
    "confidence": "glacierlab.contract.confidence",
    "binary_entropy": "glacierlab.contract.confidence",
    "CONVENTIONS": "glacierlab.contract.confidence",
    "Calibrator": "glacierlab.contract.calibration",
    "ReliabilityTable": "glacierlab.contract.calibration",
    "expected_calibration_error": "glacierlab.contract.calibration",
    "fit_calibrator": "glacierlab.contract.calibration",
    "METHODS": "glacierlab.contract.calibration",
    "N_BINS": "glacierlab.contract.calibration",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
