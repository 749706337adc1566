"""Model-ready windows: read, mark no data, normalise and pad a batch of grid windows.

One read path for :func:`~glacierlab.inference.predict.predict_scene` (which may run it on a background
thread, ahead of the model), :func:`~glacierlab.inference.sampling.sample_windows` (int8 calibration
windows) and the benchmarks, so that every consumer sees exactly the inputs the model sees.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from glacierlab.contract.options import PredictOptions
from glacierlab.inference.checks import SENTINEL
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
        without: Per window, optional group -> valid pixels where that group had no value at all (mapped
            without it, as the checkpoint was trained to).
    """

    chunk: list[Window]
    arrays: dict[str, np.ndarray]
    spans: list[tuple[int, int, int, int]]
    valid: list[np.ndarray]
    extreme: list[np.ndarray]
    keep: list[int]
    without: list[dict[str, np.ndarray]] = field(default_factory=list)


def read_windows(
    readers: list[GroupReader],
    stats: Mapping[str, Any],
    opts: PredictOptions,
    grid: Grid,
    chunk: list[Window],
    optional: Collection[str] = (),
) -> WindowBatch:
    """Read ``chunk`` from every group: no-data marks, fill, normalisation, padding to the window.

    Windows that share their rows (one grid row) are read as one strip per group, spanning their
    columns, and normalised once: with the usual half-window stride that reads each pixel once instead
    of twice along the row.

    The no-data rule (``opts.nodata``): ``"any"``: a pixel is no data where any band of any group is
    missing (NaN, the nodata value, or beyond ±1e30). ``"all"``: missing bands are filled, but a pixel
    is no data where every band of a *required* group is missing; the groups in ``optional`` (those the
    checkpoint was trained to map without, :func:`glacierlab.inference.checks.optional_groups`) are
    not required, and the pixels mapped without them are returned in ``without``.
    """
    pad = "constant" if opts.tiling == "paper" else opts.pad_mode
    spans = [grid.scene_span(win) for win in chunk]
    per_window: list[dict[str, np.ndarray]] = [{} for _ in chunk]
    valid: list[np.ndarray] = [np.zeros(0)] * len(chunk)
    extremes: list[np.ndarray] = [np.zeros(0)] * len(chunk)
    without: list[dict[str, np.ndarray]] = [{} for _ in chunk]
    for (r0, r1), members in _by_rows(spans).items():
        c_lo, c_hi = min(spans[k][2] for k in members), max(spans[k][3] for k in members)
        strips, miss_any, miss_all, extreme, gone = _read_strip(readers, stats, opts, r0, r1, c_lo, c_hi)
        missing = miss_any
        if opts.nodata != "any":
            missing = miss_all.copy()
            for name, g in gone.items():
                if name not in optional:
                    missing |= g
        for k in members:
            win, (_, _, c0, c1) = chunk[k], spans[k]
            top, left = r0 - (win.row - grid.top), c0 - (win.col - grid.left)
            cols = slice(c0 - c_lo, c1 - c_lo)
            for name, a in strips.items():
                per_window[k][name] = pad_to_window(a[:, :, cols], opts.window, pad, top=top, left=left)
            valid[k], extremes[k] = ~missing[:, cols], extreme[:, cols]
            without[k] = {g: valid[k] & gone[g][:, cols] for g in optional if g in gone}
    arrays = {r.name: np.stack([w[r.name] for w in per_window]) for r in readers}
    keep = [k for k, vm in enumerate(valid) if vm.any()]
    return WindowBatch(list(chunk), arrays, spans, valid, extremes, keep, without)


def check_scene_memory(height: int, width: int, window: int, *, in_memory: bool) -> None:
    """Refuse, from the inputs' headers, a scene whose whole-allocated buffers exceed the memory budget.

    Prediction streams rows of windows, but its blending buffers span the scene's full width
    (``window`` rows x width x 26 bytes: three float64 sums, two masks), and a result kept in memory
    (no ``out_dir``) takes ``height x width x 13`` bytes. Long-but-narrow strips and in-memory results
    are what this bounds; a large scene written to files streams within a few hundred MB.
    """
    from glacierlab.settings import check_budget

    frame = float(window) * (width + 2 * window) * 26
    check_budget(
        frame,
        f"prediction buffers of a {height} x {width} px scene ({window} rows x its full width)",
        "the scene is too wide: cut it into narrower tiles (gdal_translate -srcwin) and map them one by one",
    )
    if in_memory:
        check_budget(
            float(height) * width * 13 + frame,
            f"the in-memory result of a {height} x {width} px scene (13 bytes/px)",
            "pass out_dir= so the maps stream to COG files instead of memory",
        )


def _by_rows(spans: list[tuple[int, int, int, int]]) -> dict[tuple[int, int], list[int]]:
    groups: dict[tuple[int, int], list[int]] = {}
    for k, (r0, r1, _, _) in enumerate(spans):
        groups.setdefault((r0, r1), []).append(k)
    return groups


def _read_strip(
    readers: list[GroupReader],
    stats: Mapping[str, Any],
    opts: PredictOptions,
    r0: int,
    r1: int,
    c0: int,
    c1: int,
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Normalised strips and the strip's missing-anywhere / -everywhere / extreme / per-group-gone masks."""
    from glacierlab.data.normalise import normalise_group

    shape = (r1 - r0, c1 - c0)
    miss_any, miss_all, extreme_any = np.zeros(shape, bool), np.ones(shape, bool), np.zeros(shape, bool)
    strips, gone = {}, {}
    for r in readers:
        a = r.read(r0, c0, r1 - r0, c1 - c0)
        extreme = np.abs(a) >= SENTINEL
        if extreme.any():
            extreme_any |= extreme.any(0)
            a[extreme] = np.nan
        nan = np.isnan(a)
        miss_any |= nan.any(0)
        gone[r.name] = nan.all(0)
        miss_all &= gone[r.name]
        if opts.fill_missing == "before_scaling":
            a = np.where(nan, 0.0, a)  # the authors' compile_features: raw 0, then scaling
        strips[r.name] = normalise_group(a, stats[r.name]) if r.name in stats else np.nan_to_num(a, nan=0.0)
    return strips, miss_any, miss_all, extreme_any, gone


class Prefetcher:
    """Reads batches on a background thread, up to ``depth`` batches ahead of their consumer.

    Reading (GDAL decompression, numpy normalisation) mostly runs without the GIL, so it overlaps with
    the model. Use as a context manager and iterate; an exception of the reader is raised in the
    consumer, and leaving the block early stops the thread before the readers are closed.

    Attributes:
        seconds: Time the background thread spent reading.
    """

    def __init__(self, read: Callable[[list[Window]], WindowBatch], chunks: list[list[Window]], depth: int = 2):
        self._read, self._chunks = read, chunks
        self._queue: queue.Queue[WindowBatch | BaseException | None] = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name="glacierlab-reader", daemon=True)
        self.seconds = 0.0

    def _put(self, item: WindowBatch | BaseException | None) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _work(self) -> None:
        try:
            for chunk in self._chunks:
                if self._stop.is_set():
                    return
                t0 = time.perf_counter()
                batch = self._read(chunk)
                self.seconds += time.perf_counter() - t0
                if not self._put(batch):
                    return
        except BaseException as err:  # handed to the consumer, raised there
            self._put(err)
            return
        self._put(None)

    def __enter__(self) -> Prefetcher:
        self._thread.start()
        return self

    def __iter__(self) -> Iterator[WindowBatch]:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
