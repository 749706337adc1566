"""Sliding-window grid and Gaussian blending weights for whole-scene inference (docs/GLAVITU_SPEC.md §5).

The grid covers any ``H × W`` scene with square windows of side ``window`` placed every ``stride``
pixels. Edges are handled without padding the scene where possible:

* along an axis at least ``window`` long, windows start at ``0, stride, 2·stride, …`` and the last
  window is shifted back to end exactly on the scene edge (start ``size - window``), so every window
  sees real pixels and every pixel is covered at least once;
* along an axis shorter than ``window`` there is a single window starting at 0 that runs past the
  edge; the missing part is padded (see :func:`pad_to_window`: reflect by default, or zeros as the
  paper's ``deploy.py`` does) and cropped off again after prediction.

The reference code instead zero-pads the whole scene to the next multiple of 384; shifting the last
window gives the model real context at the edges and needs no crop arithmetic (the reference's
symmetric ``[pad:-pad]`` crop has an off-by-one for odd padding, see the spec §5).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from glacierlab.errors import ConfigError, unknown_name

PAD_MODES = ("reflect", "constant")


@dataclass(frozen=True)
class Window:
    """One window of the grid, in scene pixel coordinates.

    Attributes:
        row: Top row of the window (may be 0 for a window that runs past a short scene).
        col: Left column of the window.
        height: Rows of the window that lie inside the scene (≤ window size).
        width: Columns of the window that lie inside the scene (≤ window size).
    """

    row: int
    col: int
    height: int
    width: int


def window_starts(size: int, window: int, stride: int) -> list[int]:
    """Start offsets along one axis of length ``size`` (pixels); the last window ends on the edge.

    Args:
        size: Scene length along the axis, ≥ 1 pixel.
        window: Window side, ≥ 1 pixel.
        stride: Step between starts, 1 ≤ stride ≤ window.

    Returns:
        Sorted, unique starts. ``[0]`` when ``size <= window``.

    Raises:
        ConfigError: If a size is not positive or ``stride`` is outside ``[1, window]``.
    """
    _check(size, window, stride)
    if size <= window:
        return [0]
    starts = list(range(0, size - window + 1, stride))
    if starts[-1] != size - window:
        starts.append(size - window)
    return starts


def _check(size: int, window: int, stride: int) -> None:
    if size < 1:
        raise ConfigError(f"scene size must be at least 1 pixel, got {size}")
    if window < 1:
        raise ConfigError(f"window must be at least 1 pixel, got {window}")
    if not 1 <= stride <= window:
        raise ConfigError(
            f"stride must be between 1 and the window size ({window}), got {stride}; a stride larger than "
            "the window would leave pixels uncovered."
        )


def window_rows(height: int, width: int, window: int, stride: int) -> list[list[Window]]:
    """The window grid of an ``height × width`` scene as rows of windows (top to bottom).

    Args:
        height: Scene rows (pixels).
        width: Scene columns (pixels).
        window: Window side (pixels).
        stride: Step between windows (pixels), ``1 ≤ stride ≤ window``.

    Returns:
        One list per row of windows; windows in a row share ``row`` and ``height``.
    """
    rows = window_starts(height, window, stride)
    cols = window_starts(width, window, stride)
    return [[Window(r, c, min(window, height - r), min(window, width - c)) for c in cols] for r in rows]


def iter_windows(height: int, width: int, window: int, stride: int) -> Iterator[Window]:
    """All windows of :func:`window_rows`, row by row."""
    for row in window_rows(height, width, window, stride):
        yield from row


def gaussian_weights(window: int, sigma: float = 1.0) -> np.ndarray:
    """The paper's blending weights: ``exp(-d² / (2σ²))`` on a ``window²`` grid spanning [-1, 1]².

    ``d`` is the distance to the centre in those normalised units, so with σ = 1 the weight is 1 at
    the centre, about 0.61 at the edge midpoints and 0.37 at the corners (never zero: every covered
    pixel gets a positive weight).

    Args:
        window: Window side (pixels).
        sigma: Standard deviation in normalised units (the paper uses 1).

    Returns:
        float32 array (window, window), values in (0, 1].
    """
    if window < 1:
        raise ConfigError(f"window must be at least 1 pixel, got {window}")
    if sigma <= 0:
        raise ConfigError(f"sigma must be positive, got {sigma}")
    axis = np.linspace(-1.0, 1.0, window)
    d2 = axis[:, None] ** 2 + axis[None, :] ** 2
    return np.exp(-d2 / (2.0 * sigma**2)).astype(np.float32)


def pad_to_window(array: np.ndarray, window: int, mode: str = "reflect") -> np.ndarray:
    """Pad the last two axes of ``array`` at the bottom/right up to ``window`` (no-op when big enough).

    Args:
        array: (..., h, w) with ``h, w ≤ window``.
        window: Target side (pixels).
        mode: ``"reflect"`` (mirror the scene, repeated for very small scenes) or ``"constant"``
            (zeros, which after :func:`glacierlab.data.normalise.normalise_group` is what the model sees
            for no data, as in the paper).

    Returns:
        Array (..., window, window) whose top-left (h, w) block is ``array``.
    """
    if mode not in PAD_MODES:
        raise unknown_name("pad mode", mode, PAD_MODES)
    h, w = array.shape[-2:]
    ph, pw = window - h, window - w
    if ph < 0 or pw < 0:
        raise ConfigError(f"array of {h}×{w} px is larger than the window ({window})")
    if ph == 0 and pw == 0:
        return array
    pads = [(0, 0)] * (array.ndim - 2) + [(0, ph), (0, pw)]
    if mode == "reflect" and (h < 2 or w < 2):
        mode = "edge"  # numpy cannot reflect a single row/column
    out: np.ndarray = np.pad(array, pads, mode=mode)  # type: ignore[call-overload]  # mode checked above
    return out
