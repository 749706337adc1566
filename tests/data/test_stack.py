"""Stacking regions on one grid (real data) and slope from DEMs in metres."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import xarray as xr
from rasterio.transform import from_origin

from glacierlab.data.rasters import load_raster, open_raster
from glacierlab.data.stack import group, stack_from_arrays, stack_region
from glacierlab.data.terrain import slope_degrees
from glacierlab.data.vectors import load_outlines

pytestmark = [
    pytest.mark.filterwarnings(
        r"ignore:Use `@` matmul instead of `\*` mul operator:PendingDeprecationWarning"
    ),
    pytest.mark.filterwarnings("ignore:angle from rectified to skew grid parameter lost:UserWarning"),
]


@pytest.fixture(scope="module")
def everest() -> xr.Dataset:
    return stack_region("everest", groups=("optical", "dem", "mask"))


def test_everest_stack_layout(everest: xr.Dataset) -> None:
    assert dict(everest.sizes) == {"optical_band": 4, "y": 655, "x": 800, "dem_band": 2}
    assert everest.rio.crs.to_epsg() == 32645 and everest.rio.resolution() == (30.0, -30.0)
    assert list(group(everest, "optical")["band"].values) == ["blue", "green", "red", "nir"]
    assert list(group(everest, "dem")["band"].values) == ["elevation", "slope"]
    assert group(everest, "dem").rio.crs.to_epsg() == 32645
    assert everest["optical"].dtype == np.float32 and everest["dem"].dtype == np.float32
    assert everest["reference"].dtype == np.uint8 and set(np.unique(everest["reference"])) == {0, 1}
    assert "everest_rgi60_outlines" in everest.attrs["sources"] and "CC BY 4.0" in everest.attrs["licences"]
    nir = load_raster("everest_l7_20001030_nir")
    np.testing.assert_array_equal(everest["optical"].sel(optical_band="nir").values, nir.values[0])


def test_everest_glacier_fraction_and_derived_mask(everest: xr.Dataset) -> None:
    ref = everest["reference"].values
    frac = (ref == 1).sum() / (ref != 255).sum()
    assert abs(frac - 0.54) < 0.005  # README: 54 % glacier pixels
    assert everest["reference"].attrs["glacier_fraction"] == pytest.approx(frac)
    assert (ref == everest["mask"].values).mean() > 0.99  # vs DERIVED_everest_rgi60_mask_30m
    nir = everest["optical"].sel(optical_band="nir").values
    assert nir[ref == 1].mean() - nir[ref == 0].mean() > 50  # outlines sit on bright ice/snow (173 vs 110)


def test_everest_dem_mosaic_and_slope(everest: xr.Dataset) -> None:
    elev = everest["dem"].sel(dem_band="elevation").values
    slope = everest["dem"].sel(dem_band="slope").values
    vf = everest["dem"].attrs["valid_fraction"]
    assert (
        vf == pytest.approx(np.isfinite(elev).mean()) and 0.50 < vf < 0.60
    )  # strips cover part of the frame
    assert np.isnan(elev[:, :50]).all()  # west of every strip: kept as NaN, not filled
    assert 4000 < np.nanmin(elev) and np.nanmax(elev) < 9100  # summit 8849 m; strip outliers up to 9031 m
    assert np.nanmin(slope) >= 0 and np.nanmax(slope) <= 90 and 15 < np.nanmedian(slope) < 45
    assert "khumbu_dem_20030507=" in everest["dem"].attrs["shares"]


def test_a_scene_outside_the_grid_is_named_in_the_error(everest: xr.Dataset) -> None:
    from glacierlab.errors import GridError

    with pytest.raises(GridError, match=r"source 'glacierview_g086937e27878n' \(bounds .* does not overlap"):
        stack_region("khumbu", "G086937E27878N", groups=("optical",), like=everest["reference"])


def test_everest_2020_sentinel2_crop() -> None:
    ds = stack_region("everest", "2020-04-07", bbox=(86.82, 27.94, 86.86, 27.98))
    assert ds.rio.resolution() == (10.0, -10.0)
    assert list(ds["optical_band"].values) == ["blue", "green", "red"]
    assert ds["dem"].attrs["sources"].startswith("khumbu_hma_dem_8m")
    assert 0.0 < (ds["reference"].values == 1).mean() < 1.0


def test_aletsch_dem_grid_and_netcdf_reference() -> None:
    ds = stack_region("aletsch")
    assert "optical" not in ds and ds.rio.crs.to_epsg() == 32632 and dict(ds.sizes)["x"] == 199
    area = (ds["reference"].values == 1).sum() * 0.01
    assert abs(area - 82.2) < 0.5  # README: RGI 6.0 mask 82.2 km2


def test_swiss_inventories_agree_on_a_window() -> None:
    bbox = (7.95, 46.40, 8.10, 46.55)
    s16 = stack_region("swiss_alps", "2016", groups=(), bbox=bbox)
    s10 = stack_region("swiss_alps", "2010", groups=(), like=s16["reference"])
    a, b = s16["reference"].values == 1, s10["reference"].values == 1
    assert s16.rio.crs.to_epsg() == 2056 and a.any()
    assert (a & b).sum() / (a | b).sum() > 0.85  # README: IoU 0.88 country-wide


def test_geographic_dem_slope_uses_metres() -> None:
    ds = stack_region("hintereisferner")
    assert ds.rio.crs.to_epsg() == 4326
    slope = ds["dem"].sel(dem_band="slope").values
    assert 10 < np.nanmedian(slope) < 40 and np.nanmax(slope) < 90
    assert (ds["reference"].values == 1).sum() > 0


def _plane(crs: str, transform: rasterio.Affine, shape: tuple[int, int], z: np.ndarray) -> xr.DataArray:
    ny, nx = shape
    da = xr.DataArray(
        z[None].astype(np.float32),
        dims=("band", "y", "x"),
        coords={
            "band": ["elevation"],
            "y": transform.f + transform.e * (np.arange(ny) + 0.5),
            "x": transform.c + transform.a * (np.arange(nx) + 0.5),
        },
    )
    return da.rio.write_crs(crs).rio.write_transform(transform)


def test_slope_of_a_tilted_plane_projected_and_geographic() -> None:
    t = from_origin(500000, 5000000, 30, 30)
    xx, yy = np.meshgrid(np.arange(40) * 30.0, np.arange(30) * 30.0)
    s = slope_degrees(_plane("EPSG:32632", t, (30, 40), xx * np.tan(np.radians(20))))
    np.testing.assert_allclose(s.values, 20, atol=1e-3)
    s = slope_degrees(_plane("EPSG:32632", t, (30, 40), yy * np.tan(np.radians(35))))
    np.testing.assert_allclose(s.values, 35, atol=1e-3)
    # 1 arc-second grid at 46 N: east-west metres per degree ~ 77.5 km
    tg = from_origin(10.0, 46.0, 1 / 3600, 1 / 3600)
    m_lon = 111412.84 * np.cos(np.radians(46.0)) - 93.5 * np.cos(np.radians(138.0))
    xg = np.arange(40) / 3600 * m_lon
    s = slope_degrees(_plane("EPSG:4326", tg, (30, 40), np.tile(xg * np.tan(np.radians(30)), (30, 1))))
    np.testing.assert_allclose(s.values, 30, atol=0.05)


def test_stack_from_user_geotiffs(shared_data: Path) -> None:
    d = shared_data / "everest_landsat7_exploradores_aster"
    opt = open_raster(d / "LE71400412000304SGS00_RGB_test.tif", ["red", "green", "blue"])
    dem = open_raster(shared_data / "khumbu_dems_sentinel2/hma-khumbu.tif", ["elevation"], nodata=0)
    ds = stack_from_arrays(opt, dem, load_outlines("everest_rgi60_outlines"))
    assert dict(ds.sizes) == {"optical_band": 3, "y": 167, "x": 193, "dem_band": 2}
    full = stack_region("everest", bbox=None, groups=())
    sub = full["reference"].sel(x=ds.x, y=ds.y).values
    assert (sub == ds["reference"].values).all()
    assert np.isfinite(ds["dem"].sel(dem_band="slope").values).mean() > 0.5
    with_mask = stack_from_arrays(opt, reference=load_raster("everest_rgi60_mask_30m"))
    assert (with_mask["reference"].values == ds["reference"].values).mean() > 0.99
    assert isinstance(load_outlines("everest_rgi60_outlines_test"), gpd.GeoDataFrame)


@pytest.mark.parametrize(
    ("region", "scene"),
    [
        ("khumbu", "G086917E27925N"),
        ("swiss_alps", "G007581E45956N"),
        ("aletsch", "G008051E46566N"),
        ("hintereisferner", "G010734E46818N"),
        ("chhota_shigri", "G077513E32227N"),
    ],
)
def test_glacierview_toa_clips_stack(region: str, scene: str, shared_data: Path) -> None:
    ds = stack_region(region, scene)
    assert ds.attrs["scene"] == scene and ds.attrs["product_level"] == "toa" and ds.rio.crs.to_epsg() == 4326
    assert list(group(ds, "optical")["band"].values) == ["blue", "green", "red", "nir", "swir1"]
    opt = ds["optical"].values
    assert opt.dtype == np.float32 and -0.1 < np.nanmin(opt) and np.nanmax(opt) < 2.0  # reflectance, not DN
    assert np.isnan(opt).any()  # nodata 0 at the clip edges became NaN
    # thermal rides along as a (y, x) layer in kelvin, outside the model groups
    assert ds["thermal"].dims == ("y", "x") and 200 < float(ds["thermal"].mean()) < 330
    assert ds["thermal"].attrs["units"] == "K" and "thermal" not in ds["optical_band"].values
    # NASADEM reprojected onto the clip grid, slope in degrees from the geographic grid
    elev = ds["dem"].sel(dem_band="elevation").values
    assert ds["dem"].attrs["valid_fraction"] > 0.9 and 1000 < np.nanmedian(elev) < 7000
    assert 5 < np.nanmedian(ds["dem"].sel(dem_band="slope").values) < 50
    # our rasterised reference agrees with the README's derived cross-check masks
    mask = next((shared_data / "glacierview_landsat_toa_clips/DERIVED_masks").glob(f"{scene}_*.tif"))
    derived = open_raster(mask).values[0]
    ok = ds["reference"].values != 255
    assert derived.shape == ok.shape and (derived[ok] == ds["reference"].values[ok]).mean() > 0.97
