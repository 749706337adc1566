"""Hostile outlines: UTM metres labelled as lon/lat, points and lines, bow-ties, no CRS, several layers."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from adv_helpers import OPTICAL, write_tif

from glacierlab.data.vectors import read_outlines
from glacierlab.errors import CorruptFileError, GridError, InputError, UnknownNameError

SQUARE_UTM = [[490030, 3097970], [490600, 3097970], [490600, 3097400], [490030, 3097400], [490030, 3097970]]


def _geojson(geometry: dict) -> str:
    return json.dumps(
        {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, "geometry": geometry}]}
    )


def _grid(sandbox) -> object:
    from glacierlab.data.rasters import open_raster

    path = write_tif(sandbox.inputs / "grid.tif", np.ones((4, 32, 32), np.float32), names=OPTICAL)
    sandbox.allow()
    return open_raster(path, OPTICAL)


def test_utm_geojson_read_as_lonlat_is_refused(sandbox) -> None:
    path = sandbox.add_input("utm.geojson", _geojson({"type": "Polygon", "coordinates": [SQUARE_UTM]}))
    with pytest.raises(GridError, match=r"utm\.geojson are in the lon/lat CRS .* not degrees.*pass crs=") as err:
        read_outlines(path)
    assert "490030" in str(err.value)


def test_utm_geojson_with_explicit_crs(sandbox, caplog: pytest.LogCaptureFixture) -> None:
    path = sandbox.add_input("utm.geojson", _geojson({"type": "Polygon", "coordinates": [SQUARE_UTM]}))
    with caplog.at_level(logging.WARNING, logger="glacierlab.data.vectors"):
        gdf = read_outlines(path, crs=32645)
    assert gdf.crs.to_epsg() == 32645
    assert gdf.geometry.area.iloc[0] == pytest.approx(570 * 570)
    assert any("not lon/lat degrees" in r.getMessage() for r in caplog.records)


def test_utm_coordinates_labelled_lonlat_in_memory(sandbox) -> None:
    from glacierlab.outlines.polygons import area_km2

    gdf = gpd.GeoDataFrame(geometry=[shapely.Polygon(SQUARE_UTM)], crs=4326)
    with pytest.raises(GridError, match="look like projected metres"):
        area_km2(gdf)


@pytest.mark.parametrize(
    ("geometry", "kind"),
    [
        ({"type": "Point", "coordinates": [86.8, 28.0]}, "POINT"),
        ({"type": "LineString", "coordinates": [[86.8, 28.0], [86.9, 28.1]]}, "LINESTRING"),
        ({"type": "MultiPoint", "coordinates": [[86.8, 28.0], [86.9, 28.1]]}, "MULTIPOINT"),
    ],
)
def test_points_and_lines_are_not_outlines(sandbox, geometry: dict, kind: str) -> None:
    path = sandbox.add_input("ref.geojson", _geojson(geometry))
    with pytest.raises(InputError, match=rf"ref\.geojson: outlines must be polygons; got geometry types \['{kind}'\]"):
        read_outlines(path)


def test_lines_never_burned_into_a_reference(sandbox) -> None:
    from glacierlab.data.stack import stack_from_arrays

    grid = _grid(sandbox)
    line = gpd.GeoDataFrame(geometry=[shapely.LineString(SQUARE_UTM)], crs=32645)
    with pytest.raises(InputError, match="Points and lines have no area to burn in"):
        stack_from_arrays(optical=grid, reference=line)


def test_bow_tie_area_and_mask_are_not_zero(sandbox) -> None:
    from glacierlab.data.labels import rasterize_outlines
    from glacierlab.outlines.polygons import area_km2

    # a self-crossing ring: two 300 m x 300 m triangles meeting at the centre
    x0, y0 = 490000, 3098000
    bow = shapely.Polygon([(x0, y0), (x0 + 600, y0 - 600), (x0 + 600, y0), (x0, y0 - 600), (x0, y0)])
    assert not bow.is_valid and bow.area == 0  # what GEOS reports without repair
    gdf = gpd.GeoDataFrame(geometry=[bow], crs=32645)
    assert area_km2(gdf).iloc[0] == pytest.approx(2 * 0.5 * 600 * 300 / 1e6)
    ref = rasterize_outlines(gdf, _grid(sandbox).isel(band=0, drop=True))
    assert int((ref.values == 1).sum()) > 100  # 180000 m² / 900 m² per pixel = 200 pixels


def test_shapefile_without_prj(sandbox) -> None:
    gdf = gpd.GeoDataFrame(geometry=[shapely.Polygon(SQUARE_UTM)], crs=32645)
    shp = sandbox.inputs / "noprj.shp"
    gdf.to_file(shp)
    shp.with_suffix(".prj").unlink()
    sandbox.allow()
    with pytest.raises(GridError, match=r"noprj\.shp has no CRS \(missing \.prj\?\); pass crs="):
        read_outlines(shp)


def test_geodataframe_without_crs_as_reference(sandbox) -> None:
    from glacierlab.data.stack import stack_from_arrays

    grid = _grid(sandbox)
    with pytest.raises(GridError, match="have no CRS"):
        stack_from_arrays(optical=grid, reference=gpd.GeoDataFrame(geometry=[shapely.Polygon(SQUARE_UTM)]))


def test_two_layer_geopackage(sandbox) -> None:
    path = sandbox.inputs / "two.gpkg"
    glaciers = gpd.GeoDataFrame({"name": ["g"]}, geometry=[shapely.Polygon(SQUARE_UTM)], crs=32645)
    points = gpd.GeoDataFrame({"name": ["p"]}, geometry=[shapely.Point(490100, 3097900)], crs=32645)
    glaciers.to_file(path, layer="glaciers")
    points.to_file(path, layer="stakes")
    sandbox.allow()
    with pytest.raises(InputError, match=r"two\.gpkg has 2 layers \(glaciers, stakes\); pass layer="):
        read_outlines(path)
    assert read_outlines(path, layer="glaciers")["name"].tolist() == ["g"]
    with pytest.raises(UnknownNameError, match=r"valid layers of .*two\.gpkg: glaciers, stakes"):
        read_outlines(path, layer="glacier")


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("bad.gpkg", bytes(range(256)) * 4),
        ("empty.geojson", b""),
        ("cut.geojson", b'{"type": "FeatureCollection", "features": ['),
    ],
)
def test_corrupt_vector_files(sandbox, name: str, data: bytes) -> None:
    path = sandbox.add_input(name, data)
    with pytest.raises(CorruptFileError, match=rf"cannot read vector file .*{name}"):
        read_outlines(path)


def test_outlines_outside_the_grid(sandbox) -> None:
    from glacierlab.data.labels import rasterize_outlines

    far = gpd.GeoDataFrame(geometry=[shapely.box(10.0, 46.0, 10.1, 46.1)], crs=4326)
    far.attrs["source"] = "alps_outlines"
    with pytest.raises(GridError, match="'alps_outlines'.* do not overlap the grid"):
        rasterize_outlines(far, _grid(sandbox).isel(band=0, drop=True))


def test_outlines_keep_the_path(sandbox) -> None:
    """Sanity: a valid file still reads, with the bow-tie repaired and counted."""
    x0, y0 = 490000, 3098000
    ring = [[x0, y0], [x0 + 600, y0 - 600], [x0 + 600, y0], [x0, y0 - 600], [x0, y0]]
    path = sandbox.inputs / "ok.gpkg"
    gpd.GeoDataFrame(geometry=[shapely.Polygon(ring)], crs=32645).to_file(path)
    sandbox.allow()
    gdf = read_outlines(Path(path))
    assert gdf.attrs["n_repaired"] == 1 and gdf.attrs["path"] == str(path)
    assert gdf.geometry.area.iloc[0] == pytest.approx(180000)
