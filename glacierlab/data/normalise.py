"""Min-max normalisation of model input groups, as the paper's ``compile_features.py`` does (§3.1)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from glacierlab.errors import InputError

GroupStats = Mapping[str, Sequence[float]]  # {"min": [...per band], "max": [...per band]}


def normalise_group(array: np.ndarray, stats: GroupStats, *, axis: int = 0) -> np.ndarray:
    """Scale each band to roughly [0, 1] with dataset min/max; NaN (no data) becomes 0.

    Args:
        array: Values of one input group with bands along ``axis`` (e.g. (C, H, W)), any float/int dtype.
        stats: ``{"min": [...], "max": [...]}`` with one value per band (same units as ``array``).
        axis: The band axis of ``array``.

    Returns:
        float32 array of the same shape, ``(x - min) / (max - min)``; values outside the training range
        are not clipped (the paper does not clip either).

    Raises:
        InputError: If the number of bands differs from the statistics, a statistic is NaN or infinite, or
            max <= min for a band.
    """
    lo = np.asarray(stats["min"], dtype=np.float64)
    hi = np.asarray(stats["max"], dtype=np.float64)
    n = array.shape[axis]
    if lo.shape != (n,) or hi.shape != (n,):
        raise InputError(
            f"normalisation statistics have {lo.size} min / {hi.size} max values but the input has {n} bands "
            f"along axis {axis}; pass statistics with one value per band."
        )
    if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
        raise InputError(
            f"normalisation statistics must be finite numbers, got min={lo.tolist()} max={hi.tolist()}; "
            "a NaN or infinite statistic would silently turn the band into zeros. Fix the checkpoint's "
            "statistics (recompute them from the training data)."
        )
    if np.any(hi <= lo):
        raise InputError(f"normalisation max must exceed min for every band, got min={lo.tolist()} max={hi.tolist()}")
    shape = [1] * array.ndim
    shape[axis] = n
    # float32 throughout (one pass per operation, in place): this runs on every window of a scene
    out: np.ndarray = np.subtract(array, lo.astype(np.float32).reshape(shape), dtype=np.float32)
    out /= (hi - lo).astype(np.float32).reshape(shape)
    bad = ~np.isfinite(out)
    if bad.any():
        out[bad] = 0.0
    return out
