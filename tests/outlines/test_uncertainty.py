"""Expert uncertainty: inter-analyst spread on real GLIMS pairs, literature bands, in/out of band."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from pyproj import Geod
from rasterio.features import rasterize
from scipy import ndimage

from glacierlab.errors import ConfigError, InputError, UnknownNameError
from glacierlab.outlines.change import compare_outlines
from glacierlab.outlines.expert import (
    ExpertBand,
    analyst_pairs,
    band_from_pairs,
    fraction_inside,
    judge_against_band,
    literature_band,
)
from glacierlab.outlines.polygons import mask_to_polygons, partition_inventory, split_by_inventory

GEOD = Geod(ellps="WGS84")


def geod_km2(geom: shapely.Geometry) -> float:
    return abs(GEOD.geometry_area_perimeter(geom)[0]) / 1e6


@pytest.fixture(scope="module")
def glims(shared_data: Path) -> gpd.GeoDataFrame:
    return gpd.read_file(shared_data / "hochalmkees_glims_multidate/glims_polygons.shp")


def test_hochalmkees_same_date_pairs(glims: gpd.GeoDataFrame) -> None:
    pairs = analyst_pairs(glims, analysis_col="anlys_id", date_col="src_date", spacing_m=10.0)
    assert len(pairs) == 2  # 2003-08-17 vs 2003-08-24, and the two 2016-08-27 analyses
    assert sorted(pairs["date_a"].dt.year) == [2003, 2016]
    valid = glims.set_geometry(
        shapely.make_valid(glims.geometry.to_numpy(), method="structure", keep_collapsed=False)
    )
    for _, p in pairs.iterrows():
        geod = [
            geod_km2(shapely.union_all(valid[valid["anlys_id"] == k].geometry.to_numpy()))
            for k in (p["analysis_a"], p["analysis_b"])
        ]
        assert [p["area_a_km2"], p["area_b_km2"]] == pytest.approx(geod, rel=0.01)
        assert p["rel_spread"] == pytest.approx(abs(geod[0] - geod[1]) / np.mean(geod), rel=0.02)
    p2003 = pairs[pairs["date_a"].dt.year == 2003].iloc[0]
    assert sorted([p2003["area_a_km2"], p2003["area_b_km2"]]) == pytest.approx([2.33, 2.63], abs=0.01)
    assert 0.10 < p2003["rel_spread"] < 0.14  # the 2003 analysts disagree by about 12 %
    assert (pairs["mean_boundary_distance_m"] > 0).all() and (pairs["iou"] < 1).all()
    assert analyst_pairs(glims, analysis_col="anlys_id", date_col="src_date", max_days_apart=0).shape[0] == 1


def test_band_from_pairs(glims: gpd.GeoDataFrame) -> None:
    pairs = analyst_pairs(glims, analysis_col="anlys_id", date_col="src_date")
    band = band_from_pairs(pairs)
    assert band.clean_rel_area == pytest.approx(pairs["rel_spread"].max())
    assert band.boundary_distance_m == pytest.approx(pairs["mean_boundary_distance_m"].max())
    assert band.debris_rel_area == pytest.approx(0.30)
    assert band_from_pairs(pairs, statistic="mean").clean_rel_area == pytest.approx(
        pairs["rel_spread"].mean()
    )
    with pytest.raises(UnknownNameError, match="median"):
        band_from_pairs(pairs, statistic="median")
    with pytest.raises(InputError, match="no same-date"):
        band_from_pairs(pairs.iloc[:0])


def test_literature_band_interpolates_with_debris() -> None:
    band = literature_band()
    assert band.area_tolerance(np.array([0.0, 0.5, 1.0])).tolist() == pytest.approx([0.05, 0.175, 0.30])
    with pytest.raises(ConfigError):
        ExpertBand(0.3, 0.1)


def synthetic_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "area_a_km2": [10.0, 10.0, 10.0, 2.0],
            "area_b_km2": [10.4, 8.0, 8.0, 0.0],
            "mean_boundary_distance_m": [12.0, 40.0, 40.0, np.nan],
        },
        index=pd.Index(["clean_ok", "clean_off", "debris_ok", "missing"], name="gid"),
    )


def test_judge_against_band_by_class_and_fraction() -> None:
    debris = {"clean_ok": "clean", "clean_off": 0.0, "debris_ok": "debris", "missing": 0.2}
    j = judge_against_band(synthetic_table(), literature_band(), debris=debris)
    assert j["inside_band"].to_dict() == {
        "clean_ok": True,
        "clean_off": False,
        "debris_ok": True,
        "missing": False,
    }
    assert j.loc["clean_off", "area_dev_rel"] == pytest.approx(-0.2)
    assert fraction_inside(j) == pytest.approx(0.5)
    strict = ExpertBand(0.05, 0.30, boundary_distance_m=20.0)
    js = judge_against_band(synthetic_table(), strict, debris=debris)
    assert js["inside_band"].to_dict()["debris_ok"] is False  # area fine, outline too far away
    assert fraction_inside(js, column="inside_area_band") == pytest.approx(0.5)
    with pytest.raises(UnknownNameError, match="debris class"):
        judge_against_band(synthetic_table(), literature_band(), debris="rocky")
    with pytest.raises(InputError, match="no debris"):
        judge_against_band(synthetic_table(), literature_band(), debris={"clean_ok": 0.0})
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        judge_against_band(synthetic_table(), literature_band(), debris=1.5)


def test_everest_mask_inside_band_and_erosion_outside(shared_data: Path) -> None:
    """The RGI mask vs its own outlines is inside the band; eroding it by 2 pixels is not."""
    folder = shared_data / "everest_landsat7_exploradores_aster"
    with rasterio.open(folder / "LE71400412000304SGS00_B4_test.tif") as src:
        transform, shape, crs, bounds = src.transform, (src.height, src.width), src.crs, tuple(src.bounds)
    rgi = (
        gpd.read_file(folder / "15_rgi60_glacier_outlines.gpkg")
        .to_crs(crs)[["RGIId", "geometry"]]
        .clip(bounds)
    )
    rgi = partition_inventory(rgi[rgi.geometry.area > 0.1e6], "RGIId")  # > 0.1 km² in the crop
    mask = rasterize(rgi.geometry, out_shape=shape, transform=transform, dtype="uint8")
    fractions = {}
    for name, m in (("exact", mask), ("eroded", ndimage.binary_erosion(mask, iterations=2))):
        pieces = split_by_inventory(mask_to_polygons(m, transform, crs), rgi, id_col="RGIId", crs=crs)
        table = compare_outlines(
            rgi, pieces.dropna(subset=["RGIId"]), id_col="RGIId", spacing_m=30.0, crs=crs
        )
        fractions[name] = fraction_inside(judge_against_band(table, literature_band(), debris="clean"))
    assert fractions["exact"] == 1.0
    assert fractions["eroded"] < 0.5
