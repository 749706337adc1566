"""Glacier outlines: mask -> polygons, repair, metric areas, per-glacier split, GeoPackage/GeoJSON output.

All functions are pure over arrays and GeoDataFrames. Areas are always computed in metres: geographic
inputs are reprojected to the local UTM zone (chosen from the centroid of the data's lon/lat bounds with
:func:`glacierlab.geo.utm_epsg`, as ``GeoDataFrame.estimate_utm_crs`` does) unless an explicit metric CRS is
given.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer

from glacierlab.data.geometry import polygonal_part, repair_geometries, require_crs
from glacierlab.errors import GridError, InputError, unknown_name
from glacierlab.files import atomic_path
from glacierlab.geo import rio_transform, utm_epsg

if TYPE_CHECKING:
    import xarray as xr
    from affine import Affine

log = logging.getLogger(__name__)

#: Output formats of :func:`write_outlines`, by file suffix.
DRIVERS = {".gpkg": "GPKG", ".geojson": "GeoJSON", ".json": "GeoJSON"}


def metric_crs(gdf: gpd.GeoDataFrame, crs: Any = None) -> CRS:
    """The CRS in which areas and distances of ``gdf`` are measured.

    Args:
        gdf: Outlines with a CRS.
        crs: An explicit projected CRS in metres (e.g. an equal-area one); None picks the local UTM zone
            from the centroid of ``gdf``'s bounds.

    Returns:
        A projected CRS whose unit is the metre.

    Raises:
        GridError: ``gdf`` has no CRS, is empty (no centroid) while ``crs`` is None, or ``crs`` is not
            projected in metres.
    """
    require_crs(gdf)
    if crs is not None:
        out = CRS.from_user_input(crs)
        unit = out.axis_info[0].unit_name if out.axis_info else ""
        if not out.is_projected or unit not in ("metre", "meter"):
            raise GridError(
                f"CRS {out.to_string()} is not projected in metres; pass a UTM or equal-area CRS."
            )
        return out
    valid = gdf[~gdf.geometry.is_empty & gdf.geometry.notna()]
    if valid.empty:
        raise GridError("cannot choose a UTM zone for empty outlines; pass crs= explicitly.")
    x0, y0, x1, y1 = valid.total_bounds
    if not CRS.from_user_input(valid.crs).is_geographic:
        x0, y0, x1, y1 = Transformer.from_crs(valid.crs, 4326, always_xy=True).transform_bounds(x0, y0, x1, y1)
    return CRS.from_epsg(utm_epsg((x0 + x1) / 2, (y0 + y1) / 2))


def area_km2(gdf: gpd.GeoDataFrame, crs: Any = None) -> pd.Series:
    """Area of every geometry in km², measured in the local UTM zone (or in ``crs``), never in degrees.

    Args:
        gdf: Outlines with a CRS.
        crs: Optional projected CRS in metres (see :func:`metric_crs`).

    Returns:
        Float Series aligned with ``gdf``; 0 for empty geometries. Invalid geometries (a self-crossing
        "bow-tie" ring) are measured after ``make_valid``, not as GEOS's signed sum (0 for a bow-tie).
    """
    if gdf.empty:
        return pd.Series([], index=gdf.index, dtype=float)
    geoms = gdf.geometry.to_crs(metric_crs(gdf, crs))
    invalid = ~geoms.is_valid & geoms.notna()
    if invalid.any():  # a bow-tie's two lobes cancel out: measure what make_valid makes of it
        fixed = shapely.make_valid(geoms[invalid].to_numpy(), method="structure", keep_collapsed=False)
        geoms = geoms.copy()
        geoms[invalid] = fixed
    return geoms.area / 1e6


def mask_to_polygons(
    mask: np.ndarray | xr.DataArray,
    transform: Affine | None = None,
    crs: Any = None,
    *,
    glacier_values: Sequence[int] = (1,),
    simplify_tolerance: float = 0.0,
    min_area_m2: float = 0.0,
    connectivity: int = 4,
) -> gpd.GeoDataFrame:
    """Polygonise a glacier mask with ``rasterio.features.shapes`` (holes such as nunataks are kept).

    Args:
        mask: 2-D array (H, W); pixels whose value is in ``glacier_values`` are glacier, all others (ice-free,
            no data) are not. A boolean mask is read as 0/1. An ``xr.DataArray`` with rioxarray CRS and
            transform may be passed instead of ``transform``/``crs``.
        transform: Affine pixel -> map transform (needed for a numpy mask).
        crs: CRS of the map coordinates (needed for a numpy mask).
        glacier_values: Pixel values counted as glacier, e.g. ``(1, 2)`` for clean + debris-covered ice.
        simplify_tolerance: Douglas-Peucker tolerance in map units (metres for a UTM grid); 0 keeps the
            pixel staircase. Topology is preserved (holes stay inside their shells).
        min_area_m2: Drop polygons smaller than this (m², measured in the local UTM zone), >= 0.
        connectivity: 4 or 8 pixel connectivity.

    Returns:
        One row per connected glacier polygon with columns ``value`` (first glacier value), ``area_km2``
        and the geometry, in the mask's CRS. ``attrs["n_repaired"]`` counts polygons fixed by make_valid.

    Raises:
        InputError: The mask is not 2-D, or a parameter is out of range.
        GridError: No CRS or transform is known.
    """
    from rasterio.features import shapes

    if hasattr(mask, "rio"):
        transform = rio_transform(mask) if transform is None else transform
        crs = mask.rio.crs if crs is None else crs
        mask = np.asarray(cast("xr.DataArray", mask).values)
    arr = np.asarray(mask)
    if arr.ndim != 2:
        raise InputError(f"mask must be 2-D (H, W); got shape {arr.shape}. Select one band/time first.")
    if transform is None or crs is None:
        raise GridError(
            "mask_to_polygons needs the grid's transform and crs (or an xr.DataArray with rio CRS)."
        )
    if connectivity not in (4, 8):
        raise InputError(f"connectivity must be 4 or 8; got {connectivity!r}.")
    if simplify_tolerance < 0 or min_area_m2 < 0:
        raise InputError("simplify_tolerance and min_area_m2 must be >= 0.")
    glacier = np.isin(arr, np.asarray(glacier_values, dtype=arr.dtype)) if arr.dtype != bool else arr
    geoms = [
        shapely.geometry.shape(geom)
        for geom, _ in shapes(
            glacier.astype(np.uint8), mask=glacier, connectivity=connectivity, transform=transform
        )
    ]
    value = int(glacier_values[0]) if arr.dtype != bool else 1
    gdf = gpd.GeoDataFrame({"value": np.full(len(geoms), value, dtype=np.int64)}, geometry=geoms, crs=crs)
    if simplify_tolerance > 0 and len(gdf):
        gdf = gdf.set_geometry(gdf.geometry.simplify(simplify_tolerance, preserve_topology=True))
    gdf = repair_geometries(gdf)
    gdf["area_km2"] = area_km2(gdf) if len(gdf) else np.zeros(0)
    if min_area_m2 > 0:
        gdf = gdf[gdf["area_km2"] * 1e6 >= min_area_m2]
    return gdf.reset_index(drop=True)


def partition_inventory(inventory: gpd.GeoDataFrame, id_col: str) -> gpd.GeoDataFrame:
    """Make inventory polygons non-overlapping: where two overlap, the larger glacier keeps the overlap.

    Args:
        inventory: Glacier polygons with a unique ``id_col`` (RGI, GLIMS...), already repaired.
        id_col: Column of glacier ids.

    Returns:
        ``inventory[[id_col, geometry]]`` with overlaps removed, sorted by decreasing area.
    """
    inv = inventory[[id_col, inventory.geometry.name]].copy()
    inv = inv.iloc[np.argsort(-inv.geometry.area.to_numpy(), kind="stable")].reset_index(drop=True)
    geoms = inv.geometry.values.copy()
    left, right = inv.sindex.query(inv.geometry, predicate="intersects")
    for i in range(len(inv)):
        earlier = right[(left == i) & (right < i)]
        if len(earlier):
            geoms[i] = polygonal_part(shapely.difference(geoms[i], shapely.union_all(geoms[earlier])))
    return inv.set_geometry(gpd.GeoSeries(geoms, crs=inv.crs))


def split_by_inventory(
    predicted: gpd.GeoDataFrame,
    inventory: gpd.GeoDataFrame,
    *,
    id_col: str,
    split_at_divides: bool = True,
    crs: Any = None,
) -> gpd.GeoDataFrame:
    """Split predicted glacier polygons into individual glaciers of an inventory (RGI, GLIMS, SGI).

    Each connected predicted piece gets the id of the inventory glacier it overlaps most. With
    ``split_at_divides`` (default) a piece that spans several inventory glaciers is first cut along the
    inventory outlines (their shared ice divides): the parts inside a glacier take that glacier's id and the
    parts outside every inventory polygon take the id of the overlapped glacier they share the longest
    boundary with. Pieces that overlap no inventory glacier are returned with id NaN.

    Args:
        predicted: Predicted glacier polygons (any CRS).
        inventory: Inventory polygons with ``id_col`` (any CRS; invalid geometries are repaired).
        id_col: Column of glacier ids in ``inventory``.
        split_at_divides: Cut pieces along inventory divides (else whole pieces go to one glacier).
        crs: Metric CRS for the work and the result; None = local UTM zone of the inventory.

    Returns:
        One row per glacier id (dissolved) plus one row per unassigned piece, columns ``id_col``,
        ``area_km2`` and geometry, in the metric CRS. ``attrs``: ``n_repaired`` (both inputs),
        ``n_unassigned`` and ``unassigned_km2``.

    Raises:
        InputError: ``id_col`` is missing from the inventory or the inventory is empty.
        GridError: An input has no CRS.
    """
    if id_col not in inventory.columns:
        raise unknown_name("inventory column", id_col, [str(c) for c in inventory.columns])
    if inventory.empty:
        raise InputError("the inventory is empty; pass at least one glacier polygon to split by.")
    require_crs(predicted, "predicted outlines")
    work_crs = metric_crs(inventory, crs)
    inv = repair_geometries(inventory.to_crs(work_crs))
    pred = repair_geometries(predicted.to_crs(work_crs))
    n_repaired = inv.attrs["n_repaired"] + pred.attrs["n_repaired"]
    inv = partition_inventory(_geometry_named(inv), id_col)
    if pred.empty:
        out = gpd.GeoDataFrame({id_col: [], "area_km2": []}, geometry=[], crs=work_crs)
        out.attrs.update(n_repaired=n_repaired, n_unassigned=0, unassigned_km2=0.0)
        return out
    pieces = gpd.GeoDataFrame(
        {"piece": [0]}, geometry=[shapely.union_all(pred.geometry.values)], crs=work_crs
    ).explode(ignore_index=True)
    pieces["piece"] = np.arange(len(pieces))
    inside = gpd.overlay(pieces, inv, how="intersection", keep_geom_type=True)
    inside["_a"] = inside.geometry.area
    main = inside.sort_values("_a", ascending=False).drop_duplicates("piece").set_index("piece")[id_col]
    parts: list[gpd.GeoDataFrame] = []
    if split_at_divides:
        parts.append(inside[[id_col, "geometry"]])
        rest = gpd.overlay(pieces, inv, how="difference", keep_geom_type=True).explode(ignore_index=True)
        rest[id_col] = _assign_rest(rest, inv, main, id_col)
        parts.append(rest[[id_col, "geometry"]])
    else:
        pieces[id_col] = pieces["piece"].map(main)
        parts.append(pieces[[id_col, "geometry"]])
    allparts = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=work_crs)
    assigned = allparts[allparts[id_col].notna()].dissolve(by=id_col, as_index=False)
    unassigned = allparts[allparts[id_col].isna()]
    out = gpd.GeoDataFrame(pd.concat([assigned, unassigned], ignore_index=True), crs=work_crs)
    out["area_km2"] = out.geometry.area / 1e6
    out.attrs.update(
        n_repaired=n_repaired,
        n_unassigned=len(unassigned),
        unassigned_km2=float(unassigned.geometry.area.sum() / 1e6),
    )
    return out[[id_col, "area_km2", "geometry"]]


def _geometry_named(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``gdf`` with its active geometry column called "geometry" (what overlay/concat expect)."""
    return gdf if gdf.geometry.name == "geometry" else gdf.rename_geometry("geometry")


def _assign_rest(rest: gpd.GeoDataFrame, inv: gpd.GeoDataFrame, main: pd.Series, id_col: str) -> pd.Series:
    """Id for each part of a piece lying outside every inventory polygon.

    A part takes the id of the inventory glacier it shares the longest boundary with; a part that touches
    no glacier takes its piece's main id (NaN for pieces that overlap no glacier at all).
    """
    ids = rest["piece"].map(main)
    if rest.empty:
        return ids
    touch = gpd.GeoDataFrame(
        {id_col: inv[id_col].to_numpy()}, geometry=inv.geometry.buffer(0.01), crs=inv.crs
    )
    i_rest, i_inv = touch.sindex.query(rest.geometry, predicate="intersects")
    if len(i_rest):
        bounds = shapely.boundary(rest.geometry.to_numpy()[i_rest])
        shared = shapely.length(shapely.intersection(bounds, touch.geometry.to_numpy()[i_inv]))
        pairs = pd.DataFrame({"rest": i_rest, "glacier": touch[id_col].to_numpy()[i_inv], "shared": shared})
        pairs = pairs[pairs["shared"] > 0].sort_values("shared", ascending=False).drop_duplicates("rest")
        has_main = ids.iloc[pairs["rest"].to_numpy()].notna().to_numpy()
        pairs = pairs[has_main]
        ids.iloc[pairs["rest"].to_numpy()] = pairs["glacier"].to_numpy()
    return ids


def write_outlines(
    gdf: gpd.GeoDataFrame, path: str | os.PathLike[str], *, overwrite: bool = False, layer: str | None = None
) -> os.PathLike[str]:
    """Write outlines atomically to a GeoPackage (``.gpkg``) or GeoJSON (``.geojson``/``.json``) file.

    The CRS is written as is (GeoJSON in a CRS other than WGS84 carries a ``crs`` member).

    Args:
        gdf: Outlines with a CRS.
        path: Destination; the suffix picks the format.
        overwrite: Replace an existing file (default False raises ``OutputExistsError``).
        layer: GeoPackage layer name (default: the file stem).

    Returns:
        The path written.

    Raises:
        UnknownNameError: The suffix is not one of the supported formats.
        GridError: ``gdf`` has no CRS.
    """
    from pathlib import Path

    p = Path(path)
    driver = DRIVERS.get(p.suffix.lower())
    if driver is None:
        raise unknown_name("outline file suffix", p.suffix, DRIVERS, hint="Use .gpkg or .geojson.")
    require_crs(gdf)
    with atomic_path(p, overwrite=overwrite) as tmp:
        tmp.unlink()  # GDAL creates the file itself; an empty placeholder would be read as corrupt
        kwargs = {"layer": layer or p.stem} if driver == "GPKG" else {}
        gdf.to_file(tmp, driver=driver, **kwargs)
    return p
