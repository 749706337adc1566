"""Outline loaders: catalog vector sources -> GeoDataFrames with repaired geometries and provenance."""

from __future__ import annotations

import datetime as dt
import logging
import os

import geopandas as gpd
import pandas as pd
import shapely
from pyproj import CRS

from glacierlab.data.catalog import Catalog, Source, load_catalog
from glacierlab.data.geometry import repair_geometries
from glacierlab.errors import (
    CatalogError,
    CorruptFileError,
    GlacierLabError,
    GridError,
    InputError,
    NoDataError,
    unknown_name,
)
from glacierlab.geo import BBox, check_lonlat, lonlat_problem

log = logging.getLogger(__name__)


def read_outlines(
    path: str | os.PathLike[str], *, crs: int | str | None = None, layer: str | None = None
) -> gpd.GeoDataFrame:
    """Read polygon outlines from any OGR vector file, repairing invalid geometries.

    Args:
        path: Shapefile (companions next to it), GeoPackage, GeoJSON...
        crs: CRS to assign when the file has none. If the file's CRS is compound (e.g. CH1903+/LV95
            + LN02 heights) and its horizontal part equals ``crs``, ``crs`` is used. It also replaces a
            lon/lat CRS that the coordinates cannot be in (a GeoJSON written in UTM metres: GeoJSON
            readers assume EPSG:4326), with a warning.
        layer: Layer to read from a multi-layer file (GeoPackage); required when there are several.

    Returns:
        GeoDataFrame with ``attrs`` ``n_repaired``, ``n_dropped``, ``path``.

    Raises:
        CorruptFileError: The file cannot be read as vector data.
        UnknownNameError: ``layer`` is not a layer of the file (the layers are listed).
        InputError: Several layers and no ``layer``; or geometries that are not polygons (points,
            lines: they would be burned in as glacier).
        GridError: No CRS in the file and none given, or coordinates outside the declared lon/lat range.
    """
    path = os.fspath(path)
    try:
        layers = [str(name) for name in gpd.list_layers(path)["name"]]
        if layer is not None and layer not in layers:
            raise unknown_name(f"layer of {path}", layer, layers, "Pass layer= one of these names.")
        if layer is None and len(layers) > 1:
            raise InputError(
                f"vector file {path} has {len(layers)} layers ({', '.join(layers)}); pass layer='<name>' "
                "to choose the one holding the glacier outlines."
            )
        gdf = gpd.read_file(path, layer=layer)
    except GlacierLabError:
        raise
    except Exception as exc:  # noqa: BLE001 - pyogrio raises several DataSourceError/OSError types
        raise CorruptFileError(
            f"cannot read vector file {path}: {exc}. For shapefiles the .shx/.dbf/.prj must "
            "lie next to the .shp; delete the files and fetch them again."
        ) from exc
    if gdf.crs is None:
        if crs is None:
            raise GridError(f"vector file {path} has no CRS (missing .prj?); pass crs= or add a .prj file.")
        gdf = gdf.set_crs(crs)
    elif crs is not None and gdf.crs.is_compound:
        horizontal = gdf.crs.sub_crs_list[0]
        if horizontal.equals(CRS.from_user_input(crs)):
            gdf = gdf.set_crs(crs, allow_override=True)
    elif crs is not None and gdf.crs.is_geographic and lonlat_problem(gdf):
        log.warning("%s: coordinates are not lon/lat degrees; using crs=%s as given", path, crs)
        gdf = gdf.set_crs(crs, allow_override=True)
    check_lonlat(gdf, f"vector file {path}")
    try:
        out = repair_geometries(gdf)
    except InputError as exc:
        raise InputError(f"vector file {path}: {exc}") from exc
    out.attrs["path"] = path
    return out


def _parse_date(value: object) -> dt.date | None:
    ts = pd.to_datetime(value, errors="coerce")
    return None if pd.isna(ts) else ts.date()


def load_outlines(
    source_id: str | Source,
    *,
    date: str | dt.date | None = None,
    bbox: BBox | None = None,
    catalog: Catalog | None = None,
    layer: str | None = None,
) -> gpd.GeoDataFrame:
    """Load a catalog outline source as a GeoDataFrame (invalid geometries repaired).

    Args:
        source_id: Catalog source id (kind ``vector``) or a :class:`Source`.
        date: For multi-date sources (``date_attribute``), keep the features of this date:
            ``"YYYY"`` matches the year, ``"YYYY-MM"`` the month, ``"YYYY-MM-DD"`` the day.
            Ignored for single-date sources.
        bbox: Keep features intersecting ``(lon_min, lat_min, lon_max, lat_max)`` (EPSG:4326).
        catalog: Catalog to use (default :func:`load_catalog`).
        layer: Layer of a multi-layer file (see :func:`read_outlines`).

    Returns:
        GeoDataFrame in the file's CRS. Multi-date sources get a ``date`` column (datetime.date).
        ``attrs``: source, licence, citation, date, origin, n_repaired, n_dropped.

    Raises:
        UnknownNameError: Unknown source id.
        CatalogError: The source is not a vector source.
        NoDataError: No feature has the requested date.
    """
    from glacierlab.data.download import fetch

    cat = catalog or load_catalog()
    src = cat.source(source_id)
    if src.kind != "vector":
        raise CatalogError(
            f"source {src.id!r} is a {src.kind!r}, not vector outlines; use glacierlab.rasters."
        )
    gdf = read_outlines(fetch(src), crs=src.crs, layer=layer)
    attrs = dict(gdf.attrs)
    if src.date_attribute:
        if src.date_attribute not in gdf.columns:
            raise CatalogError(
                f"source {src.id!r}: date_attribute {src.date_attribute!r} is not a column; "
                f"columns: {', '.join(map(str, gdf.columns))}"
            )
        gdf["date"] = [_parse_date(v) for v in gdf[src.date_attribute]]
        if date is not None:
            want = date.isoformat() if isinstance(date, dt.date) else str(date)
            match = [d is not None and d.isoformat().startswith(want) for d in gdf["date"]]
            if not any(match):
                valid = sorted({d.isoformat() for d in gdf["date"] if d is not None})
                raise NoDataError(
                    f"source {src.id!r} has no feature dated {want!r}; dates: {', '.join(valid)}"
                )
            gdf = gdf[match].copy()
    if bbox is not None:
        box = gpd.GeoSeries([shapely.box(*BBox.parse(bbox))], crs=4326).to_crs(gdf.crs).iloc[0]
        gdf = gdf[gdf.intersects(box)].copy()
    gdf.attrs = {**attrs, **src.provenance_attrs()}
    if date is not None and src.date_attribute:
        gdf.attrs["date"] = str(date)
    return gdf


#: Glacier id columns of the inventories glacierlab reads (RGI 6 / 7, GLIMS, SGI), in lookup order.
GLACIER_ID_COLUMNS = ("RGIId", "rgi_id", "GLIMSId", "glims_id", "glac_id", "SGI", "sgi-id")
#: Glacier id column -> the kind of id, in words (error messages).
ID_KINDS = {
    "RGIId": "RGI 6 ids",
    "rgi_id": "RGI 7 ids",
    "GLIMSId": "GLIMS ids",
    "glims_id": "GLIMS ids",
    "glac_id": "GLIMS ids",
    "SGI": "Swiss Glacier Inventory ids",
    "sgi-id": "Swiss Glacier Inventory ids",
}


def find_glacier(
    glacier_id: str, *, source: str | None = None, region: str | None = None, catalog: Catalog | None = None
) -> tuple[str | None, gpd.GeoDataFrame]:
    """Find a glacier by inventory id (RGI 6/7, GLIMS or SGI) in the catalog's outline sources.

    Args:
        glacier_id: e.g. ``"RGI60-15.03733"`` (Khumbu) or ``"G013332E47020N"`` (Hochalmkees, GLIMS).
        source: Only look in this outline source.
        region: Look in this region's outline sources first.
        catalog: Catalog (default :func:`load_catalog`).

    Returns:
        (id of a catalog region whose scenes use the matching source, or None; the matching polygons).

    Raises:
        UnknownNameError: No source holds the id (the closest ids are suggested).
    """
    import difflib

    from glacierlab.errors import UnknownNameError

    cat = catalog or load_catalog()
    want = glacier_id.strip()
    users = {
        sid: rid for rid in reversed(cat.region_ids) for sc in cat.region(rid).scenes for sid in sc.reference
    }
    if source is not None:
        ids = [cat.source(source).id]
    else:
        ids = sorted(
            (s for s in cat.source_ids if cat.source(s).kind == "vector"),
            key=lambda s: (users.get(s) != region, s not in users, "rgi" not in s and "glims" not in s),
        )
    seen: list[str] = []
    known: dict[str, tuple[str, set[str]]] = {}  # kind of id -> (an example, regions)
    for sid in ids:
        gdf = load_outlines(sid, catalog=cat)
        for col in (c for c in GLACIER_ID_COLUMNS if c in gdf.columns):
            values = gdf[col].astype(str)
            hit = gdf[values == want]
            if len(hit):
                return users.get(sid), hit
            seen += values.tolist()
            if sid in users and len(values):
                kind = ID_KINDS.get(col, col)
                known.setdefault(kind, (values.iloc[0], set()))[1].add(users[sid])
    close = difflib.get_close_matches(want, seen, n=3, cutoff=0.6)
    kinds = "; ".join(
        f"{kind} such as {example} ({', '.join(sorted(regions))})" for kind, (example, regions) in known.items()
    )
    raise UnknownNameError(
        f"glacier id {want!r} is not in the glacier outlines of any catalog region"
        + (f"; closest: {', '.join(close)}" if close else "")
        + (f". The catalog regions know {kinds}" if kinds else "")
        + ". Type one of those ids, pick the region from the list, or draw a box."
    )
