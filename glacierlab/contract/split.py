"""The spatial train / validation / test split of a scene: a seeded block grid with buffers (JSON-ready).

The scene is cut into square blocks; each block is assigned to a split at random (seeded). Around every
validation and test block a buffer of ``buffer`` pixels is taken away from the lower-priority splits
(test > val > train). The split is part of the checkpoint contract: training stores it
(:meth:`SpatialSplit.to_dict`) in the checkpoint, and the held-out checks rebuild the pixel map exactly.
Numpy and scipy only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from glacierlab.errors import ConfigError, InputError, unknown_name

SPLITS: tuple[str, ...] = ("train", "val", "test")
BUFFER_CODE = -1


@dataclass(frozen=True)
class SpatialSplit:
    """Block assignment of a scene to train (0), val (1) and test (2), plus the buffer width.

    Attributes:
        shape: (height, width) of the scene in pixels.
        block_size: Block side in pixels (the last row/column of blocks may be smaller).
        buffer: Pixels removed from lower-priority splits around higher-priority blocks (test > val > train).
        blocks: (n_block_rows, n_block_cols) int8 split code per block.
    """

    shape: tuple[int, int]
    block_size: int
    buffer: int
    blocks: np.ndarray = field(repr=False)

    def pixel_map(self) -> np.ndarray:
        """(H, W) int8: 0 train, 1 val, 2 test, -1 buffer."""
        h, w = self.shape
        rows = np.minimum(np.arange(h) // self.block_size, self.blocks.shape[0] - 1)
        cols = np.minimum(np.arange(w) // self.block_size, self.blocks.shape[1] - 1)
        base: np.ndarray = self.blocks[rows][:, cols].astype(np.int8)
        out: np.ndarray = base.copy()
        if self.buffer > 0:
            size = 2 * self.buffer + 1
            for code in (1, 0):  # val gives way to test; train gives way to val and test
                near_higher = ndimage.maximum_filter(
                    (base > code).astype(np.uint8), size=size, mode="constant"
                )
                out[(base == code) & (near_higher > 0)] = BUFFER_CODE
        return out

    def mask(self, split: str) -> np.ndarray:
        """(H, W) bool area of ``split`` ("train", "val" or "test"), buffer excluded."""
        if split not in SPLITS:
            raise unknown_name("split", split, SPLITS)
        area: np.ndarray = self.pixel_map() == SPLITS.index(split)
        return area

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (block grid as nested lists)."""
        return {
            "shape": list(self.shape),
            "block_size": self.block_size,
            "buffer": self.buffer,
            "codes": {name: i for i, name in enumerate(SPLITS)},
            "blocks": self.blocks.astype(int).tolist(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SpatialSplit:
        """Inverse of :meth:`to_dict`."""
        try:
            return cls(
                tuple(d["shape"]),
                int(d["block_size"]),
                int(d["buffer"]),
                np.asarray(d["blocks"], dtype=np.int8),
            )
        except KeyError as err:
            raise InputError(
                f"spatial split description lacks {err}; expected keys shape, block_size, buffer, blocks."
            ) from err


def make_spatial_split(
    shape: tuple[int, int],
    block_size: int,
    buffer: int,
    fractions: Sequence[float] = (0.6, 0.2, 0.2),
    seed: int = 0,
) -> SpatialSplit:
    """Assign the blocks of a scene to train/val/test at random.

    Args:
        shape: (height, width) of the scene in pixels.
        block_size: Block side in pixels; must be at least the training window.
        buffer: Gap in pixels between the areas of different splits; use at least one window.
        fractions: Shares of blocks for (train, val, test); each split with a share > 0 gets >= 1 block.
        seed: Seed of the assignment.

    Returns:
        The split.

    Raises:
        ConfigError: If there are too few blocks or the fractions are invalid.
    """
    if block_size < 1 or buffer < 0:
        raise ConfigError(f"block_size must be >= 1 and buffer >= 0, got {block_size} and {buffer}.")
    fr = np.asarray(fractions, dtype=np.float64)
    if fr.shape != (3,) or np.any(fr < 0) or fr.sum() <= 0:
        raise ConfigError(
            f"fractions must be three non-negative shares (train, val, test), got {list(fractions)}."
        )
    nby, nbx = -(-shape[0] // block_size), -(-shape[1] // block_size)
    n = nby * nbx
    need = int(np.count_nonzero(fr))
    if n < need:
        raise ConfigError(
            f"{shape} with block_size {block_size} gives {n} blocks, fewer than {need} splits; "
            "use smaller blocks."
        )
    counts = np.floor(fr / fr.sum() * n).astype(int)
    counts[(fr > 0) & (counts == 0)] = 1
    while counts.sum() > n:  # too many after the minimum of one: take from the largest
        counts[np.argmax(counts)] -= 1
    counts[0] += n - counts.sum()  # remainder to train
    codes = np.repeat(np.arange(3, dtype=np.int8), counts)
    np.random.default_rng(seed).shuffle(codes)
    return SpatialSplit((int(shape[0]), int(shape[1])), int(block_size), int(buffer), codes.reshape(nby, nbx))
