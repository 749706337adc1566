"""Raster / netCDF loaders on the real files: shapes, CRS, band names, nodata, provenance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio

from glacierlab.data.rasters import load_netcdf, load_raster, open_raster
from glacierlab.errors import CatalogError, UnknownNameError

# Third-party noise when tests call rioxarray directly (the library wraps its own calls); the lead is
# asked to add the same filters to pyproject.toml.
pytestmark = [
    pytest.mark.filterwarnings(
        r"ignore:Use `@` matmul instead of `\*` mul operator:PendingDeprecationWarning"
    ),
    pytest.mark.filterwarnings("ignore:angle from rectified to skew grid parameter lost:UserWarning"),
]


def test_everest_landsat_bands_grid_and_provenance() -> None:
    nir = load_raster("everest_l7_20001030_nir")
    rgb = load_raster("everest_l7_20001030_rgb")
    assert nir.shape == (1, 655, 800) and rgb.shape == (3, 655, 800)
    assert list(rgb["band"].values) == ["red", "green", "blue"] and list(nir["band"].values) == ["nir"]
    assert nir.rio.crs.to_epsg() == 32645 and nir.rio.resolution() == (30.0, -30.0)
    assert nir.rio.bounds() == (478000.0, 3088490.0, 502000.0, 3108140.0)
    assert nir.rio.transform() == rgb.rio.transform()
    assert nir.dtype == np.uint8  # no nodata: dtype kept
    assert nir.attrs["source"] == "everest_l7_20001030_nir" and nir.attrs["date"] == "2000-10-30"
    assert "U.S. Geological Survey" in nir.attrs["citation"] and "Public domain" in nir.attrs["licence"]
    assert abs(float((nir == 255).mean()) - 0.21) < 0.01  # README: 21 % saturated


def test_select_bands_by_name_in_requested_order() -> None:
    da = load_raster("everest_l7_20001030_rgb_test", bands=["blue", "red"])
    assert list(da["band"].values) == ["blue", "red"]
    with rasterio.open(da.attrs["path"]) as f:
        np.testing.assert_array_equal(da.sel(band="blue").values, f.read(3))
    with pytest.raises(
        UnknownNameError, match="valid bands of source 'everest_l7_20001030_rgb_test': blue, green, red"
    ):
        load_raster("everest_l7_20001030_rgb_test", bands=["nir"])


def test_dem_strip_nodata_becomes_nan(shared_data: Path) -> None:
    src = "khumbu_dems_sentinel2/20030507_0445_1010010001E01600_1010010001E01500-DEM_32m_trans.tif"
    dem = load_raster("khumbu_dem_20030507")
    with rasterio.open(shared_data / src) as f:
        raw = f.read(1)
    assert dem.dtype == np.float32 and dem.shape == (1, 555, 449)
    np.testing.assert_array_equal(np.isnan(dem.values[0]), raw == -9999)
    assert 0.70 < float(np.isfinite(dem.values).mean()) < 0.72  # README: partial footprint (71 %)
    assert 4300 < float(np.nanmin(dem)) and float(np.nanmax(dem)) < 9000


def test_uint16_mosaic_zero_is_a_gap() -> None:
    dem = load_raster("khumbu_hma_dem_8m")
    assert dem.dtype == np.float32 and dem.shape == (1, 1245, 2284)
    assert abs(float(np.isnan(dem.values).mean()) - 0.0344) < 0.001
    assert float(np.nanmin(dem)) > 4000


def test_bbox_window_in_lon_lat() -> None:
    bbox = (86.85, 27.98, 86.90, 28.02)
    da = load_raster("everest_l7_20001030_nir", bbox=bbox)
    assert 0 < da.sizes["x"] < 800 and 0 < da.sizes["y"] < 655
    assert da.rio.crs.to_epsg() == 32645 and da.rio.resolution() == (30.0, -30.0)


def test_local_transverse_mercator_dem_keeps_its_wkt_crs() -> None:
    dem = load_raster("chhota_shigri_dem")
    assert dem.rio.crs is not None and dem.rio.crs.to_epsg() is None
    assert "Transverse_Mercator" in dem.rio.crs.to_wkt() and dem.rio.resolution() == (94.0, -94.0)


def test_aletsch_multi_date_netcdf() -> None:
    ds = load_netcdf("aletsch_igm_past_surf")
    assert list(ds.data_vars) == [f"surf_{y}" for y in (1880, 1926, 1957, 1980, 1999, 2009, 2017)]
    assert dict(ds.sizes) == {"y": 225, "x": 132}
    assert ds.rio.crs.to_epsg() == 32632 and ds.rio.resolution() == (100.0, 100.0)  # y ascending upstream
    assert ds.attrs["source"] == "aletsch_igm_past_surf" and "GPL-3.0" in ds.attrs["licence"]
    inp = load_netcdf("aletsch_igm_input", ["usurf", "thk"])
    ice_1880 = (ds["surf_1880"] - (inp["usurf"] - inp["thk"])) > 1
    ice_2017 = (ds["surf_2017"] - (inp["usurf"] - inp["thk"])) > 1
    a1880, a2017 = float(ice_1880.sum()) * 0.01, float(ice_2017.sum()) * 0.01  # km2 of 100 m cells
    assert abs(a1880 - 92.6) < 1 and abs(a2017 - 82.9) < 1  # README figures: the glacier shrank
    with pytest.raises(UnknownNameError):
        load_netcdf("aletsch_igm_input", ["velocity"])


def test_wrong_kind_is_reported() -> None:
    with pytest.raises(CatalogError, match="load_outlines"):
        load_raster("everest_rgi60_outlines")
    with pytest.raises(CatalogError, match="not netcdf"):
        load_netcdf("everest_l7_20001030_nir")


def test_open_raster_names_bands_and_checks_count(shared_data: Path) -> None:
    p = shared_data / "everest_landsat7_exploradores_aster/AST_L1A_00303182012144228_Z_test.tif"
    da = open_raster(p, ["elevation"])
    assert (
        da.dtype == np.float32 and list(da["band"].values) == ["elevation"] and da.rio.crs.to_epsg() == 32718
    )
    with pytest.raises(ValueError, match="1 band"):
        open_raster(p, ["a", "b"])
