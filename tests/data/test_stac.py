"""STAC search, filtering, masking, compositing, DEM, caching and errors, offline against a local API.

``tests/data/stac/make_data.py`` writes STAC items whose assets are real Everest Landsat bands and Khumbu
DEM strips (plus generated QA/SCL rasters) and serves them on 127.0.0.1; nothing touches the internet.
"""

from __future__ import annotations

import importlib.util
import socket
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rioxarray
import xarray as xr
from rasterio.enums import Resampling
from rasterio.warp import transform_bounds

from glacierlab.data import stac, stac_search
from glacierlab.data.catalog import StacEndpoint, load_catalog
from glacierlab.data.stac_cache import cached_asset
from glacierlab.data.stac_items import bbox_geobox
from glacierlab.data.stack import group
from glacierlab.errors import ConfigError, InputError, NoDataError, StacError, UnknownNameError
from glacierlab.geo import utm_epsg

MAKE_DATA = Path(__file__).parent / "stac" / "make_data.py"
WINDOW = "2000-07-01/2000-12-31"
# inside the real _test crop (489340-495130 E, 3093560-3098570 N, EPSG:32645)
BOX = transform_bounds("EPSG:32645", "EPSG:4326", 490000, 3094500, 494000, 3097500)


def _module() -> Any:
    spec = importlib.util.spec_from_file_location("stac_make_data", MAKE_DATA)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def api(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    mod = _module()
    root = tmp_path_factory.mktemp("stac_api")
    server = mod.serve(root, shared_data)
    server.endpoint = StacEndpoint.model_validate(mod.write(shared_data, root, server.base_url))
    server.mod, server.files, server.shared_data = mod, root / "files", shared_data
    yield server
    server.shutdown()
    server.server_close()


def _on_grid(path: Path, like: xr.DataArray) -> np.ndarray:
    """A GeoTIFF's first band on ``like``'s grid by nearest neighbour (independent of odc-stac)."""
    src = rioxarray.open_rasterio(path).isel(band=0, drop=True).astype(np.float64)
    return src.rio.reproject_match(like, resampling=Resampling.nearest, nodata=np.nan).values


def _scenes(api: Any, **kw: Any) -> list[stac_search.StacScene]:
    kw = {"endpoint": api.endpoint, "collections": ["landsat-like"], "max_cloud": 60, **kw}
    return stac.search_scenes(BOX, WINDOW, **kw)


def test_search_filters_and_ranks_by_ablation_season(api: Any) -> None:
    assert [s.id for s in _scenes(api)] == ["LT_A", "LT_B"]  # C too cloudy, D outside box, E outside window
    assert [s.id for s in _scenes(api, season="ignore")] == ["LT_B", "LT_A"]  # by cloud cover only
    assert [s.id for s in _scenes(api, season="only")] == ["LT_A"]
    assert [s.id for s in _scenes(api, max_cloud=100)] == ["LT_A", "LT_C", "LT_B"]
    assert stac_search.ablation_months(27.9) == (7, 8, 9) and stac_search.ablation_months(-46.6) == (1, 2, 3)
    with pytest.raises(NoDataError, match="max_cloud=1"):
        _scenes(api, max_cloud=1)


def test_best_scene_masks_qa_clouds_and_scales_to_reflectance(api: Any) -> None:
    grid = bbox_geobox(BOX, 10.0)
    out = stac.load_optical(_scenes(api), grid, mode="best", resampling="nearest")
    assert list(out["band"].values) == ["blue", "green", "red", "nir"] and out.attrs["items"] == "LT_A"
    assert out.rio.crs.to_epsg() == 32645 and out.rio.resolution() == (10.0, -10.0)
    red = _on_grid(api.files / "A_red.tif", out)
    qa = _on_grid(api.files / "A_qa.tif", out)
    bad = ~np.isfinite(qa) | ((np.nan_to_num(qa, nan=1).astype(int) & 0b11111) != 0)
    assert bad.any() and (~bad).any()
    got = out.sel(band="red").values
    np.testing.assert_array_equal(np.isnan(got), bad)  # clouds, shadow and fill masked; snow bit kept
    np.testing.assert_allclose(got[~bad], red[~bad] / 255, rtol=1e-6)


def test_composite_fills_cloudy_pixels_from_the_next_scene(api: Any) -> None:
    grid = bbox_geobox(BOX, 10.0)
    out = stac.load_optical(_scenes(api), grid, mode="composite", resampling="nearest")
    assert out.attrs["items"] == "LT_A,LT_B"
    ok = {}
    nir = {"A": api.shared_data / "everest_landsat7_exploradores_aster/LE71400412000304SGS00_B4_test.tif",
           "B": api.files / "B_nir.tif"}
    for k in "AB":
        qa = _on_grid(api.files / f"{k}_qa.tif", out)
        ok[k] = np.isfinite(qa) & ((np.nan_to_num(qa, nan=1).astype(int) & 0b11111) == 0)
    expected = np.where(ok["A"], _on_grid(nir["A"], out), np.where(ok["B"], _on_grid(nir["B"], out), np.nan))
    got = out.sel(band="nir").values
    assert (ok["B"] & ~ok["A"]).sum() > 100 and (~ok["A"] & ~ok["B"]).sum() > 100  # both cases occur
    np.testing.assert_allclose(got, expected / 255, rtol=1e-6)  # NaN where both scenes are cloudy


def test_scl_mask_keeps_snow_and_item_raster_scale_wins(api: Any) -> None:
    grid = bbox_geobox(BOX, 30.0)
    scenes = stac.search_scenes(BOX, WINDOW, endpoint=api.endpoint, collections=["s2-like"])
    out = stac.load_optical(scenes, grid, resampling="nearest")
    scl = _on_grid(api.files / "S_scl.tif", out)
    blue = _on_grid(api.files / "A_blue.tif", out)
    got = out.sel(band="blue").values
    for cls, valid in ((11, True), (5, True), (9, False), (3, False)):
        assert (scl == cls).any() and np.isfinite(got[scl == cls]).all() == valid, cls
    keep = np.isin(scl, [5, 11])
    np.testing.assert_allclose(got[keep], blue[keep] * 0.5 / 255, rtol=1e-6)  # item scale 0.5/255


def test_stack_bbox_has_the_stack_region_format(api: Any) -> None:
    ds = stac.stack_bbox(BOX, WINDOW, endpoint=api.endpoint, collections=["landsat-like"], max_cloud=60,
                         dem_collection="dem-like", mode="composite", reference="everest_rgi60_outlines_test",
                         resolution=30.0)
    assert ds["optical"].dims == ("optical_band", "y", "x") and ds["optical"].dtype == np.float32
    assert list(ds["dem_band"].values) == ["elevation", "slope"] and ds["reference"].dtype == np.uint8
    assert group(ds, "optical").dims == ("band", "y", "x") and ds.rio.crs.to_epsg() == 32645
    ref = ds["reference"].values
    assert set(np.unique(ref)) == {0, 1, 255}
    np.testing.assert_array_equal(ref == 255, np.isnan(ds["optical"].values).all(axis=0))
    assert ds.attrs["items"] == "LT_A,LT_B" and ds.attrs["date"] == "2000-08-20/2000-10-30"
    assert ds.attrs["sources"] == "everest_rgi60_outlines_test" and "RGI" in ds.attrs["citations"]
    slope = ds["dem"].sel(dem_band="slope").values
    assert np.nanmin(slope) >= 0 and np.nanmax(slope) <= 90 and np.isfinite(slope).mean() > 0.5


def test_dem_mosaic_matches_the_strips(api: Any) -> None:
    from glacierlab.data.mosaic import mosaic_on_grid
    from glacierlab.data.rasters import open_raster

    grid = bbox_geobox(BOX, 32.0)
    elev = stac.load_dem(BOX, grid, endpoint=api.endpoint, collection="dem-like")
    strips = sorted((api.shared_data / "khumbu_dems_sentinel2").glob("*DEM_32m_trans.tif"))
    ref, _ = mosaic_on_grid([open_raster(p, ["elevation"]) for p in strips], elev)
    both = np.isfinite(elev.values) & np.isfinite(ref.values)
    assert both.mean() > 0.9 and np.isfinite(elev.values).sum() == np.isfinite(ref.values).sum()
    assert np.median(np.abs(elev.values[both] - ref.values[both])) < 1.0  # metres; both bilinear


def test_window_cache_and_search_cache_serve_offline(api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    grid = bbox_geobox(BOX, 30.0)
    first = stac.load_optical(_scenes(api), grid, mode="composite").values
    monkeypatch.setenv("GLACIERLAB_OFFLINE", "1")
    again = stac.load_optical(_scenes(api), grid, mode="composite").values  # search + windows from cache
    np.testing.assert_array_equal(first, again)
    with pytest.raises(StacError, match="GLACIERLAB_OFFLINE"):
        stac.load_optical(_scenes(api), bbox_geobox(BOX, 60.0))  # another grid is not cached


def test_asset_cache_downloads_once_whatever_the_signature(api: Any) -> None:
    href = f"{api.base_url}/files/B_red.tif"
    before = api.hits["/files/B_red.tif"]
    paths = {cached_asset(href + "?sig=one"), cached_asset(href + "?sig=two"), cached_asset(href)}
    assert len(paths) == 1 and api.hits["/files/B_red.tif"] == before + 1
    assert Path(paths.pop()).read_bytes() == (api.files / "B_red.tif").read_bytes()
    grid = bbox_geobox(BOX, 30.0)
    a = stac.load_optical(_scenes(api), grid, cache="assets").values
    b = stac.load_optical(_scenes(api), grid, cache="none").values  # lazy HTTP range reads
    np.testing.assert_array_equal(a, b)


def test_unreachable_endpoint_says_which_and_how_to_work_locally(api: Any) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again below: nothing listens there
    dead = api.endpoint.model_copy(update={"id": "dead_mirror", "url": f"http://127.0.0.1:{port}"})
    with pytest.raises(StacError, match=r"dead_mirror.*stack_from_arrays"):
        stac.search_scenes(BOX, WINDOW, endpoint=dead, collections=["landsat-like"])


def test_planetary_computer_signing_needs_its_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "planetary_computer", None)  # as if the optional extra were missing
    with pytest.raises(StacError, match="pip install planetary-computer"):
        stac.search_scenes(BOX, WINDOW, endpoint="planetary_computer")


def test_glacier_id_resolves_to_a_padded_box() -> None:
    x0, y0, x1, y1 = stac.glacier_bbox("RGI2000-v7.0-G-11-03116", source="hef_rgi70_outlines", pad_m=500)
    assert x0 < 10.7518 < x1 and y0 < 46.8023 < y1  # Hintereisferner centre (cenlon, cenlat)
    assert 0.05 < x1 - x0 < 0.3 and 0.02 < y1 - y0 < 0.2
    with pytest.raises(UnknownNameError, match="RGI2000-v7.0-G-11-03116"):
        stac.glacier_bbox("RGI2000-v7.0-G-11-03117", source="hef_rgi70_outlines")


def test_bad_inputs_and_catalog_endpoints(api: Any) -> None:
    with pytest.raises(InputError, match="lon_min"):
        stac.search_scenes((10, 47, 9, 48), WINDOW, endpoint=api.endpoint, collections=["landsat-like"])
    with pytest.raises(ConfigError, match="starts after"):
        stac.search_scenes(BOX, "2001-01-01/2000-01-01", endpoint=api.endpoint, collections=["landsat-like"])
    with pytest.raises(UnknownNameError, match="landsat-like"):
        stac.search_scenes(BOX, WINDOW, endpoint=api.endpoint, collections=["landsat-lik"])
    with pytest.raises(UnknownNameError, match="prefer"):
        _scenes(api, season="summer")
    assert utm_epsg(86.9, 27.98) == 32645 and utm_epsg(-73.5, -46.6) == 32718
    for ep in load_catalog().stac_endpoints:
        for c in ep.collections:
            if c.role == "optical":
                assert sorted(c.bands) == sorted(["blue", "green", "red", "nir", "swir1", "swir2"])
                assert c.mask is not None and 0 < c.scale < 1 and c.licence
