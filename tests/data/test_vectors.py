"""Outline loaders on the real files: repaired geometries, CRS, multi-date features."""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import pytest
from shapely.geometry import LineString, Polygon

from glacierlab.data.geometry import repair_geometries
from glacierlab.data.vectors import load_outlines
from glacierlab.errors import InputError, NoDataError

# Third-party noise when tests call rioxarray directly (the library wraps its own calls); the lead is
# asked to add the same filters to pyproject.toml.
pytestmark = [
    pytest.mark.filterwarnings(
        r"ignore:Use `@` matmul instead of `\*` mul operator:PendingDeprecationWarning"
    ),
    pytest.mark.filterwarnings("ignore:angle from rectified to skew grid parameter lost:UserWarning"),
]


def test_everest_rgi_outlines() -> None:
    gdf = load_outlines("everest_rgi60_outlines")
    assert len(gdf) == 86 and gdf.crs.to_epsg() == 4326 and gdf.attrs["n_repaired"] == 0
    assert abs(gdf.to_crs(32645).area.sum() / 1e6 - 365.5) < 1.0
    assert gdf["BgnDate"].str[:4].value_counts().to_dict() == {"2010": 53, "2002": 23, "2000": 10}
    assert gdf.attrs["source"] == "everest_rgi60_outlines" and "CC BY 4.0" in gdf.attrs["licence"]


def test_invalid_geometries_are_repaired() -> None:
    gdf = load_outlines("exploradores_rgi60_outlines")
    assert len(gdf) == 47 and gdf.attrs["n_repaired"] == 18 and gdf.attrs["n_dropped"] == 0
    assert gdf.is_valid.all() and set(gdf.geom_type) <= {"Polygon", "MultiPolygon"}
    assert abs(gdf.to_crs(32718).area.sum() / 1e6 - 1199) < 15


def test_repair_keeps_polygonal_parts_only() -> None:
    bowtie = Polygon([(0, 0), (2, 2), (2, 0), (0, 2)])
    spike = Polygon([(0, 0), (1, 0), (1, 1), (0, 1), (0, 0), (0, 5), (0, 0)])  # square + zero-width spike
    gdf = gpd.GeoDataFrame(geometry=[bowtie, spike, Polygon([(0, 0), (1, 0), (1, 1)])], crs=3857)
    out = repair_geometries(gdf)
    assert out.attrs["n_repaired"] == 2 and out.is_valid.all()
    assert set(out.geom_type) <= {"Polygon", "MultiPolygon"}
    assert out.area.round(6).tolist() == [2.0, 1.0, 0.5]
    collapsed = gpd.GeoDataFrame(geometry=[Polygon([(0, 0), (1, 1), (0, 0)])], crs=3857)
    assert len(repair_geometries(collapsed)) == 0 and repair_geometries(collapsed).attrs["n_dropped"] == 1
    lines = gpd.GeoDataFrame(geometry=[LineString([(0, 0), (1, 1)])], crs=3857)
    with pytest.raises(InputError, match="outlines must be polygons"):
        repair_geometries(lines)


def test_hochalmkees_feature_dates_and_areas() -> None:
    gdf = load_outlines("hochalmkees_glims_outlines")
    assert len(gdf) == 16 and gdf.attrs["n_repaired"] == 3 and gdf.is_valid.all()
    assert sorted({d.year for d in gdf["date"]}) == [1850, 1969, 1998, 1999, 2003, 2011, 2012, 2013, 2016]
    areas = gdf.to_crs(32633).dissolve("anlys_id").area / 1e6
    assert len(areas) == 11
    first = load_outlines("hochalmkees_glims_outlines", date="1850")
    assert abs(first.to_crs(32633).area.sum() / 1e6 - 4.69) < 0.01
    pair = load_outlines("hochalmkees_glims_outlines", date="2003")
    assert sorted(d.isoformat() for d in pair["date"]) == ["2003-08-17", "2003-08-24"]  # two analysts
    day = load_outlines("hochalmkees_glims_outlines", date=dt.date(2003, 8, 24))
    assert abs(day.to_crs(32633).area.sum() / 1e6 - 2.33) < 0.01
    with pytest.raises(NoDataError, match="1850-01-01"):
        load_outlines("hochalmkees_glims_outlines", date="1900")


def test_sgi2010_compound_crs_becomes_lv95() -> None:
    gdf = load_outlines("sgi2010_outlines", bbox=(7.95, 46.40, 8.10, 46.55))
    assert gdf.crs.to_epsg() == 2056 and 0 < len(gdf) < 1999
    assert (gdf["SGI"].str.startswith("B36")).any()  # the Great Aletsch glacier system
