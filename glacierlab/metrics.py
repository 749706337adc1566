"""Pixel confusion counts and the scores derived from them (docs/GLAVITU_SPEC.md §4 "training-time metric", §7.1).

Glacier is class 1. Counts are summed over pixels (and over patches, tiles or blocks by adding
:class:`ConfusionCounts`); scores are computed from the summed counts. :func:`per_patch_iou` gives the
paper's training-time metric instead: IoU per patch, averaged over patches, with an empty patch and an
empty prediction scoring 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from glacierlab.errors import InputError
from glacierlab.vocabulary import NODATA

SCORE_NAMES = ("iou", "precision", "recall", "f1", "background_iou", "mean_iou")
"""The scores :meth:`ConfusionCounts.scores` reports, each in [0, 1]."""


def _ratio(num: int, den: int) -> float:
    """Num / den, or NaN when the denominator is 0 (the score is undefined, not 0)."""
    return float(num) / float(den) if den else float("nan")


@dataclass(frozen=True)
class ConfusionCounts:
    """Pixel counts of a binary glacier map against a reference (glacier = positive class).

    Attributes:
        tp: Glacier predicted and glacier in the reference.
        fp: Glacier predicted, ice-free in the reference.
        fn: Ice-free predicted, glacier in the reference.
        tn: Ice-free predicted and ice-free in the reference.
    """

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def __add__(self, other: ConfusionCounts) -> ConfusionCounts:
        return ConfusionCounts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, self.tn + other.tn)

    @property
    def total(self) -> int:
        """Number of counted pixels."""
        return self.tp + self.fp + self.fn + self.tn

    @property
    def iou(self) -> float:
        """Glacier IoU = TP / (TP + FP + FN), in [0, 1]; NaN when there is no glacier anywhere."""
        return _ratio(self.tp, self.tp + self.fp + self.fn)

    @property
    def background_iou(self) -> float:
        """Ice-free IoU = TN / (TN + FN + FP), in [0, 1]."""
        return _ratio(self.tn, self.tn + self.fn + self.fp)

    @property
    def mean_iou(self) -> float:
        """Unweighted mean of glacier and background IoU."""
        return 0.5 * (self.iou + self.background_iou)

    @property
    def precision(self) -> float:
        """TP / (TP + FP): share of predicted glacier that is glacier."""
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float:
        """TP / (TP + FN): share of reference glacier that is found."""
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall, 2TP / (2TP + FP + FN)."""
        return _ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)

    @property
    def accuracy(self) -> float:
        """(TP + TN) / all counted pixels."""
        return _ratio(self.tp + self.tn, self.total)

    def scores(self) -> dict[str, float]:
        """Glacier IoU, precision, recall, F1, background IoU, mean IoU (all in [0, 1]) and ``pixels`` (count)."""
        return {k: float(getattr(self, k)) for k in SCORE_NAMES} | {"pixels": float(self.total)}

    def as_dict(self) -> dict[str, float]:
        """Counts and every score, for logs and reports."""
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "tn": self.tn,
            "iou": self.iou,
            "background_iou": self.background_iou,
            "mean_iou": self.mean_iou,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "accuracy": self.accuracy,
        }


def _as_bool(name: str, a: object) -> np.ndarray:
    arr = a.detach().cpu().numpy() if hasattr(a, "detach") else np.asarray(a)  # torch tensors too
    return arr.astype(bool)


def confusion_counts(prediction: object, reference: object, valid: object | None = None) -> ConfusionCounts:
    """Count TP/FP/FN/TN of a glacier map.

    Args:
        prediction: Predicted mask (any shape), non-zero = glacier. numpy array or torch tensor.
        reference: Reference mask of the same shape, non-zero = glacier. Pixels marked no-data must be
            excluded through ``valid`` (a uint8 reference with 255 = no data would count as glacier).
        valid: Optional boolean mask of the same shape; only True pixels are counted.

    Returns:
        The counts.

    Raises:
        InputError: If the shapes differ.
    """
    pred, ref = _as_bool("prediction", prediction), _as_bool("reference", reference)
    if pred.shape != ref.shape:
        raise InputError(
            f"prediction shape {pred.shape} differs from reference shape {ref.shape}; pass aligned masks."
        )
    if valid is not None:
        ok = _as_bool("valid", valid)
        if ok.shape != pred.shape:
            raise InputError(f"valid-mask shape {ok.shape} differs from prediction shape {pred.shape}.")
        pred, ref = pred[ok], ref[ok]
    tp = int(np.count_nonzero(pred & ref))
    fp = int(np.count_nonzero(pred & ~ref))
    fn = int(np.count_nonzero(~pred & ref))
    return ConfusionCounts(tp=tp, fp=fp, fn=fn, tn=int(pred.size) - tp - fp - fn)


def per_patch_iou(prediction: object, reference: object, valid: object | None = None) -> np.ndarray:
    """Glacier IoU of every patch of a batch (the paper's training-time metric).

    Args:
        prediction: (N, H, W) predicted masks, non-zero = glacier.
        reference: (N, H, W) reference masks, non-zero = glacier.
        valid: Optional (N, H, W) boolean mask of counted pixels.

    Returns:
        float64 array (N,) in [0, 1]; a patch with no glacier in the reference and none predicted scores 1.

    Raises:
        InputError: If the arrays are not 3-D or their shapes differ.
    """
    pred, ref = _as_bool("prediction", prediction), _as_bool("reference", reference)
    if pred.ndim != 3 or pred.shape != ref.shape:
        raise InputError(f"expected two (N, H, W) masks of the same shape, got {pred.shape} and {ref.shape}.")
    if valid is not None:
        ok = _as_bool("valid", valid)
        pred, ref = pred & ok, ref & ok
    inter = np.count_nonzero(pred & ref, axis=(1, 2)).astype(np.float64)
    union = np.count_nonzero(pred | ref, axis=(1, 2)).astype(np.float64)
    return np.where(union > 0, inter / np.maximum(union, 1.0), 1.0)


def heldout_counts(prediction: np.ndarray, reference: np.ndarray, area: np.ndarray) -> ConfusionCounts:
    """Confusion counts of a predicted mask on ``area`` where both prediction and reference have data.

    Args:
        prediction: (H, W) glacier mask: bool or uint8 (1 glacier, 0 ice-free, 255 no data), or a float
            glacier probability in [0, 1] (glacier where > 0.5, NaN = no data).
        reference: (H, W) uint8 reference (0 ice-free, 1 glacier, 255 no data).
        area: (H, W) bool pixels to score (e.g. ``SpatialSplit.mask("test")``).

    Returns:
        The counts over pixels of ``area`` with a valid reference and a valid prediction.

    Raises:
        InputError: The three arrays do not have one shape.
    """
    pred = np.asarray(prediction)
    ref = np.asarray(reference)
    area = np.asarray(area, dtype=bool)
    if not (pred.shape == ref.shape == area.shape):
        raise InputError(
            f"prediction {pred.shape}, reference {ref.shape} and area {area.shape} must have one shape; "
            "predict on the reference's grid."
        )
    if pred.dtype.kind == "f":
        valid_pred, mask = np.isfinite(pred), pred > 0.5
    else:
        valid_pred, mask = pred != NODATA, pred == 1
    valid = area & valid_pred & ((ref == 0) | (ref == 1))
    return confusion_counts(mask, ref == 1, valid)
