"""Model-ready windows sampled from a scene: calibration data for int8 inference.

Windows are read exactly as :func:`~glacierlab.inference.predict.predict_scene` reads them
(:func:`glacierlab.inference.windows.read_windows`: band selection, no-data policy, fill, normalisation,
padding) on the prediction's own window grid.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from glacierlab.contract.options import PredictOptions
from glacierlab.errors import ConfigError, NoDataError
from glacierlab.inference.readers import GroupReader, open_inputs
from glacierlab.inference.tiling import window_grid
from glacierlab.inference.windows import read_windows

if TYPE_CHECKING:
    import torch
    import xarray as xr

    from glacierlab.models.checkpoint import CheckpointLike


def sample_windows(
    checkpoint: CheckpointLike,
    inputs: xr.Dataset | Mapping[str, Any],
    options: PredictOptions | Mapping[str, Any] | None = None,
    *,
    count: int = 32,
    batch_size: int = 8,
    **overrides: Any,
) -> list[dict[str, torch.Tensor]]:
    """Up to ``count`` windows spread evenly over the scene's prediction grid, as float tensor batches.

    Args:
        checkpoint: A loaded checkpoint or its path (its bands, normalisation and stored options are used).
        inputs: The scene, as for ``predict_scene``.
        options: Prediction options (None: the checkpoint's), overridden by ``overrides`` (e.g.
            ``window=96, nodata="all"``), as for ``predict_scene``.
        count: Windows to return (fewer if the scene has fewer windows with valid pixels), >= 1.
        batch_size: Windows per returned batch, >= 1.
        **overrides: Option fields replacing the checkpoint's, as for ``predict_scene``.

    Returns:
        Batches: group -> float32 tensor (n, C_g, window, window), in checkpoint band order.

    Raises:
        ConfigError: ``count`` or ``batch_size`` below 1. NoDataError: no window has a valid pixel.
    """
    from glacierlab.contract.options import resolve_options
    from glacierlab.models.checkpoint import as_checkpoint

    checkpoint = as_checkpoint(checkpoint)
    if count < 1 or batch_size < 1:
        raise ConfigError(f"count and batch_size must be at least 1, got {count} and {batch_size}.")
    opts = resolve_options(checkpoint, options, **overrides)
    readers = open_inputs(inputs, {g: list(b) for g, b in checkpoint.bands.items()})
    try:
        return windows_from_readers(readers, getattr(checkpoint, "normalisation", None) or {}, opts, count, batch_size)
    finally:
        for r in readers:
            r.close()


def windows_from_readers(
    readers: list[GroupReader], stats: Mapping[str, Any], opts: PredictOptions, count: int, batch_size: int
) -> list[dict[str, torch.Tensor]]:
    """:func:`sample_windows` on already opened readers."""
    return [batch for batch, _ in located_windows(readers, stats, opts, count, batch_size)]


def located_windows(
    readers: list[GroupReader], stats: Mapping[str, Any], opts: PredictOptions, count: int, batch_size: int
) -> list[tuple[dict[str, torch.Tensor], list[tuple[float, float]]]]:
    """Sampled batches with their windows' centres (scene pixel (row, col)), for location-encoded models.

    Up to ``4 * count`` candidate windows evenly spaced over the grid are read in a spread-out order
    (every fourth candidate first, then those between) until ``count`` of them have valid pixels, so a
    scene without gaps costs ``count`` window reads.
    """
    import torch

    ref = readers[0]
    grid = window_grid(ref.height, ref.width, opts.window, opts.stride, opts.tiling)
    wins = [w for row in grid.rows for w in row]
    candidates = np.unique(np.linspace(0, len(wins) - 1, num=min(len(wins), 4 * count)).round().astype(int))
    order = [int(k) for k in np.concatenate([candidates[s::4] for s in range(4)])]
    kept: dict[str, list[np.ndarray]] = {r.name: [] for r in readers}
    centres: list[tuple[float, float]] = []
    for k in order:
        if len(centres) >= count:
            break
        wb = read_windows(readers, stats, opts, grid, [wins[k]])
        if wb.keep:
            for g, a in wb.arrays.items():
                kept[g].append(a[0])
            centres.append(grid.centre(wins[k]))
    if not centres:
        raise NoDataError("no window of the scene has a valid pixel; check the inputs' nodata values.")
    out = []
    for i in range(0, len(centres), batch_size):  # at most ``count`` windows were kept
        batch = {g: torch.from_numpy(np.stack(kept[g][i : i + batch_size])) for g in kept}
        out.append((batch, centres[i : i + batch_size]))
    return out
