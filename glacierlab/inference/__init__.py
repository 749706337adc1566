"""Inference: whole-scene tiled prediction, window readers and COG writers, confidence, calibration.

The face exports ``predict_scene`` (imports torch when used), which maps a scene, and ``confidence`` (numpy
only; its home is :mod:`glacierlab.contract.confidence`). Everything else is imported from its module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from glacierlab import lazy_exports

if TYPE_CHECKING:
    from glacierlab.contract.confidence import confidence
    from glacierlab.inference.predict import predict_scene

_EXPORTS = {
    "predict_scene": "predict",
    "confidence": "glacierlab.contract.confidence",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
