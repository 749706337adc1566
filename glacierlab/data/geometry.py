"""Valid polygon geometries: outlines must have a plausible CRS, invalid geometries are repaired.

The one home of the geometry checks every outline reader and outline tool runs first
(:mod:`glacierlab.data.vectors`, :mod:`glacierlab.data.labels`, :mod:`glacierlab.outlines`).
"""

from __future__ import annotations

import logging
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS

from glacierlab.errors import GridError, InputError
from glacierlab.geo import check_lonlat

log = logging.getLogger(__name__)


def require_crs(gdf: gpd.GeoDataFrame, what: str = "outlines") -> CRS:
    """Return the CRS of ``gdf``; raise :class:`GridError` if it has none or cannot be the right one.

    Raises:
        GridError: No CRS, or a lon/lat CRS with coordinates outside [-180, 180] x [-90, 90]
            (see :func:`check_lonlat`).
    """
    if gdf.crs is None:
        raise GridError(
            f"{what} have no CRS; areas and distances need one. Set it with gdf.set_crs('EPSG:xxxx') "
            "(the CRS the coordinates are in) before calling this function."
        )
    check_lonlat(gdf, what)
    return CRS.from_user_input(gdf.crs)


def repair_geometries(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Repair invalid geometries with ``shapely.make_valid`` and keep only their polygonal parts.

    The "structure" method is used (GEOS >= 3.10): a self-intersecting ring such as a bow-tie becomes
    the polygons it encloses, and collapsed parts (lines, points) are dropped. Rows left empty are removed.

    Args:
        gdf: Outlines (Polygon/MultiPolygon; invalid ones allowed).

    Returns:
        A copy with valid (Multi)Polygon geometries. ``attrs["n_repaired"]`` is the number of geometries that
        were invalid, ``attrs["n_dropped"]`` the number of rows dropped because nothing polygonal was left.

    Raises:
        InputError: A geometry is neither polygonal nor a collection with polygonal parts.
    """
    out = gdf.copy()
    geoms = out.geometry.values
    kinds = set(shapely.get_type_id(geoms[~shapely.is_missing(geoms)]).tolist())
    bad = kinds - {3, 6, 7}  # Polygon, MultiPolygon, GeometryCollection
    if bad:
        names = sorted({shapely.GeometryType(k).name for k in bad})
        raise InputError(f"outlines must be polygons; got geometry types {names}. Buffer lines/points first.")
    invalid = ~shapely.is_valid(geoms) & ~shapely.is_missing(geoms)
    n_repaired = int(invalid.sum())
    if n_repaired:
        fixed = shapely.make_valid(geoms[invalid], method="structure", keep_collapsed=False)
        geoms = geoms.copy()
        geoms[invalid] = fixed
        log.info("repaired %d invalid geometries with make_valid", n_repaired)
    geoms = np.array([polygonal_part(g) for g in geoms], dtype=object)
    out = out.set_geometry(gpd.GeoSeries(geoms, index=out.index, crs=out.crs))
    keep = ~out.geometry.is_empty
    out = out[keep].copy()
    out.attrs.update(gdf.attrs)
    out.attrs["n_repaired"] = n_repaired
    out.attrs["n_dropped"] = int((~keep).sum())
    return out


def polygonal_part(geom: Any) -> shapely.Geometry:
    """The polygonal part of ``geom`` as a Polygon/MultiPolygon (empty Polygon when there is none)."""
    if geom is None or shapely.is_empty(geom):
        return shapely.Polygon()
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
    if not parts:
        return shapely.Polygon()
    return shapely.union_all(parts)
