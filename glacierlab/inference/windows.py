"""Model-ready windows: read, mark no data, normalise and pad a batch of grid windows.

One read path for :func:`~glacierlab.inference.predict.predict_scene` (which may run it on a background
thread, ahead of the model), :func:`~glacierlab.inference.sampling.sample_windows` (int8 calibration
windows) and the benchmarks, so that every consumer sees exactly the inputs the model sees.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from glacierlab.inference.checks import SENTINEL
from glacierlab.inference.options import PredictOptions
from glacierlab.inference.readers import GroupReader
from glacierlab.inference.tiling import Grid, Window, pad_to_window


@dataclass
class WindowBatch:
    """A batch of windows of one grid row, ready for the model.

    Attributes:
        chunk: The grid windows, in order.
        arrays: Group -> float32 (n, C, window, window), normalised and padded.
        spans: Scene rows/columns ``(r0, r1, c0, c1)`` each window covers.
        valid: Per window, (r1 - r0, c1 - c0) bool: pixels with valid input (the no-data policy applied).
        extreme: Per window, pixels whose input had values beyond ±1e30 (treated as no data).
        keep: Indices of the windows with at least one valid pixel (the others need no model pass).
    """

    chunk: list[Window]
    arrays: dict[str, np.ndarray]
    spans: list[tuple[int, int, int, int]]
    valid: list[np.ndarray]
    extreme: list[np.ndarray]
    keep: list[int]


def read_windows(
    readers: list[GroupReader],
    stats: Mapping[str, Any],
    opts: PredictOptions,
    grid: Grid,
    chunk: list[Window],
) -> WindowBatch:
    """Read ``chunk`` from every group: no-data marks, fill, normalisation, padding to the window."""
    from glacierlab.data.normalise import normalise_group

    pad = "constant" if opts.tiling == "paper" else opts.pad_mode
    arrays: dict[str, list[np.ndarray]] = {r.name: [] for r in readers}
    spans, valid, extremes, keep = [], [], [], []
    for k, win in enumerate(chunk):
        r0, r1, c0, c1 = grid.scene_span(win)
        top, left = r0 - (win.row - grid.top), c0 - (win.col - grid.left)
        missing_any = np.zeros((r1 - r0, c1 - c0), bool)
        missing_all = np.ones((r1 - r0, c1 - c0), bool)
        extreme_any = np.zeros((r1 - r0, c1 - c0), bool)
        for r in readers:
            a = r.read(r0, c0, r1 - r0, c1 - c0)
            extreme = np.abs(a) >= SENTINEL
            if extreme.any():
                extreme_any |= extreme.any(0)
                a[extreme] = np.nan
            nan = np.isnan(a)
            missing_any |= nan.any(0)
            missing_all &= nan.all(0)
            if opts.fill_missing == "before_scaling":
                a = np.where(nan, 0.0, a)  # the authors' compile_features: raw 0, then scaling
            a = normalise_group(a, stats[r.name]) if r.name in stats else np.nan_to_num(a, nan=0.0)
            arrays[r.name].append(pad_to_window(a, opts.window, pad, top=top, left=left))
        vm = ~(missing_any if opts.nodata == "any" else missing_all)
        spans.append((r0, r1, c0, c1))
        valid.append(vm)
        extremes.append(extreme_any)
        if vm.any():
            keep.append(k)
    stacked = {name: np.stack(v) for name, v in arrays.items()}
    return WindowBatch(list(chunk), stacked, spans, valid, extremes, keep)
