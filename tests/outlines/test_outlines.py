"""Outlines: polygonising masks, repair, metric areas, per-glacier split, writing files."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from pyproj import Geod
from rasterio.features import rasterize

from glacierlab.errors import GridError, InputError, OutputExistsError, UnknownNameError
from glacierlab.outlines.polygons import (
    area_km2,
    mask_to_polygons,
    metric_crs,
    partition_inventory,
    repair_geometries,
    split_by_inventory,
    write_outlines,
)

GEOD = Geod(ellps="WGS84")
UTM33 = "EPSG:32633"
T10 = Affine(10.0, 0.0, 400000.0, 0.0, -10.0, 5200000.0)  # 10 m pixels, UTM 33N


def geod_km2(geom: shapely.Geometry) -> float:
    """Ellipsoidal area of a WGS84 geometry (independent of any projection)."""
    return abs(GEOD.geometry_area_perimeter(geom)[0]) / 1e6


def ring_mask() -> np.ndarray:
    """A 20x20 px glacier with a 4x4 px nunatak, plus a separate 1-pixel blob."""
    m = np.zeros((30, 30), dtype=np.uint8)
    m[2:22, 2:22] = 1
    m[8:12, 8:12] = 0
    m[27, 27] = 1
    return m


def test_mask_to_polygons_keeps_holes_areas_and_crs() -> None:
    m = ring_mask()
    gdf = mask_to_polygons(m, T10, UTM33)
    assert gdf.crs == UTM33
    assert len(gdf) == 2
    big = gdf.loc[gdf["area_km2"].idxmax()].geometry
    assert len(big.interiors) == 1
    # Pixel-count area: (400 - 16) px * 100 m² (same UTM zone -> the same numbers)
    assert big.area == pytest.approx((400 - 16) * 100.0)
    assert gdf["area_km2"].sum() == pytest.approx(m.sum() * 100.0 / 1e6, rel=1e-9)


def test_mask_to_polygons_min_area_simplify_and_values() -> None:
    m = ring_mask()
    assert len(mask_to_polygons(m, T10, UTM33, min_area_m2=150.0)) == 1  # the 100 m² blob goes
    m2 = m.copy()
    m2[4:6, 4:6] = 2  # debris-covered pixels: only glacier if asked for
    assert mask_to_polygons(m2, T10, UTM33, glacier_values=(1, 2))["area_km2"].sum() == pytest.approx(
        m.sum() * 1e-4
    )
    assert mask_to_polygons(m2, T10, UTM33)["area_km2"].sum() == pytest.approx((m.sum() - 4) * 1e-4)
    # A staircase edge loses vertices when simplified in map units, and keeps its area roughly.
    stair = np.tril(np.ones((40, 40), dtype=np.uint8))
    raw = mask_to_polygons(stair, T10, UTM33)
    simple = mask_to_polygons(stair, T10, UTM33, simplify_tolerance=15.0)
    n_raw = shapely.get_num_coordinates(raw.geometry.iloc[0])
    assert shapely.get_num_coordinates(simple.geometry.iloc[0]) < n_raw / 5
    assert simple["area_km2"].iloc[0] == pytest.approx(raw["area_km2"].iloc[0], rel=0.03)


def test_mask_to_polygons_connectivity_and_dataarray() -> None:
    import rioxarray  # noqa: F401
    import xarray as xr

    m = np.zeros((5, 5), dtype=bool)
    m[1, 1] = m[2, 2] = True  # diagonal neighbours
    assert len(mask_to_polygons(m, T10, UTM33, connectivity=4)) == 2
    eight = mask_to_polygons(m, T10, UTM33, connectivity=8)
    assert len(eight) == 1 and eight.geometry.is_valid.all()
    da = xr.DataArray(ring_mask(), dims=("y", "x")).rio.write_crs(UTM33).rio.write_transform(T10)
    assert len(mask_to_polygons(da)) == 2


def test_mask_to_polygons_errors() -> None:
    with pytest.raises(InputError, match="2-D"):
        mask_to_polygons(np.zeros((2, 3, 3)), T10, UTM33)
    with pytest.raises(GridError, match="transform and crs"):
        mask_to_polygons(np.zeros((3, 3)), T10, None)
    with pytest.raises(InputError, match="connectivity"):
        mask_to_polygons(np.zeros((3, 3)), T10, UTM33, connectivity=6)
    assert mask_to_polygons(np.zeros((3, 3)), T10, UTM33).empty


def test_bow_tie_is_repaired_and_counted() -> None:
    bow = shapely.Polygon([(0, 0), (100, 100), (100, 0), (0, 100), (0, 0)])
    gdf = gpd.GeoDataFrame({"id": [1, 2]}, geometry=[bow, shapely.box(200, 0, 300, 100)], crs=UTM33)
    assert not gdf.is_valid.all()
    fixed = repair_geometries(gdf)
    assert fixed.attrs["n_repaired"] == 1
    assert fixed.is_valid.all()
    assert fixed.geometry.area.tolist() == pytest.approx([5000.0, 10000.0])
    with pytest.raises(InputError, match="polygons"):
        repair_geometries(gpd.GeoDataFrame(geometry=[shapely.LineString([(0, 0), (1, 1)])], crs=UTM33))


def test_areas_never_in_degrees_and_crs_independent(shared_data: Path) -> None:
    hef = gpd.read_file(shared_data / "oggm_sample_data/hintereisferner/Hintereisferner_RGI6.shp")
    assert hef.crs.is_geographic
    expected = geod_km2(hef.geometry.iloc[0])
    a_wgs = area_km2(hef).iloc[0]
    a_utm = area_km2(hef.to_crs("EPSG:32632")).iloc[0]
    a_mgi = area_km2(hef.to_crs("EPSG:31254")).iloc[0]  # Austrian Gauss-Krüger input, same glacier
    assert a_wgs == pytest.approx(expected, rel=0.01)
    assert a_wgs == pytest.approx(8.03, abs=0.02)
    assert a_utm == pytest.approx(a_wgs, rel=1e-6)
    assert a_mgi == pytest.approx(a_wgs, rel=1e-6)
    assert metric_crs(hef).to_epsg() == 32632
    with pytest.raises(GridError, match="not projected in metres"):
        area_km2(hef, crs="EPSG:4326")
    with pytest.raises(GridError, match="no CRS"):
        area_km2(hef.set_crs(None, allow_override=True))


def test_hochalmkees_analyst_pair_areas(shared_data: Path) -> None:
    glims = gpd.read_file(shared_data / "hochalmkees_glims_multidate/glims_polygons.shp")
    fixed = repair_geometries(glims)
    assert fixed.attrs["n_repaired"] == int((~glims.is_valid).sum()) == 3
    for date, approx in (("2003-08-17", 2.63), ("2003-08-24", 2.33)):
        rows = fixed[fixed["src_date"].str.startswith(date)]
        ours = shapely.area(shapely.union_all(rows.to_crs(metric_crs(rows)).geometry.to_numpy())) / 1e6
        independent = geod_km2(shapely.union_all(rows.geometry.to_numpy()))
        assert ours == pytest.approx(independent, rel=0.01)
        assert ours == pytest.approx(approx, abs=0.01)


def squares_inventory() -> gpd.GeoDataFrame:
    x0, y0 = 400000, 5100000
    boxes = [shapely.box(x0, y0, x0 + 1000, y0 + 1000), shapely.box(x0 + 1000, y0, x0 + 2000, y0 + 1000)]
    return gpd.GeoDataFrame({"gid": ["west", "east"]}, geometry=boxes, crs=UTM33)


def test_split_by_inventory_cuts_at_divides() -> None:
    inv = squares_inventory()
    x0, y0 = 400000, 5100000
    pred = gpd.GeoDataFrame(
        geometry=[
            shapely.box(x0 + 100, y0, x0 + 1900, y0 + 900),  # spans both glaciers
            shapely.box(x0 + 100, y0 - 200, x0 + 1300, y0),  # a tongue beyond both, mostly below "west"
            shapely.box(x0 + 5000, y0, x0 + 5100, y0 + 100),  # far from every glacier
        ],
        crs=UTM33,
    )
    out = split_by_inventory(pred, inv, id_col="gid").set_index("gid", drop=False)
    west = out.loc["west"]
    # inside each square: 900 x 900 m; the tongue shares 900 m of boundary with west, 300 m with east
    assert west["area_km2"] == pytest.approx((900 * 900 + 1200 * 200) / 1e6, rel=1e-6)
    assert out.loc["east", "area_km2"] == pytest.approx(900 * 900 / 1e6, rel=1e-6)
    assert out.attrs["n_unassigned"] == 1
    assert out.attrs["unassigned_km2"] == pytest.approx(0.01)
    whole = split_by_inventory(pred, inv, id_col="gid", split_at_divides=False)
    assert whole.dropna(subset=["gid"])["gid"].nunique() == 1
    with pytest.raises(UnknownNameError, match="gid"):
        split_by_inventory(pred, inv, id_col="RGIId")


def test_partition_inventory_removes_overlaps() -> None:
    inv = gpd.GeoDataFrame(
        {"gid": ["small", "big"]}, geometry=[shapely.box(0, 0, 10, 10), shapely.box(5, 0, 25, 10)], crs=UTM33
    )
    part = partition_inventory(inv, "gid").set_index("gid")
    assert part.geometry.area.to_dict() == pytest.approx({"big": 200.0, "small": 50.0})


def test_everest_mask_split_matches_rgi(shared_data: Path) -> None:
    """Rasterise 7 RGI 6.0 outlines on the Landsat grid, polygonise, split: areas match the inventory."""
    folder = shared_data / "everest_landsat7_exploradores_aster"
    with rasterio.open(folder / "LE71400412000304SGS00_B4.tif") as src:
        transform, shape, crs, bounds = src.transform, (src.height, src.width), src.crs, tuple(src.bounds)
    rgi = (
        gpd.read_file(folder / "15_rgi60_glacier_outlines_test.gpkg").to_crs(crs).clip(bounds)
    )  # grid footprint
    mask = rasterize(rgi.geometry, out_shape=shape, transform=transform, dtype="uint8")
    pred = mask_to_polygons(mask, transform, crs)
    out = split_by_inventory(pred, rgi, id_col="RGIId", crs=crs).set_index("RGIId")
    assert set(out.index) == set(rgi["RGIId"])
    ref = (partition_inventory(rgi, "RGIId").set_index("RGIId").geometry.area / 1e6).sort_index()
    # 30 m pixels: the error is about half a pixel along the perimeter
    tol = (0.5 * 30 * rgi.set_index("RGIId").geometry.length / 1e6).sort_index()
    assert (abs(out["area_km2"].sort_index() - ref) <= tol).all()
    assert out["area_km2"].sum() == pytest.approx(mask.sum() * 900 / 1e6, rel=1e-6)


def test_write_outlines_roundtrip(tmp_path: Path) -> None:
    gdf = mask_to_polygons(ring_mask(), T10, UTM33)
    for name in ("o.gpkg", "o.geojson"):
        path = write_outlines(gdf, tmp_path / name)
        back = gpd.read_file(path)
        assert back.crs == gdf.crs
        assert back.geometry.area.sum() == pytest.approx(gdf.geometry.area.sum())
        with pytest.raises(OutputExistsError):
            write_outlines(gdf, path)
        write_outlines(gdf.iloc[:1], path, overwrite=True)
        assert len(gpd.read_file(path)) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.geojson", "o.gpkg"]
    with pytest.raises(UnknownNameError, match="shp"):
        write_outlines(gdf, tmp_path / "o.shp")
