"""Window reading: strip reads equal window-by-window reads; the background reader hands over errors
and stops when its consumer does."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from glacierlab.contract.options import PredictOptions
from glacierlab.errors import GlacierLabWarning
from glacierlab.inference.readers import open_inputs
from glacierlab.inference.tiling import Window, window_grid
from glacierlab.inference.windows import Prefetcher, WindowBatch, read_windows


def _scene(h: int, w: int) -> dict:
    import rioxarray  # noqa: F401  (registers .rio)
    import xarray as xr
    from affine import Affine

    rng = np.random.default_rng(5)
    out = {}
    for g, names in (("optical", ["red", "nir"]), ("dem", ["elevation"])):
        a = (rng.random((len(names), h, w)) * 100).astype(np.float32)
        a[:, 5:9, 3:30] = np.nan  # a gap in every band
        a[0, 20:25, 40:60] = np.nan  # a gap in one band only
        a[-1, 30, 10] = -3.4e38  # an undeclared nodata value
        da = xr.DataArray(a, dims=("band", "y", "x")).assign_coords(
            band=names, y=3108000 - 30 * (np.arange(h) + 0.5), x=478000 + 30 * (np.arange(w) + 0.5)
        )
        out[g] = da.rio.write_crs(32645).rio.write_transform(Affine(30, 0, 478000, 0, -30, 3108000))
    return out


@pytest.mark.parametrize(
    "opts",
    [
        PredictOptions(window=32, stride=16),
        PredictOptions(window=32, stride=16, nodata="all", fill_missing="before_scaling"),
        PredictOptions(window=32, stride=20, tiling="paper", nodata="all"),
        PredictOptions(window=64, stride=32, pad_mode="constant"),  # windows larger than the scene's rows
    ],
)
def test_strip_reads_equal_window_by_window_reads(opts: PredictOptions) -> None:
    readers = open_inputs(_scene(50, 83), {"optical": ["red", "nir"], "dem": ["elevation"]})
    stats = {"optical": {"min": [0, 0], "max": [100, 100]}, "dem": {"min": [0], "max": [50]}}
    grid = window_grid(50, 83, opts.window, opts.stride, opts.tiling)
    for row in grid.rows:
        strip = read_windows(readers, stats, opts, grid, row)
        single = [read_windows(readers, stats, opts, grid, [w]) for w in row]
        for g in strip.arrays:
            np.testing.assert_array_equal(strip.arrays[g], np.concatenate([s.arrays[g] for s in single]))
        for k, s in enumerate(single):
            assert strip.spans[k] == s.spans[0]
            np.testing.assert_array_equal(strip.valid[k], s.valid[0])
            np.testing.assert_array_equal(strip.extreme[k], s.extreme[0])
        assert strip.keep == [k for k, s in enumerate(single) if s.keep]
    flagged = [e.any() for row in grid.rows for e in read_windows(readers, stats, opts, grid, row).extreme]
    assert any(flagged)  # the -3.4e38 pixel is seen as no data by the windows covering it


def _batch(chunk: list[Window]) -> WindowBatch:
    return WindowBatch(chunk, {}, [], [], [], [])


def test_prefetcher_yields_in_order_and_raises_reader_errors() -> None:
    chunks = [[Window(0, i, 1, 1)] for i in range(5)]
    with Prefetcher(_batch, chunks, depth=2) as reader:
        assert [b.chunk[0].col for b in reader] == list(range(5))

    def failing(chunk: list[Window]) -> WindowBatch:
        if chunk[0].col == 2:
            raise OSError("disk gone")
        return _batch(chunk)

    seen = []
    with pytest.raises(OSError, match="disk gone"), Prefetcher(failing, chunks) as reader:
        seen.extend(b.chunk[0].col for b in reader)
    assert seen == [0, 1]


def test_prefetcher_stops_when_the_consumer_leaves_early() -> None:
    reads = []
    chunks = [[Window(0, i, 1, 1)] for i in range(1000)]

    def slow(chunk: list[Window]) -> WindowBatch:
        reads.append(chunk[0].col)
        return _batch(chunk)

    with pytest.raises(RuntimeError, match="cancelled"), Prefetcher(slow, chunks, depth=2) as reader:
        for b in reader:
            if b.chunk[0].col == 3:
                raise RuntimeError("cancelled")
    assert len(reads) < 10  # it read ahead a little, then stopped
    assert not any(t.name == "glacierlab-reader" and t.is_alive() for t in threading.enumerate())


def test_predict_reports_seconds_per_stage(tiny_checkpoint: object) -> None:
    import json

    from glacierlab.inference.predict import predict_scene
    from glacierlab.models import load_checkpoint

    ckpt = load_checkpoint(tiny_checkpoint)  # type: ignore[arg-type]
    scene = _scene(50, 83)
    scene = {"optical": scene["optical"].sel(band=["red", "nir", "red", "nir"]), "dem": scene["dem"]}
    scene["optical"] = scene["optical"].assign_coords(band=["blue", "green", "red", "nir"])
    scene["dem"] = scene["dem"].sel(band=["elevation", "elevation"]).assign_coords(band=["elevation", "slope"])
    with pytest.warns(GlacierLabWarning, match="beyond"):  # the scene's -3.4e38 pixel
        out = predict_scene(ckpt, scene, window=32, stride=16, device="cpu", progress=False, check=False)
    seconds = json.loads(out.attrs["seconds"])
    assert set(seconds) == {"read", "read_wait", "model", "blend", "write"}
    assert all(v >= 0 for v in seconds.values()) and seconds["model"] > 0 and seconds["read"] > 0
