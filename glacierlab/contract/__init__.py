"""The checkpoint contract: what a checkpoint stores and promises, below both ``models`` and ``inference``.

Numpy only (no torch). A checkpoint's header carries, as typed fields:

* :class:`~glacierlab.contract.options.PredictOptions`: the inference settings it is run with;
* :class:`~glacierlab.contract.calibration.Calibrator`: its probability calibrators (and the confidence
  conventions of :mod:`~glacierlab.contract.confidence` they act on);
* :class:`~glacierlab.contract.split.SpatialSplit`: the spatial train/val/test split it was trained on;
* :class:`~glacierlab.contract.record.TrainingRecord`: the training run (strategy, region, window,
  scores, sources) and the inputs' product level.

``models`` writes and reads them (``models.checkpoint``); ``inference``, ``training``, ``reports`` and
``batch`` use them. Importing this package is cheap; names load their module on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from glacierlab import lazy_exports

if TYPE_CHECKING:
    from glacierlab.contract.calibration import Calibrator, fit_calibrator
    from glacierlab.contract.confidence import CONVENTIONS
    from glacierlab.contract.options import PAPER_OPTIONS, PredictOptions, options_for, resolve_options

_EXPORTS = {
    "Calibrator": "calibration",
    "fit_calibrator": "calibration",
    "CONVENTIONS": "confidence",
    "PAPER_OPTIONS": "options",
    "PredictOptions": "options",
    "options_for": "options",
    "resolve_options": "options",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
