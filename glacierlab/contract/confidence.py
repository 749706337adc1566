"""Per-pixel confidence of a binary (glacier / ice-free) prediction (docs/GLAVITU_SPEC.md §6).

Two conventions, both in [0, 1] and both computed from the glacier probability ``p``:

* ``"entropy"`` (the paper's): ``1 − H₂(p)`` with the binary Shannon entropy in **bits**,
  ``H₂(p) = −p log₂ p − (1 − p) log₂(1 − p)`` and ``p`` clipped to ``[1e-6, 1 − 1e-6]``. It is 0 at
  p = 0.5 and about 0.99997 at the clip limits. It is *not* a probability: a perfectly calibrated
  pixel with p = 0.9 is right 90 % of the time but has entropy confidence 0.53, so raw values look
  strongly under-confident on a reliability diagram until recalibrated (:mod:`glacierlab.contract.calibration`).
* ``"maxprob"``: ``max(p, 1 − p)``, the probability of the predicted class, in [0.5, 1]. For a
  calibrated model it *is* the probability of being right; it is the usual convention in the
  calibration literature (Guo et al. 2017).

Both are monotone in ``|p − 0.5|``, so they rank pixels identically; they differ only in scale.
"""

from __future__ import annotations

import numpy as np

from glacierlab.errors import InputError, unknown_name
from glacierlab.vocabulary import correctness

CONVENTIONS = ("entropy", "maxprob")
#: Each convention in words (for people reading a diagram).
CONVENTION_TEXT = {
    "entropy": "entropy: 1 − the entropy of the glacier / ice-free probabilities (the paper's)",
    "maxprob": "maxprob: the probability of the class the map chose",
}
EPS = 1e-6


def check_convention(convention: str) -> str:
    """Return ``convention`` if valid, else raise :class:`~glacierlab.errors.UnknownNameError`."""
    if convention not in CONVENTIONS:
        raise unknown_name("confidence convention", convention, CONVENTIONS)
    return convention


def binary_entropy(p: np.ndarray, eps: float = EPS) -> np.ndarray:
    """Binary Shannon entropy in bits of probabilities ``p`` (clipped to ``[eps, 1 − eps]``).

    Args:
        p: Probabilities in [0, 1]; NaN stays NaN.
        eps: Clip limit (the paper uses 1e-6).

    Returns:
        float32 array of the same shape, values in [0, 1].
    """
    return _entropy64(p, eps).astype(np.float32)


def _entropy64(p: np.ndarray, eps: float = EPS) -> np.ndarray:
    q = np.clip(np.asarray(p, dtype=np.float64), eps, 1.0 - eps)
    return -(q * np.log2(q) + (1.0 - q) * np.log2(1.0 - q))


def confidence(p: np.ndarray, convention: str = "entropy") -> np.ndarray:
    """Confidence of the predicted class from the glacier probability (see the module docstring).

    Args:
        p: Glacier probability (softmax of class 1), any shape, values in [0, 1]; NaN (no data) stays NaN.
        convention: ``"entropy"`` (paper: 1 − H₂(p), in [0, 1]) or ``"maxprob"`` (max(p, 1 − p), in
            [0.5, 1]).

    Returns:
        float32 array of the same shape.
    """
    check_convention(convention)
    if convention == "entropy":
        return (1.0 - binary_entropy(p)).astype(np.float32)
    a = np.asarray(p, dtype=np.float32)
    return np.asarray(np.maximum(a, 1.0 - a), dtype=np.float32)


def confidence_correctness(
    probability: np.ndarray, reference: np.ndarray, convention: str = "entropy"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Confidence of the map and whether it is right, per pixel, against a 0/1/255 reference.

    Args:
        probability: Glacier probability in [0, 1] (NaN = no prediction).
        reference: Labels of the same shape (0 ice-free, 1 glacier, anything else = no data).
        convention: ``"entropy"`` or ``"maxprob"``.

    Returns:
        ``(confidence, correct, valid)``: float32 confidence, and booleans (see
        :func:`glacierlab.vocabulary.correctness`).

    Raises:
        InputError: The two arrays differ in shape.
    """
    p = np.asarray(probability, dtype=np.float32)
    ref = np.asarray(reference)
    if p.shape != ref.shape:
        raise InputError(
            f"probability {p.shape} and reference {ref.shape} must have the same shape; "
            "put them on one grid first (stack_region(..., like=...))."
        )
    correct, valid = correctness(p, ref)
    return confidence(p, convention), correct, valid


# Dense table of (entropy confidence -> max probability) for the inverse; H₂ is monotone on [0.5, 1].
_Q = np.linspace(0.5, 1.0 - EPS, 200_001)
_C = 1.0 - _entropy64(_Q)


def to_maxprob(conf: np.ndarray, convention: str = "entropy") -> np.ndarray:
    """Invert :func:`confidence`: the predicted-class probability ``max(p, 1 − p)`` in [0.5, 1].

    Args:
        conf: Confidence values in the given convention.
        convention: Convention of ``conf``.

    Returns:
        float64 array of the same shape (entropy inverse by interpolation, error < 1e-5).
    """
    check_convention(convention)
    c = np.asarray(conf, dtype=np.float64)
    if convention == "maxprob":
        return np.clip(c, 0.5, 1.0)
    return np.interp(c, _C, _Q)
