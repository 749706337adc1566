"""Reliability tables, expected calibration error and post-hoc confidence calibrators (docs/GLAVITU_SPEC.md §6).

A :class:`ReliabilityTable` is a 100-bin histogram of confidence against correctness that can be
updated scene by scene (streaming), so ECE and calibrators can be computed over any amount of data.
Bins are equal-width on [0, 1]; unlike the reference code (half-open bins, so a confidence of
exactly 1.0 fell in no bin), **a confidence of 1.0 is counted in the last bin**.

Calibrators map raw confidence (either convention of :mod:`glacierlab.contract.confidence`) to an estimate of
the probability that the predicted class is right, and are stored as plain float arrays
(``{"<method>/<name>": np.ndarray}``, the checkpoint's ``calibration`` field; no pickles):

* ``"kernel_ridge"`` — the paper's mapping: a Laplacian-kernel (γ = 1) ridge regression through the
  100-bin table's (mean confidence, accuracy) points plus anchors (0, 0) and (1, 1), weighted
  ``w = (count / max count)^0.1`` (anchors 1) with a **per-point** penalty ``α_i = (1 − w_i) · 0.1``,
  clipped to [0, 1]. scikit-learn's ``KernelRidge`` takes one α per *target*, and with a per-sample
  array and a single target it silently uses only ``α[0]`` (checked in scikit-learn 1.9.1,
  ``_solve_cholesky_kernel``); the dual system ``(K + diag α) c = y`` is therefore solved here.
* ``"isotonic"`` — :class:`sklearn.isotonic.IsotonicRegression` on the table (weights = counts),
  stored as its threshold arrays and applied by linear interpolation (as scikit-learn does).
* ``"temperature"`` — one scalar T: the predicted-class probability ``q`` (recovered from the
  confidence) becomes ``sigmoid(logit(q) / T)``; T minimises the negative log-likelihood of correctness.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from glacierlab.contract.confidence import CONVENTIONS, check_convention, to_maxprob
from glacierlab.errors import CheckpointError, InputError, unknown_name

METHODS = ("kernel_ridge", "isotonic", "temperature")
N_BINS = 100


class ReliabilityTable:
    """Streaming histogram of confidence vs. correctness over equal-width bins on [0, 1].

    Args:
        n_bins: Number of bins (100 for ECE₁₀₀; :meth:`rebin` gives the 10 bins of the diagrams).
    """

    def __init__(self, n_bins: int = N_BINS) -> None:
        if n_bins < 1:
            raise InputError(f"n_bins must be at least 1, got {n_bins}")
        self.n_bins = n_bins
        self.count = np.zeros(n_bins, dtype=np.float64)
        self.sum_confidence = np.zeros(n_bins, dtype=np.float64)
        self.sum_correct = np.zeros(n_bins, dtype=np.float64)

    def update(self, confidence: np.ndarray, correct: np.ndarray, valid: np.ndarray | None = None) -> None:
        """Add pixels. NaN confidences and pixels where ``valid`` is False are skipped.

        Args:
            confidence: Confidence values in [0, 1] (any shape).
            correct: Booleans (or 0/1) of the same shape: was the predicted class right?
            valid: Optional boolean mask of the same shape.

        Raises:
            InputError: Shapes differ, or a confidence lies outside [0, 1].
        """
        c = np.asarray(confidence, dtype=np.float64)
        k = np.asarray(correct)
        v_shape = None if valid is None else np.asarray(valid).shape
        if c.shape != k.shape or (v_shape is not None and v_shape != c.shape):
            raise InputError(f"confidence {c.shape}, correct {k.shape} and valid {v_shape} must have one shape")
        keep = np.isfinite(c) if valid is None else np.isfinite(c) & np.asarray(valid, dtype=bool)
        c, k = c[keep], k[keep].astype(np.float64)
        if c.size and (c.min() < -1e-6 or c.max() > 1 + 1e-6):
            raise InputError(
                f"confidence must lie in [0, 1], got values in [{c.min():.4g}, {c.max():.4g}]; pass "
                "glacierlab.confidence.confidence(probability) rather than raw logits."
            )
        idx = np.clip((c * self.n_bins).astype(np.int64), 0, self.n_bins - 1)  # 1.0 -> last bin
        self.count += np.bincount(idx, minlength=self.n_bins)
        self.sum_confidence += np.bincount(idx, weights=c, minlength=self.n_bins)
        self.sum_correct += np.bincount(idx, weights=k, minlength=self.n_bins)

    def update_from_prediction(
        self, probability: np.ndarray, reference: np.ndarray, convention: str = "entropy"
    ) -> None:
        """Add a predicted scene against a reference mask (0 ice-free, 1 glacier, other = no data).

        Args:
            probability: Glacier probability in [0, 1] (NaN = no data).
            reference: Reference labels of the same shape (e.g. ``stack["reference"]``, 255 = no data).
            convention: Confidence convention (see :mod:`glacierlab.contract.confidence`).
        """
        from glacierlab.contract.confidence import confidence_correctness

        self.update(*confidence_correctness(probability, reference, convention))

    def merge(self, other: ReliabilityTable) -> ReliabilityTable:
        """Add another table with the same number of bins into this one (returns self)."""
        if other.n_bins != self.n_bins:
            raise InputError(f"cannot merge a {other.n_bins}-bin table into a {self.n_bins}-bin table")
        self.count += other.count
        self.sum_confidence += other.sum_confidence
        self.sum_correct += other.sum_correct
        return self

    @property
    def total(self) -> int:
        """Number of pixels accumulated."""
        return int(self.count.sum())

    @property
    def edges(self) -> np.ndarray:
        """Bin edges, ``n_bins + 1`` values from 0 to 1."""
        return np.linspace(0.0, 1.0, self.n_bins + 1)

    @property
    def mean_confidence(self) -> np.ndarray:
        """Mean confidence per bin (NaN for empty bins)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.count > 0, self.sum_confidence / self.count, np.nan)

    @property
    def accuracy(self) -> np.ndarray:
        """Fraction correct per bin (NaN for empty bins)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.count > 0, self.sum_correct / self.count, np.nan)

    def ece(self) -> float:
        """Expected calibration error ``Σ_b n_b |conf_b − acc_b| / Σ_b n_b`` over this table's bins.

        Raises:
            InputError: If the table is empty.
        """
        if self.total == 0:
            raise InputError("the reliability table is empty; call update() with some pixels first")
        return float(np.abs(self.sum_confidence - self.sum_correct).sum() / self.count.sum())

    def rebin(self, n_bins: int) -> ReliabilityTable:
        """Coarser table (e.g. 10 bins for diagrams); ``n_bins`` must divide this table's bin count."""
        if n_bins < 1 or self.n_bins % n_bins:
            raise InputError(
                f"cannot rebin {self.n_bins} bins into {n_bins}; pick a divisor of {self.n_bins}"
            )
        out = ReliabilityTable(n_bins)
        f = self.n_bins // n_bins
        out.count = self.count.reshape(n_bins, f).sum(1)
        out.sum_confidence = self.sum_confidence.reshape(n_bins, f).sum(1)
        out.sum_correct = self.sum_correct.reshape(n_bins, f).sum(1)
        return out

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays (``count``, ``sum_confidence``, ``sum_correct``) for saving."""
        return {
            "count": self.count.copy(),
            "sum_confidence": self.sum_confidence.copy(),
            "sum_correct": self.sum_correct.copy(),
        }

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> ReliabilityTable:
        """Rebuild a table saved with :meth:`to_arrays`."""
        t = cls(len(arrays["count"]))
        t.count = np.asarray(arrays["count"], dtype=np.float64).copy()
        t.sum_confidence = np.asarray(arrays["sum_confidence"], dtype=np.float64).copy()
        t.sum_correct = np.asarray(arrays["sum_correct"], dtype=np.float64).copy()
        return t


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, n_bins: int = N_BINS) -> float:
    """ECE with ``n_bins`` equal-width bins (100 = the paper's ECE₁₀₀; 1.0 counts in the last bin)."""
    t = ReliabilityTable(n_bins)
    t.update(confidence, correct)
    return t.ece()


@dataclass
class Calibrator:
    """A fitted confidence calibrator held as plain arrays (see the module docstring).

    Attributes:
        method: One of :data:`METHODS`.
        convention: Confidence convention of the raw input it was fitted on.
        arrays: Method parameters (float64 arrays).
    """

    method: str
    convention: str = "entropy"
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    def __call__(self, conf: np.ndarray) -> np.ndarray:
        """Map raw confidence (in :attr:`convention`) to calibrated confidence in [0, 1] (float32)."""
        c = np.asarray(conf, dtype=np.float64)
        a = self.arrays
        if self.method == "kernel_ridge":
            out = laplacian_predict(c, a["x"], a["dual_coef"], float(a["gamma"]))
        elif self.method == "isotonic":
            out = np.interp(c, a["x"], a["y"])
        else:
            q = np.clip(to_maxprob(c, self.convention), 0.5, 1 - 1e-12)
            z = np.log(q) - np.log1p(-q)
            out = 1.0 / (1.0 + np.exp(-z / float(a["temperature"])))
        out = np.where(np.isfinite(c), np.clip(out, 0.0, 1.0), np.nan)
        return out.astype(np.float32)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """``{"<method>/<name>": array}`` for the checkpoint's ``calibration`` field."""
        d = {f"{self.method}/{k}": np.asarray(v, dtype=np.float64) for k, v in self.arrays.items()}
        d[f"{self.method}/convention"] = np.asarray(float(CONVENTIONS.index(self.convention)))
        return d

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], method: str | None = None) -> Calibrator:
        """Rebuild a calibrator from :meth:`to_arrays` output (possibly holding several methods).

        Args:
            arrays: The stored arrays.
            method: Which method to load; None takes the only one stored, or ``"kernel_ridge"`` (the
                paper's) when several are.

        Raises:
            CheckpointError: No calibrator is stored; UnknownNameError: ``method`` is not stored.
        """
        stored = sorted({k.split("/", 1)[0] for k in arrays if "/" in k} & set(METHODS))
        if not stored:
            raise CheckpointError(
                f"no calibrator in the arrays (keys {sorted(arrays)}); fit one with "
                "glacierlab.contract.calibration.fit_calibrator() and save it in the checkpoint's calibration field."
            )
        if method is None:
            method = (
                stored[0] if len(stored) == 1 else ("kernel_ridge" if "kernel_ridge" in stored else stored[0])
            )
        if method not in stored:
            raise unknown_name("stored calibrator", method, stored)
        params = {
            k.split("/", 1)[1]: np.asarray(v, dtype=np.float64)
            for k, v in arrays.items()
            if k.startswith(method + "/")
        }
        conv = CONVENTIONS[int(params.pop("convention", np.asarray(0.0)))]
        return cls(method, conv, params)

    @classmethod
    def from_sklearn_pickle(cls, path: str | os.PathLike[str]) -> Calibrator:
        """The authors' KernelRidge calibration pickle as a ``kernel_ridge`` calibrator (entropy confidence).

        Read with :func:`glacierlab.contract.sklearn_pickle.read_kernel_ridge` (a restricted unpickler:
        numpy arrays and the KernelRidge state only; nothing in the file is executed).
        """
        from glacierlab.contract.sklearn_pickle import read_kernel_ridge

        return cls("kernel_ridge", "entropy", read_kernel_ridge(path))


def laplacian_predict(x: np.ndarray, centres: np.ndarray, coef: np.ndarray, gamma: float) -> np.ndarray:
    """Evaluate ``f(x) = Σ_i coef_i · exp(−γ |x − centre_i|)`` for 1-D inputs in O(N log m).

    Splits the sum into centres left and right of each ``x`` and uses cumulative sums, which is exact
    (no look-up table) and fast enough for whole scenes.
    """
    order = np.argsort(centres)
    xc, cc = np.asarray(centres, np.float64)[order], np.asarray(coef, np.float64)[order]
    x = np.asarray(x, dtype=np.float64)
    lo = min(float(np.nanmin(x)) if np.isfinite(x).any() else 0.0, float(xc[0]))
    hi = max(float(np.nanmax(x)) if np.isfinite(x).any() else 1.0, float(xc[-1]))
    if gamma * (hi - lo) > 300:  # exp would overflow: evaluate directly
        return np.asarray((cc * np.exp(-gamma * np.abs(x[..., None] - xc))).sum(-1))
    ref = 0.5 * (lo + hi)
    left = np.concatenate([[0.0], np.cumsum(cc * np.exp(gamma * (xc - ref)))])
    right = np.concatenate([np.cumsum((cc * np.exp(-gamma * (xc - ref)))[::-1])[::-1], [0.0]])
    k = np.searchsorted(xc, x, side="right")  # centres [0, k) are <= x
    xs = np.where(np.isfinite(x), x, ref)
    return np.asarray(np.exp(-gamma * (xs - ref)) * left[k] + np.exp(gamma * (xs - ref)) * right[k])


def _fit_kernel_ridge(
    table: ReliabilityTable, gamma: float = 1.0, scale: float = 0.1
) -> dict[str, np.ndarray]:
    keep = table.count > 0
    w = (table.count[keep] / table.count[keep].max()) ** 0.1
    x = np.concatenate([[0.0], table.mean_confidence[keep], [1.0]])
    y = np.concatenate([[0.0], table.accuracy[keep], [1.0]])
    alpha = (1.0 - np.concatenate([[1.0], w, [1.0]])) * scale
    kmat = np.exp(-gamma * np.abs(x[:, None] - x[None, :]))
    kmat[np.diag_indices_from(kmat)] += alpha
    try:
        coef = np.linalg.solve(kmat, y)
    except np.linalg.LinAlgError:  # duplicate points with zero penalty (e.g. a bin mean of exactly 0)
        coef = np.linalg.lstsq(kmat, y, rcond=None)[0]
    return {"x": x, "dual_coef": coef, "gamma": np.asarray(gamma), "alpha": alpha}


def _fit_isotonic(table: ReliabilityTable) -> dict[str, np.ndarray]:
    from sklearn.isotonic import IsotonicRegression

    keep = table.count > 0
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
    iso.fit(table.mean_confidence[keep], table.accuracy[keep], sample_weight=table.count[keep])
    return {"x": np.asarray(iso.X_thresholds_, np.float64), "y": np.asarray(iso.y_thresholds_, np.float64)}


def _fit_temperature(q: np.ndarray, n_right: np.ndarray, n_wrong: np.ndarray) -> dict[str, np.ndarray]:
    from scipy.optimize import minimize_scalar

    q = np.clip(q, 0.5, 1 - 1e-7)
    z = np.log(q) - np.log1p(-q)

    def nll(log_t: float) -> float:
        s = z / np.exp(log_t)  # log sigmoid(s) = -log1p(exp(-s)), s >= 0
        return float((n_right * np.log1p(np.exp(-s)) + n_wrong * (s + np.log1p(np.exp(-s)))).sum())

    res = minimize_scalar(nll, bounds=(-7.0, 7.0), method="bounded")
    return {"temperature": np.asarray(float(np.exp(res.x)))}


def fit_calibrator(
    confidence: np.ndarray | ReliabilityTable,
    correct: np.ndarray | None = None,
    method: str = "kernel_ridge",
    *,
    convention: str = "entropy",
) -> Calibrator:
    """Fit a calibrator on validation pixels (or on an accumulated :class:`ReliabilityTable`).

    Args:
        confidence: Raw confidences in [0, 1] (any shape; NaN skipped), or a filled table.
        correct: Booleans of the same shape (None when ``confidence`` is a table).
        method: ``"kernel_ridge"`` (paper), ``"isotonic"`` or ``"temperature"``.
        convention: Convention of the raw confidence (``"entropy"`` or ``"maxprob"``); needed by
            ``"temperature"`` and stored so inference feeds the calibrator the same convention.

    Returns:
        The fitted :class:`Calibrator`; ``calibrator.to_arrays()`` goes into the checkpoint.

    Raises:
        UnknownNameError: Unknown method or convention. InputError: no valid pixels, shape mismatch.
    """
    if method not in METHODS:
        raise unknown_name("calibration method", method, METHODS)
    check_convention(convention)
    if isinstance(confidence, ReliabilityTable):
        table = confidence
    else:
        if correct is None:
            raise InputError("pass `correct` (booleans) together with raw confidences, or a ReliabilityTable")
        table = ReliabilityTable(N_BINS)
        table.update(confidence, correct)
    if table.total == 0:
        raise InputError("no valid (finite) confidences to fit a calibrator on")
    if method == "kernel_ridge":
        params = _fit_kernel_ridge(table)
    elif method == "isotonic":
        params = _fit_isotonic(table)
    elif isinstance(confidence, ReliabilityTable):
        keep = table.count > 0
        params = _fit_temperature(
            to_maxprob(table.mean_confidence[keep], convention),
            table.sum_correct[keep],
            table.count[keep] - table.sum_correct[keep],
        )
    else:
        c = np.asarray(confidence, np.float64).ravel()
        k = np.asarray(correct, dtype=bool).ravel()
        ok = np.isfinite(c)
        params = _fit_temperature(to_maxprob(c[ok], convention), k[ok].astype(float), (~k[ok]).astype(float))
    return Calibrator(method, convention, params)
