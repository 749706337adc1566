"""Bad input: each case raises a precise glacierlab error (what was wrong, what was expected, how to fix)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from glacierlab.data.download import fetch
from glacierlab.data.rasters import load_raster, open_raster
from glacierlab.data.stack import stack_from_arrays, stack_region
from glacierlab.data.terrain import slope_degrees
from glacierlab.errors import CorruptFileError, GridError, HashMismatchError, NoDataError, UnknownNameError

pytestmark = [
    pytest.mark.filterwarnings(
        r"ignore:Use `@` matmul instead of `\*` mul operator:PendingDeprecationWarning"
    ),
    pytest.mark.filterwarnings("ignore:angle from rectified to skew grid parameter lost:UserWarning"),
]


def _write(path: Path, arr: np.ndarray, crs: str | None, nodata: float | None = None) -> Path:
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=arr.shape[1],
        height=arr.shape[0],
        count=1,
        dtype=arr.dtype,
        crs=crs,
        transform=from_origin(490000, 3098000, 30, 30),
        nodata=nodata,
    ) as f:
        f.write(arr, 1)
    return path


def test_unknown_region_suggests_closest() -> None:
    with pytest.raises(UnknownNameError, match=r"unknown region 'aletch'.*Did you mean 'aletsch'"):
        stack_region("aletch")


def test_unknown_band_name() -> None:
    with pytest.raises(UnknownNameError, match=r"'swir1'.*nir"):
        load_raster("everest_l7_20001030_nir", bands=["swir1"])


def test_unknown_group_and_date() -> None:
    with pytest.raises(UnknownNameError, match="valid groups: dem, mask, optical"):
        stack_region("everest", groups=("sar",))
    with pytest.raises(UnknownNameError, match="2020-04-07"):
        stack_region("everest", date="2019")


def test_unknown_name_lists_the_valid_names_in_plain_english() -> None:
    from glacierlab.errors import unknown_name

    assert "valid weights: a, b." in str(unknown_name("weights", "c", ["a", "b"]))  # not "weightss"
    assert "valid strategies: global." in str(unknown_name("strategy", "x", ["global"]))
    text = str(unknown_name("band of input group 'dem'", "slope", ["elevation"]))
    assert "valid bands of input group 'dem': elevation." in text and "'dem's" not in text


def test_hash_mismatch(shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rel = "everest_landsat7_exploradores_aster/LE71400412000304SGS00_B4_cropped_test.tif"
    (tmp_path / rel).parent.mkdir(parents=True)
    (tmp_path / rel).write_bytes((shared_data / rel).read_bytes() + b"\0")
    monkeypatch.setenv("GLACIERLAB_SEED_DIR", str(tmp_path))
    from glacierlab.data.catalog import Source

    src = Source(
        id="b4_crop",
        kind="raster",
        origin="test",
        seed_path=rel,
        size=10,
        sha256="0e63d8e9c4770534a1ec267c91e80cd9266732184a114f0bd1aadb5a613215e6",
        licence="public domain",
        citation="USGS",
        bands=({"name": "nir", "role": "optical"},),
        product_level="dn8",
    )
    with pytest.raises(HashMismatchError, match=r"expects 0e63d8e9.*delete it and fetch again"):
        fetch(src)


def test_truncated_geotiff(shared_data: Path, tmp_path: Path) -> None:
    good = (
        shared_data / "everest_landsat7_exploradores_aster/LE71400412000304SGS00_RGB_test.tif"
    ).read_bytes()
    bad = tmp_path / "truncated.tif"
    bad.write_bytes(good[: len(good) // 2])
    with pytest.raises(CorruptFileError, match=r"truncated.tif.*fetch it again"):
        open_raster(bad, ["red", "green", "blue"])
    junk = tmp_path / "junk.tif"
    junk.write_bytes(b"not a tiff at all")
    with pytest.raises(CorruptFileError, match="cannot open raster"):
        open_raster(junk)


def test_sources_that_do_not_overlap() -> None:
    everest = load_raster("everest_l7_20001030_rgb_test")
    patagonia = load_raster("exploradores_aster_dem_20120318_test")
    with pytest.raises(GridError, match="does not overlap|none of the rasters"):
        stack_from_arrays(everest, patagonia)
    with pytest.raises(GridError, match="does not overlap"):
        stack_region("everest", bbox=(10.0, 46.0, 10.1, 46.1))  # the Alps, not the Himalaya


def test_missing_crs(tmp_path: Path) -> None:
    p = _write(tmp_path / "nocrs.tif", np.ones((8, 8), np.float32), crs=None)
    with pytest.raises(GridError, match=r"has no CRS; pass crs="):
        open_raster(p)
    assert open_raster(p, crs=32645).rio.crs.to_epsg() == 32645
    da = open_raster(p, crs=32645).drop_vars("spatial_ref")
    assert da.rio.crs is None
    with pytest.raises(GridError, match="no CRS"):
        slope_degrees(da)


def test_all_nodata_window(tmp_path: Path) -> None:
    p = _write(tmp_path / "empty.tif", np.full((8, 8), -9999, np.float32), crs="EPSG:32645", nodata=-9999)
    with pytest.raises(NoDataError, match="no valid pixel"):
        open_raster(p, ["elevation"])
    # real data: the ASTER DEM test crop has a nodata corner; a window inside it is all nodata
    with pytest.raises(NoDataError, match="no valid pixel"):
        load_raster("exploradores_aster_dem_20120318_test", bbox=(-73.34358, -46.6105, -73.34119, -46.60885))


def test_scene_without_a_raster_is_rasterised_on_a_utm_grid() -> None:
    # issue 14: "has no raster to define a grid; pass like=" was advice a student could not act on
    ds = stack_region("hochalmkees")
    assert ds.rio.crs.to_epsg() == 32633 and ds.rio.resolution() == (30.0, -30.0)
    assert "no raster" in ds.attrs["grid"] and list(ds.data_vars) == ["reference"]
    assert 0.05 < (ds["reference"].values == 1).mean() < 0.9
    with pytest.raises(GridError, match="smaller bbox"):
        stack_region("swiss_alps", "2010", bbox=(-10.0, 40.0, 30.0, 60.0))  # 30 m over a continent
