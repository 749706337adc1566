"""Sliding-window grid and Gaussian blending weights for whole-scene inference (docs/GLAVITU_SPEC.md §5).

The grid covers any ``H × W`` scene with square windows of side ``window`` placed every ``stride``
pixels. Edges are handled without padding the scene where possible:

* along an axis at least ``window`` long, windows start at ``0, stride, 2·stride, …`` and the last
  window is shifted back to end exactly on the scene edge (start ``size - window``), so every window
  sees real pixels and every pixel is covered at least once;
* along an axis shorter than ``window`` there is a single window starting at 0 that runs past the
  edge; the missing part is padded (see :func:`pad_to_window`: reflect by default, or zeros as the
  paper's ``deploy.py`` does) and cropped off again after prediction.

The reference code (``deploy.py``, spec §5) instead zero-pads the whole scene, centred, to
``window * (size // window + 1)`` (always at least one extra window) and tiles from the padded origin;
:func:`window_grid` with ``mode="paper"`` reproduces that grid exactly (the authors' maps), ``"edge"``
gives the model real context at the edges and needs no padding (glacierlab's default). Both are
described by a :class:`Grid` in a *frame*: the scene placed at ``(top, left)`` inside a padded canvas.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from glacierlab.contract.options import PAD_MODES, TILING_MODES
from glacierlab.errors import ConfigError, unknown_name


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


@dataclass(frozen=True)
class Grid:
    """A window grid in a padded frame: the scene occupies rows ``top..top+height`` of the frame.

    Attributes:
        height: Scene rows. width: Scene columns.
        window: Window side (pixels).
        top: Frame rows above the scene (zero padding; 0 for ``"edge"`` tiling).
        left: Frame columns left of the scene.
        frame_height: Frame rows (≥ ``top + height``). frame_width: Frame columns.
        rows: Rows of windows; each :class:`Window`'s ``row``/``col`` are *frame* coordinates and its
            ``height``/``width`` the part inside the frame.
    """

    height: int
    width: int
    window: int
    top: int
    left: int
    frame_height: int
    frame_width: int
    rows: list[list[Window]]

    @property
    def total(self) -> int:
        """Number of windows."""
        return sum(map(len, self.rows))

    def scene_span(self, win: Window) -> tuple[int, int, int, int]:
        """``(row0, row1, col0, col1)``: the scene pixels a window covers (half-open, may be empty)."""
        r0 = max(win.row - self.top, 0)
        r1 = min(win.row - self.top + self.window, self.height)
        c0 = max(win.col - self.left, 0)
        c1 = min(win.col - self.left + self.window, self.width)
        return r0, max(r0, r1), c0, max(c0, c1)

    def centre(self, win: Window) -> tuple[float, float]:
        """Window centre in scene pixel coordinates (fractional; may lie in the padding)."""
        return win.row - self.top + win.height / 2, win.col - self.left + win.width / 2


def paper_padding(size: int, window: int) -> tuple[int, int]:
    """The reference code's padded size ``window * (size // window + 1)`` and the centred offset.

    Always at least one extra window: a 768-px axis is padded to 1152 (offset 192).
    """
    padded = window * (size // window + 1)
    return padded, (padded - size) // 2


def window_grid(height: int, width: int, window: int, stride: int, mode: str = "edge") -> Grid:
    """The window grid of a scene for a tiling mode (:data:`~glacierlab.contract.options.TILING_MODES`).

    Args:
        height: Scene rows.
        width: Scene columns.
        window: Window side (pixels).
        stride: Step between windows (pixels), ``1 ≤ stride ≤ window``.
        mode: ``"edge"`` (:func:`window_rows`, no padding unless the scene is smaller than a window) or
            ``"paper"`` (centred zero padding, windows every ``stride`` from the padded origin where a
            whole window fits, as the authors' ``deploy.py``).

    Raises:
        ConfigError: Sizes or stride out of range. UnknownNameError: Unknown mode.
    """
    if mode not in TILING_MODES:
        raise unknown_name("tiling mode", mode, TILING_MODES)
    _check(height, window, stride)
    _check(width, window, stride)
    if mode == "edge":
        rows = window_rows(height, width, window, stride)
        return Grid(height, width, window, 0, 0, max(height, window), max(width, window), rows)
    fh, top = paper_padding(height, window)
    fw, left = paper_padding(width, window)
    starts_r = list(range(0, fh - window + 1, stride))
    starts_c = list(range(0, fw - window + 1, stride))
    rows = [[Window(r, c, window, window) for c in starts_c] for r in starts_r]
    return Grid(height, width, window, top, left, fh, fw, rows)


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


def pad_to_window(
    array: np.ndarray, window: int, mode: str = "reflect", *, top: int = 0, left: int = 0
) -> np.ndarray:
    """Pad the last two axes of ``array`` up to ``window``, placing it at ``(top, left)``.

    Args:
        array: (..., h, w) with ``top + h, left + w ≤ window``.
        window: Target side (pixels).
        mode: ``"reflect"`` (mirror the scene, repeated for very small scenes) or ``"constant"``
            (zeros, which after :func:`glacierlab.data.normalise.normalise_group` is what the model sees
            for no data, as in the paper).
        top: Padding rows above the array (windows that start in the paper tiling's padding).
        left: Padding columns left of the array.

    Returns:
        Array (..., window, window) whose block at ``(top, left)`` is ``array``.
    """
    if mode not in PAD_MODES:
        raise unknown_name("pad mode", mode, PAD_MODES)
    h, w = array.shape[-2:]
    ph, pw = window - h - top, window - w - left
    if ph < 0 or pw < 0 or top < 0 or left < 0:
        raise ConfigError(f"array of {h}×{w} px at ({top}, {left}) is larger than the window ({window}) allows")
    if ph == 0 and pw == 0 and top == 0 and left == 0:
        return array
    pads = [(0, 0)] * (array.ndim - 2) + [(top, ph), (left, pw)]
    if mode == "reflect" and (h < 2 or w < 2):
        mode = "edge"  # numpy cannot reflect a single row/column
    out: np.ndarray = np.pad(array, pads, mode=mode)  # type: ignore[call-overload]  # mode checked above
    return out
