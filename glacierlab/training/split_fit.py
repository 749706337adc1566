"""Choose a spatial split that fits a scene: window, block and buffer sizes that leave training windows.

The paper-like defaults (96 px windows, 160 px blocks, 32 px buffer) fit a Landsat scene such as Everest
(800 x 655 px) but not a 125 x 95 px glacier clip. :func:`fit_split` keeps the requested sizes when they
fit and otherwise steps down to smaller ones, saying what it chose, instead of failing with NoDataError.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from glacierlab.contract.split import make_spatial_split
from glacierlab.errors import ConfigError, NoDataError
from glacierlab.training.config import TRAIN_WINDOW
from glacierlab.training.scene_dataset import grid_positions, window_positions
from glacierlab.vocabulary import NODATA

#: Fallback (window, block, buffer) sizes in px, largest first; windows are multiples of 16 (glavitu_lite).
FALLBACKS = ((96, 160, 32), (64, 112, 16), (48, 80, 16), (32, 64, 8), (32, 48, 8))


@dataclass(frozen=True)
class SplitFit:
    """Window, block and buffer sizes (px) that fit a scene, with the counts that prove it."""

    window: int
    block_size: int
    buffer: int
    train_positions: int
    val_windows: int
    note: str


def _counts(
    valid: np.ndarray, window: int, block: int, buffer: int, fractions: Sequence[float], seed: int
) -> tuple[int, int]:
    try:
        split = make_spatial_split(valid.shape, block, buffer, fractions, seed)
    except ConfigError:
        return 0, 0
    train = len(window_positions(split.mask("train") & valid, window))
    val = len(grid_positions(split.mask("val") & valid, window))
    return train, val


def fit_split(
    reference: np.ndarray,
    *,
    window: int = TRAIN_WINDOW,
    block_size: int = 160,
    buffer: int = 32,
    fractions: Sequence[float] = (0.6, 0.2, 0.2),
    seed: int = 0,
) -> SplitFit:
    """The requested split sizes if training and validation windows fit, else the largest fallback that does.

    Args:
        reference: ``(y, x)`` reference labels of the scene (255 = no data: windows must avoid it).
        window: Training window side (px).
        block_size: Split block side (px).
        buffer: Gap between splits (px).
        fractions: Train / validation / test shares of the blocks.
        seed: Seed of the block assignment.

    Returns:
        The :class:`SplitFit`; ``note`` says what was changed and why ('' when nothing was).

    Raises:
        NoDataError: Not even 32 px windows fit (the message gives the scene size).
    """
    valid = np.asarray(reference) != NODATA
    train, val = _counts(valid, window, block_size, buffer, fractions, seed)
    if train and val:
        return SplitFit(window, block_size, buffer, train, val, "")
    for w, b, buf in FALLBACKS:
        if w >= window and (w, b, buf) != (window, block_size, buffer):
            continue
        t, v = _counts(valid, w, b, buf, fractions, seed)
        if t and v:
            note = (
                f"{window} px windows in {block_size} px blocks with a {buffer} px buffer leave "
                f"{train} training and {val} validation windows in this {valid.shape[0]} x {valid.shape[1]} px "
                f"scene; using {w} px windows, {b} px blocks, {buf} px buffer instead."
            )
            return SplitFit(w, b, buf, t, v, note)
    raise NoDataError(
        f"no split with windows of 32 px or more fits this {valid.shape[0]} x {valid.shape[1]} px scene "
        f"({valid.mean() * 100:.0f} % with a reference label); choose a larger scene or window (bbox)."
    )
