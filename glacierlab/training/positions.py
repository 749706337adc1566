"""Window positions inside a pixel mask: every fitting window, a scene tiling, a non-overlapping grid.

Used by :mod:`glacierlab.training.scene_dataset` to draw training windows inside a split's area and to
place validation / test windows. All positions are int64 (K, 2) top-left (row, col) corners in pixels.
"""

from __future__ import annotations

import numpy as np


def window_positions(mask: np.ndarray, window: int, min_fraction: float = 1.0) -> np.ndarray:
    """Top-left (row, col) of every window with at least ``min_fraction`` of its pixels in ``mask``.

    The default (1.0) keeps the windows lying entirely inside ``mask``. Returns int64 (K, 2).
    """
    h, w = mask.shape
    if h < window or w < window:
        return np.zeros((0, 2), dtype=np.int64)
    ii = np.zeros((h + 1, w + 1), dtype=np.int64)
    ii[1:, 1:] = mask.astype(np.int64).cumsum(0).cumsum(1)
    s = ii[window:, window:] - ii[:-window, window:] - ii[window:, :-window] + ii[:-window, :-window]
    if min_fraction >= 1.0:
        return np.argwhere(s == window * window)
    return np.argwhere(s >= max(1, int(np.ceil(min_fraction * window * window))))


def tiling_positions(mask: np.ndarray, window: int) -> np.ndarray:
    """Windows of a scene tiling that contain at least one ``mask`` pixel (validation with context).

    The tiling does not overlap except for its last row and column, which are flush with the scene's
    edges. Returns int64 (K, 2) top-left corners.
    """
    h, w = mask.shape
    if h < window or w < window:
        return np.zeros((0, 2), dtype=np.int64)
    rows = sorted({*range(0, h - window + 1, window), h - window})
    cols = sorted({*range(0, w - window + 1, window), w - window})
    kept = [(r, c) for r in rows for c in cols if mask[r : r + window, c : c + window].any()]
    return np.asarray(kept, dtype=np.int64).reshape(-1, 2)


def grid_positions(mask: np.ndarray, window: int, step: int | None = None) -> np.ndarray:
    """Non-overlapping windows inside ``mask``, chosen greedily in raster order (validation/test).

    Candidates are the valid positions on a lattice of ``step`` pixels (default window // 4); a
    candidate is kept if it does not overlap a kept window. Returns int64 (K, 2) top-left corners.
    """
    step = step or max(1, window // 4)
    valid = window_positions(mask, window)
    valid = valid[(valid[:, 0] % step == 0) & (valid[:, 1] % step == 0)]
    kept: list[tuple[int, int]] = []
    for r, c in valid:  # raster order from argwhere
        if all(abs(r - kr) >= window or abs(c - kc) >= window for kr, kc in kept):
            kept.append((int(r), int(c)))
    return np.asarray(kept, dtype=np.int64).reshape(-1, 2)
