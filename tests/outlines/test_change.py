"""Change: distances on hand-checkable shapes, per-glacier tables, time series and stacks on real data."""

from __future__ import annotations

import math
from pathlib import Path

import geopandas as gpd
import h5py
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from affine import Affine
from rasterio.features import rasterize
from rasterio.windows import from_bounds

from glacierlab.data.geometry import repair_geometries
from glacierlab.errors import InputError
from glacierlab.outlines.change import (
    TABLE_COLUMNS,
    area_time_series,
    boundary_distances,
    change_polygons,
    compare_outlines,
    mask_stack,
    rasterize_stack,
    stack_to_outlines,
)
from glacierlab.outlines.polygons import mask_to_polygons

UTM33 = "EPSG:32633"
X0, Y0 = 400000.0, 5100000.0


def square(x: float, y: float, side: float, gid: str = "g") -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"gid": [gid]}, geometry=[shapely.box(X0 + x, Y0 + y, X0 + x + side, Y0 + y + side)], crs=UTM33
    )


def test_offset_squares_distances_are_analytic() -> None:
    a, b = square(0, 0, 100), square(10, 0, 100)
    t = compare_outlines(a, b, id_col="gid", spacing_m=1.0).loc["g"]
    assert set(TABLE_COLUMNS) <= set(t.index)
    assert t["hausdorff_m"] == pytest.approx(10.0)
    # Along A's boundary the distance to B's is d on one side, min(y, L-y, d) on another and d-x on
    # two short stretches: the mean is 2 L d / 4 L = d / 2, the same from B; so the symmetric mean is 5 m.
    assert t["mean_boundary_distance_m"] == pytest.approx(5.0, abs=0.05)
    assert t["symdiff_distance_m"] == pytest.approx(2 * 100 * 10 / 400)
    assert t["iou"] == pytest.approx(9000 / 11000)
    assert t["change_km2"] == pytest.approx(0.0, abs=1e-12)


def test_nested_squares_distances_are_analytic() -> None:
    outer, inner = square(0, 0, 100), square(10, 10, 80)
    t = compare_outlines(outer, inner, id_col="gid", spacing_m=0.5).loc["g"]
    # From the inner boundary every point is 10 m away. From the outer one: 80 m per side at 10 m and two
    # 10 m corner stretches at sqrt(u² + 10²), whose integral is 5*sqrt(200) + 50*asinh(1).
    corner = 5 * math.sqrt(200) + 50 * math.asinh(1.0)
    mean_outer = (80 * 10 + 2 * corner) / 100
    assert t["mean_boundary_distance_m"] == pytest.approx((mean_outer + 10) / 2, abs=0.02)
    assert t["hausdorff_m"] == pytest.approx(10 * math.sqrt(2))
    assert t["change_rel"] == pytest.approx(6400 / 10000 - 1)


def test_distances_do_not_depend_on_input_crs() -> None:
    a, b = square(0, 0, 500), square(30, -20, 480)
    utm = compare_outlines(a, b, id_col="gid", spacing_m=5.0)
    wgs = compare_outlines(a.to_crs(4326), b.to_crs(4326), id_col="gid", spacing_m=5.0)
    assert utm.attrs["crs"] == wgs.attrs["crs"]
    for col in TABLE_COLUMNS:
        assert wgs[col].iloc[0] == pytest.approx(utm[col].iloc[0], rel=1e-3, abs=0.05)


def test_missing_glacier_and_bad_spacing() -> None:
    a = pd.concat([square(0, 0, 100, "x"), square(500, 0, 100, "y")])
    t = compare_outlines(gpd.GeoDataFrame(a, crs=UTM33), square(0, 0, 100, "x"), id_col="gid")
    assert t.loc["y", "area_b_km2"] == 0 and t.loc["y", "iou"] == 0
    assert np.isnan(t.loc["y", "hausdorff_m"]) and t.loc["x", "iou"] == pytest.approx(1.0)
    with pytest.raises(InputError, match="spacing_m"):
        boundary_distances(shapely.box(0, 0, 1, 1), shapely.box(0, 0, 2, 2), spacing_m=0)


def test_change_polygons_partition_both_dates(shared_data: Path) -> None:
    a, b = square(0, 0, 100), square(10, 0, 100)
    parts = change_polygons(a, b).set_index("change")["area_km2"]
    assert parts.to_dict() == pytest.approx({"gained": 0.001, "lost": 0.001, "stable": 0.009})
    glims = gpd.read_file(shared_data / "hochalmkees_glims_multidate/glims_polygons.shp")
    old, new = (
        glims[glims["src_date"].str.startswith("1969")],
        glims[glims["src_date"].str.startswith("2013")],
    )
    parts = change_polygons(old, new).set_index("change")["area_km2"]
    t = compare_outlines(old, new)
    assert parts["lost"] + parts["stable"] == pytest.approx(t["area_a_km2"].iloc[0], rel=1e-6)
    assert parts["gained"] + parts["stable"] == pytest.approx(t["area_b_km2"].iloc[0], rel=1e-6)
    assert parts["stable"] / (parts.sum()) == pytest.approx(t["iou"].iloc[0], rel=1e-6)


def test_hochalmkees_time_series_and_figure(shared_data: Path, tmp_path: Path) -> None:
    glims = gpd.read_file(shared_data / "hochalmkees_glims_multidate/glims_polygons.shp")
    table = area_time_series(glims, date_col="src_date", analysis_col="anlys_id")
    assert len(table) == 11
    assert table["date"].is_monotonic_increasing
    assert table["date"].dt.year.iloc[0] == 1850 and table["date"].dt.year.iloc[-1] == 2016
    # db_area is GLIMS' own area for each analysis, computed independently of this code.
    db = glims.groupby("anlys_id")["db_area"].first()
    np.testing.assert_allclose(table["area_km2"], db.loc[table["analysis"]].to_numpy(), rtol=0.01)
    assert table["area_km2"].iloc[0] == pytest.approx(4.69, abs=0.01)
    from glacierlab.reports.plot import area_history_figure

    fig = area_history_figure(table, title="Hochalmkees")
    assert len(fig.axes[0].lines[0].get_xdata()) == 11
    fig.savefig(tmp_path / "hochalmkees.png")
    assert (tmp_path / "hochalmkees.png").stat().st_size > 1000


def test_rasterize_stack_matches_vector_areas(shared_data: Path) -> None:
    glims = repair_geometries(gpd.read_file(shared_data / "hochalmkees_glims_multidate/glims_polygons.shp"))
    utm = glims.to_crs(UTM33)
    x0, _, _, y1 = utm.total_bounds
    transform = Affine(10.0, 0, math.floor(x0) - 50, 0, -10.0, math.ceil(y1) + 50)
    dates = {d: g for d, g in utm.groupby(utm["src_date"].str[:4]) if d in ("1850", "1969", "2013")}
    stack = rasterize_stack(dates, transform=transform, shape=(400, 450), crs=UTM33)
    assert stack.dims == ("time", "y", "x") and stack.sizes["time"] == 3
    assert stack.rio.crs == UTM33
    pixel_km2 = stack.sum(dim=("y", "x")).values * 100 / 1e6
    vector = [shapely.union_all(g.geometry.to_numpy()).area / 1e6 for g in dates.values()]
    np.testing.assert_allclose(pixel_km2, vector, rtol=0.02)
    back = stack_to_outlines(stack).groupby("time")["area_km2"].sum().to_numpy()
    np.testing.assert_allclose(back, pixel_km2, rtol=1e-6)


def aletsch_masks(folder: Path) -> tuple[np.ndarray, list[int], Affine]:
    """Ice masks (surf_YYYY - (usurf - thk)) > 1 m, flipped north-up, read with h5py (no netCDF4 needed)."""
    with h5py.File(folder / "igm_aletsch_input_100m.nc") as f:
        bed = f["usurf"][:] - f["thk"][:]
        x, y = f["x"][:], f["y"][:]
    with h5py.File(folder / "igm_aletsch_past_surf_1880_2017_100m.nc") as f:
        years = sorted(int(k.split("_")[1]) for k in f if k.startswith("surf_"))
        masks = np.stack([(f[f"surf_{yr}"][:] - bed) > 1.0 for yr in years])
    assert y[1] > y[0]  # y ascending in the file
    transform = Affine(100.0, 0, x[0] - 50, 0, -100.0, y[-1] + 50)
    return masks[:, ::-1, :].astype(np.uint8), years, transform


def test_aletsch_stack_areas(shared_data: Path) -> None:
    masks, years, transform = aletsch_masks(shared_data / "aletsch_multidate")
    assert years == [1880, 1926, 1957, 1980, 1999, 2009, 2017]
    stack = mask_stack(masks, [f"{y}-09-01" for y in years], transform=transform, crs="EPSG:32632")
    polys = stack_to_outlines(stack, min_area_m2=0)
    areas = polys.groupby("time")["area_km2"].sum().to_numpy()
    np.testing.assert_allclose(areas, masks.sum(axis=(1, 2)) * 0.01, rtol=1e-9)  # 100 m pixels, same UTM zone
    readme = [92.6, 91.4, 88.0, 85.8, 85.8, 85.1, 82.9]
    np.testing.assert_allclose(areas, readme, rtol=0.01)
    assert areas[0] > areas[-1]


def test_sgi2010_vector_vs_sgi2016_raster(shared_data: Path) -> None:
    """Aletsch/Jungfrau subset: SGI2016 raster polygonised vs SGI2010 polygons; pixel and vector IoU agree."""
    folder = shared_data / "swiss_sgi2010_sgi2016"
    bbox = (2638000.0, 1136000.0, 2652000.0, 1156000.0)
    with rasterio.open(folder / "SGI2016_surfacetype_20m_LV95.tif") as src:
        win = from_bounds(*bbox, transform=src.transform).round_offsets().round_lengths()
        arr = src.read(1, window=win)
        transform, crs = src.window_transform(win), src.crs
    sgi16 = mask_to_polygons(arr, transform, crs, glacier_values=(1, 2))
    assert sgi16.crs == crs
    assert sgi16["area_km2"].sum() == pytest.approx(
        (arr > 0).sum() * abs(transform.a * transform.e) / 1e6, rel=0.002
    )
    grid = shapely.box(*rasterio.transform.array_bounds(*arr.shape, transform))
    sgi10 = gpd.read_file(folder / "SGI_2010.shp", bbox=bbox).clip(grid)
    t = compare_outlines(sgi10, sgi16, spacing_m=20.0).iloc[0]
    burned = rasterize(sgi10.geometry, out_shape=arr.shape, transform=transform, dtype="uint8") > 0
    pixel_iou = (burned & (arr > 0)).sum() / (burned | (arr > 0)).sum()
    assert t["iou"] == pytest.approx(pixel_iou, abs=0.01)
    assert 0.8 < t["iou"] < 0.98
    assert t["mean_boundary_distance_m"] > 0
