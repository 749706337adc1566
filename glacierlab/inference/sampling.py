"""Model-ready windows sampled from a scene: calibration data for int8 inference.

Windows are read exactly as :func:`~glacierlab.inference.predict.predict_scene` reads them (band
selection, no-data policy, normalisation, padding).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from glacierlab.errors import ConfigError, NoDataError, unknown_name
from glacierlab.inference.readers import open_inputs
from glacierlab.inference.tiling import PAD_MODES, iter_windows

if TYPE_CHECKING:
    import torch
    import xarray as xr


def sample_windows(
    checkpoint: Any,
    inputs: xr.Dataset | Mapping[str, Any],
    *,
    window: int,
    count: int = 32,
    batch_size: int = 8,
    nodata: str = "any",
    pad_mode: str = "reflect",
) -> list[dict[str, torch.Tensor]]:
    """Up to ``count`` windows spread evenly over the scene's window grid, as float tensor batches.

    Args:
        checkpoint: A loaded checkpoint (``.bands``, ``.normalisation``).
        inputs: The scene, as for ``predict_scene``.
        window: Window side in pixels (the prediction window).
        count: Windows to return (fewer if the scene has fewer windows with valid pixels).
        batch_size: Windows per returned batch.
        nodata: ``"any"`` or ``"all"``, as in ``predict_scene`` (windows without valid pixels are skipped).
        pad_mode: Padding of windows running past a small scene, as in ``predict_scene``.

    Returns:
        Batches: group -> float32 tensor (n, C_g, window, window), in checkpoint band order.

    Raises:
        ConfigError: ``count`` or ``batch_size`` below 1. NoDataError: no window has a valid pixel.
    """
    import torch

    from glacierlab.data.normalise import normalise_group
    from glacierlab.inference.predict import NODATA_POLICIES, _read_batch

    if count < 1 or batch_size < 1:
        raise ConfigError(f"count and batch_size must be at least 1, got {count} and {batch_size}.")
    if nodata not in NODATA_POLICIES:
        raise unknown_name("nodata policy", nodata, NODATA_POLICIES)
    if pad_mode not in PAD_MODES:
        raise unknown_name("pad mode", pad_mode, PAD_MODES)
    bands = {g: list(b) for g, b in checkpoint.bands.items()}
    stats = getattr(checkpoint, "normalisation", None) or {}
    readers = open_inputs(inputs, bands)
    try:
        ref = readers[0]
        grid = list(iter_windows(ref.height, ref.width, window, max(1, window // 2)))
        order = np.unique(np.linspace(0, len(grid) - 1, num=min(len(grid), 4 * count)).round().astype(int))
        kept: dict[str, list[np.ndarray]] = {g: [] for g in bands}
        for k in order:
            batch, keep, _ = _read_batch(readers, [grid[k]], stats, normalise_group, window, nodata, pad_mode)
            if keep:
                for g, a in batch.items():
                    kept[g].append(a[0])
        n = len(next(iter(kept.values())))
        if n == 0:
            raise NoDataError("no window of the scene has a valid pixel; check the inputs' nodata values.")
        pick = np.unique(np.linspace(0, n - 1, num=min(n, count)).round().astype(int))
        out = []
        for i in range(0, len(pick), batch_size):
            idx = pick[i : i + batch_size]
            out.append({g: torch.from_numpy(np.stack([kept[g][j] for j in idx])) for g in bands})
        return out
    finally:
        for r in readers:
            r.close()
