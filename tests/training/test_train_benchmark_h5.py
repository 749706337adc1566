import numpy as np
import pytest

from glacierlab.errors import DataNotFoundError, NoDataError, UnknownNameError
from glacierlab.training.benchmark_h5 import BenchmarkPatches, epoch_length, filter_tiles, read_tiles


def test_read_and_filter_tiles(benchmark_file) -> None:
    tiles = read_tiles(benchmark_file)
    assert [t.name for t in tiles] == ["ALP-1-1", "ALP-1-2", "HMA-3-4", "HMA-7-2", "NZ-2-2"]
    assert (
        tiles[2].subregion == "HMA1" and tiles[2].height == 64 and tiles[2].bounds[0] == pytest.approx(86.9)
    )
    assert [t.name for t in filter_tiles(tiles)] == ["ALP-1-1", "ALP-1-2", "HMA-3-4", "HMA-7-2"]
    assert [t.name for t in filter_tiles(tiles, ("optical",), regions=["NZ"])] == ["NZ-2-2"]
    assert [t.name for t in filter_tiles(tiles, ("optical", "thermal"))] == ["HMA-7-2"]
    assert [t.name for t in filter_tiles(tiles, subregions=["HMA3"])] == ["HMA-7-2"]
    with pytest.raises(UnknownNameError, match="HMA"):
        filter_tiles(tiles, regions=["HAM"])
    with pytest.raises(DataNotFoundError):
        read_tiles(benchmark_file.parent / "missing.h5")
    assert epoch_length(filter_tiles(tiles), 32, 8) == 8 * 4 * 2


def test_consecutive_windows_cover_tiles(benchmark_file) -> None:
    ds = BenchmarkPatches(benchmark_file, window=32, mode="consecutive", regions=["ALP"])
    assert len(ds) == 2 * 4
    s = ds[1]  # tile ALP-1-1, rows 0-32, cols 32-64: includes zero padding
    assert s["inputs"]["optical"].shape == (6, 32, 32) and s["inputs"]["dem"].shape == (2, 32, 32)
    nodata = s["target"].sum(0) == 0
    assert nodata.any() and (s["inputs"]["optical"][:, nodata] == 0).all()
    with pytest.raises(NoDataError):
        BenchmarkPatches(benchmark_file, ("optical", "thermal"), window=32, regions=["ALP"])


def test_random_sampler_is_seeded_and_encodes_location(benchmark_file) -> None:
    a = BenchmarkPatches(benchmark_file, window=32, n_samples=5, seed=3, location="region")
    b = BenchmarkPatches(benchmark_file, window=32, n_samples=5, seed=3, location="coordinates")
    assert len(a) == 5
    np.testing.assert_array_equal(a[2]["inputs"]["optical"], b[2]["inputs"]["optical"])
    assert a[0]["location"].shape == (12,) and b[0]["location"].shape == (4,)
    regions = {int(np.argmax(a[i]["location"])) for i in range(5)}
    assert regions <= {0, 5, 11}  # ALP, HMA, or unknown (p 0.1)
