"""Low-precision CPU inference for a scene: sample its windows, get the fast copy from :mod:`glacierlab.accel`.

:func:`cpu_copy_for_scene` is what ``predict_scene(..., precision="bfloat16" | "int8")`` runs on CPU: it
samples windows of the scene (:mod:`glacierlab.inference.sampling`) and hands them to
:func:`glacierlab.accel.fast_copy`, which builds the copy and checks it against float32 on held-out
windows (whole map: :func:`glacierlab.inference.precision_check.precision_map_check`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


def _sampled(
    readers: list[Any], stats: Mapping[str, Any], opts: Any, fixed_loc: np.ndarray | None, count: int
) -> list[Any]:
    import torch

    from glacierlab.inference.location import window_locations
    from glacierlab.inference.sampling import located_windows

    batches = []
    for arrays, centres in located_windows(readers, stats, opts, count, 8):
        loc = window_locations(centres, fixed_loc, opts.location, readers[0])
        batches.append((arrays, None if loc is None else torch.from_numpy(loc).float()))
    return batches


def cpu_copy_for_scene(
    model: Any,
    precision: str,
    readers: list[Any],
    stats: Mapping[str, Any],
    opts: Any,
    fixed_loc: np.ndarray | None,
) -> tuple[Any, dict[str, Any]]:
    """The ``precision`` ("bfloat16" or experimental "int8") CPU copy of ``model`` and its record.

    Raises:
        ConfigError: The model cannot be copied to that precision here (see :func:`glacierlab.accel.fast_copy`).
    """
    from glacierlab.accel.copy import fast_copy
    from glacierlab.inference.tiling import window_grid

    grid = window_grid(readers[0].height, readers[0].width, opts.window, opts.stride, opts.tiling)
    return fast_copy(
        model,
        precision,
        lambda count: _sampled(readers, stats, opts, fixed_loc, count),
        scene_windows=grid.total,
    )
