"""Change between outlines: gained/lost/stable ice, per-glacier metrics, time series and mask stacks.

"A" is the earlier date (or the reference, e.g. an inventory) and "B" the later date (or the model).
All areas are in km² and all distances in metres, measured in one metric CRS (the local UTM zone of A
unless ``crs`` is given), never in degrees.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from glacierlab.data.geometry import repair_geometries, require_crs
from glacierlab.errors import InputError, unknown_name
from glacierlab.outlines.polygons import mask_to_polygons, metric_crs, rio_transform

if TYPE_CHECKING:
    import xarray as xr
    from affine import Affine

#: Columns of :func:`compare_outlines`.
TABLE_COLUMNS = (
    "area_a_km2",
    "area_b_km2",
    "change_km2",
    "change_rel",
    "iou",
    "hausdorff_m",
    "mean_boundary_distance_m",
    "symdiff_distance_m",
)


def _prepare(gdf: gpd.GeoDataFrame, crs: Any, what: str) -> gpd.GeoDataFrame:
    require_crs(gdf, what)
    out = repair_geometries(gdf.to_crs(crs))
    return out if out.geometry.name == "geometry" else out.rename_geometry("geometry")


def _by_id(gdf: gpd.GeoDataFrame, id_col: str | None) -> pd.Series:
    """One (multi)polygon per id (a single id ``"all"`` when ``id_col`` is None)."""
    if id_col is None:
        return pd.Series({"all": shapely.union_all(gdf.geometry.to_numpy())})
    if id_col not in gdf.columns:
        raise unknown_name("id column", id_col, [str(c) for c in gdf.columns])
    return gdf.groupby(id_col, sort=True)["geometry"].agg(lambda s: shapely.union_all(s.to_numpy()))


def boundary_samples(geom: shapely.Geometry, spacing_m: float) -> np.ndarray:
    """Points every ``spacing_m`` metres along every ring of ``geom`` (at least 4 per ring).

    Args:
        geom: A polygonal geometry in a metric CRS.
        spacing_m: Distance between samples along the boundary, > 0.

    Returns:
        Array of shapely Points (empty when ``geom`` is empty).
    """
    rings = shapely.get_parts(shapely.boundary(geom)) if not shapely.is_empty(geom) else []
    points: list[np.ndarray] = []
    for ring in rings:
        xy = shapely.get_coordinates(ring)
        cum = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(xy, axis=0).T))])
        n = max(4, int(np.ceil(cum[-1] / spacing_m)))
        at = np.linspace(0.0, cum[-1], n, endpoint=False)
        seg = np.clip(np.searchsorted(cum, at, side="right") - 1, 0, len(xy) - 2)
        frac = ((at - cum[seg]) / np.where(cum[seg + 1] > cum[seg], cum[seg + 1] - cum[seg], 1.0))[:, None]
        points.append(shapely.points(xy[seg] + frac * (xy[seg + 1] - xy[seg])))
    return np.concatenate(points) if points else np.empty(0, dtype=object)


def _directed(samples: np.ndarray, other: shapely.Geometry) -> np.ndarray:
    """Distance from each sample point to the boundary of ``other`` (nearest segment via an STR-tree)."""
    coords_list = [shapely.get_coordinates(r) for r in shapely.get_parts(shapely.boundary(other))]
    segments = shapely.linestrings(np.concatenate([np.stack([c[:-1], c[1:]], axis=1) for c in coords_list]))
    tree = shapely.STRtree(segments)
    _, dist = tree.query_nearest(samples, return_distance=True, all_matches=False)
    return dist


def boundary_distances(
    a: shapely.Geometry, b: shapely.Geometry, spacing_m: float = 10.0
) -> tuple[float, float]:
    """Hausdorff distance and mean boundary distance between two outlines (metric CRS).

    Points are sampled every ``spacing_m`` along each outline's boundary (rings of holes included) and
    their distance to the other outline's boundary is measured. The mean boundary distance is the symmetric
    average ``(mean(A->B) + mean(B->A)) / 2``; the Hausdorff distance is the largest distance in either
    direction (vertices are added to the samples so corners are not missed).

    Args:
        a: First polygonal geometry.
        b: Second polygonal geometry, same CRS.
        spacing_m: Sampling step along the boundaries in map units (metres), > 0.

    Returns:
        ``(hausdorff_m, mean_boundary_distance_m)``; NaN for both when either geometry is empty.
    """
    if spacing_m <= 0:
        raise InputError(f"spacing_m must be > 0; got {spacing_m!r}.")
    if shapely.is_empty(a) or shapely.is_empty(b):
        return float("nan"), float("nan")
    means, maxima = [], []
    for src, dst in ((a, b), (b, a)):
        d = _directed(boundary_samples(src, spacing_m), dst)
        vertices = shapely.points(shapely.get_coordinates(shapely.boundary(src)))
        means.append(float(d.mean()))
        maxima.append(float(max(d.max(), _directed(vertices, dst).max())))
    return max(maxima), 0.5 * (means[0] + means[1])


def compare_outlines(
    a: gpd.GeoDataFrame,
    b: gpd.GeoDataFrame,
    *,
    id_col: str | None = None,
    spacing_m: float = 10.0,
    crs: Any = None,
) -> pd.DataFrame:
    """Per-glacier change table between outlines A (earlier / reference) and B (later / model).

    Args:
        a: Outlines at date A (or the reference); polygons of one glacier are merged by ``id_col``.
        b: Outlines at date B (or the prediction), any CRS.
        id_col: Glacier id column present in both; None compares the union of all polygons as one glacier.
            Rows whose id is missing (NaN, e.g. unassigned pieces of ``split_by_inventory``) are ignored.
        spacing_m: Boundary sampling step for the distances (m), > 0.
        crs: Metric CRS for all measurements; None = local UTM zone of ``a``.

    Returns:
        DataFrame indexed by glacier id (outer join of both id sets) with :data:`TABLE_COLUMNS`:
        areas (km²), ``change_km2 = B - A``, ``change_rel = (B - A) / A`` (NaN when A is 0),
        ``iou`` in [0, 1], ``hausdorff_m``, ``mean_boundary_distance_m`` (see :func:`boundary_distances`)
        and ``symdiff_distance_m`` = area(A xor B) / mean perimeter (m). ``attrs`` holds ``crs`` and
        ``n_repaired`` (geometries repaired in both inputs).
    """
    work = metric_crs(a if not a.empty else b, crs)
    ga, gb = _prepare(a, work, "outlines A"), _prepare(b, work, "outlines B")
    sa, sb = _by_id(ga, id_col), _by_id(gb, id_col)
    ids = sa.index.union(sb.index)
    empty = shapely.Polygon()
    geo_a = np.array([sa.get(i, empty) for i in ids], dtype=object)
    geo_b = np.array([sb.get(i, empty) for i in ids], dtype=object)
    area_a, area_b = shapely.area(geo_a), shapely.area(geo_b)
    inter = shapely.area(shapely.intersection(geo_a, geo_b))
    union = shapely.area(shapely.union(geo_a, geo_b))
    sym = shapely.area(shapely.symmetric_difference(geo_a, geo_b))
    mean_perim = 0.5 * (shapely.length(geo_a) + shapely.length(geo_b))
    dists = np.array(
        [boundary_distances(x, y, spacing_m) for x, y in zip(geo_a, geo_b, strict=True)]
    ).reshape(-1, 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        table = pd.DataFrame(
            {
                "area_a_km2": area_a / 1e6,
                "area_b_km2": area_b / 1e6,
                "change_km2": (area_b - area_a) / 1e6,
                "change_rel": np.where(
                    area_a > 0, (area_b - area_a) / np.where(area_a > 0, area_a, 1), np.nan
                ),
                "iou": np.where(union > 0, inter / np.where(union > 0, union, 1), np.nan),
                "hausdorff_m": dists[:, 0],
                "mean_boundary_distance_m": dists[:, 1],
                "symdiff_distance_m": np.where(
                    mean_perim > 0, sym / np.where(mean_perim > 0, mean_perim, 1), np.nan
                ),
            },
            index=pd.Index(ids, name=id_col or "glacier"),
        )
    table.attrs.update(crs=work.to_string(), n_repaired=ga.attrs["n_repaired"] + gb.attrs["n_repaired"])
    return table


def change_polygons(a: gpd.GeoDataFrame, b: gpd.GeoDataFrame, *, crs: Any = None) -> gpd.GeoDataFrame:
    """Gained, lost and stable ice between outlines A and B (``geopandas.overlay``).

    Args:
        a: Outlines at date A (any CRS).
        b: Outlines at date B (any CRS).
        crs: Metric CRS of the result; None = local UTM zone of ``a``.

    Returns:
        GeoDataFrame with columns ``change`` ("gained": in B only, "lost": in A only, "stable": in both),
        ``area_km2`` and geometry, one (multi)polygon per class (classes with no area are omitted).
    """
    work = metric_crs(a if not a.empty else b, crs)
    ga, gb = _prepare(a, work, "outlines A"), _prepare(b, work, "outlines B")
    ua = gpd.GeoDataFrame(geometry=[shapely.union_all(ga.geometry.to_numpy())], crs=work)
    ub = gpd.GeoDataFrame(geometry=[shapely.union_all(gb.geometry.to_numpy())], crs=work)
    parts = {
        "gained": gpd.overlay(ub, ua, how="difference", keep_geom_type=True),
        "lost": gpd.overlay(ua, ub, how="difference", keep_geom_type=True),
        "stable": gpd.overlay(ua, ub, how="intersection", keep_geom_type=True),
    }
    rows = [(k, shapely.union_all(v.geometry.to_numpy())) for k, v in parts.items() if not v.empty]
    rows = [(k, g) for k, g in rows if not g.is_empty and g.area > 0]
    out = gpd.GeoDataFrame({"change": [k for k, _ in rows]}, geometry=[g for _, g in rows], crs=work)
    out["area_km2"] = out.geometry.area / 1e6
    return out[["change", "area_km2", "geometry"]]


def area_time_series(
    outlines: gpd.GeoDataFrame, *, date_col: str, analysis_col: str | None = None, crs: Any = None
) -> pd.DataFrame:
    """Glacier area per date (or per analysis) from outlines of many dates.

    Args:
        outlines: Polygons with a date column.
        date_col: Column with the date of each polygon (anything ``pd.to_datetime`` reads).
        analysis_col: Optional analysis id column (GLIMS ``anlys_id``): one row per analysis, so two
            analysts' outlines of the same date stay apart. None merges all polygons of one date.
        crs: Metric CRS; None = local UTM zone.

    Returns:
        DataFrame with columns ``date`` (datetime64), ``analysis`` (when ``analysis_col`` is given),
        ``area_km2`` and ``n_polygons``, sorted by date.
    """
    for col in (date_col, analysis_col):
        if col is not None and col not in outlines.columns:
            raise unknown_name("column", col, [str(c) for c in outlines.columns])
    work = metric_crs(outlines, crs)
    g = _prepare(outlines, work, "outlines")
    g["_date"] = pd.to_datetime(g[date_col])
    keys = ["_date"] if analysis_col is None else ["_date", analysis_col]
    rows = []
    for key, grp in g.groupby(keys, sort=True):
        row = {"date": key[0], "analysis": key[-1]} if analysis_col else {"date": key[0]}
        row.update(
            area_km2=shapely.area(shapely.union_all(grp.geometry.to_numpy())) / 1e6, n_polygons=len(grp)
        )
        rows.append(row)
    cols = (
        ["date", "analysis", "area_km2", "n_polygons"] if analysis_col else ["date", "area_km2", "n_polygons"]
    )
    return pd.DataFrame(rows, columns=cols)


def rasterize_stack(
    outlines_by_time: Mapping[Any, gpd.GeoDataFrame],
    *,
    transform: Affine,
    shape: tuple[int, int],
    crs: Any,
    all_touched: bool = False,
) -> xr.DataArray:
    """Rasterise outlines of several dates onto one grid: a (time, y, x) uint8 stack for a time slider.

    Args:
        outlines_by_time: Date (anything ``pd.to_datetime`` reads) -> outlines (any CRS).
        transform: Affine transform of the target grid.
        shape: ``(height, width)`` of the target grid in pixels.
        crs: CRS of the target grid.
        all_touched: Burn every pixel the outline touches (default: pixel centres inside).

    Returns:
        DataArray (time, y, x), 1 = glacier, 0 = ice-free, with pixel-centre coords and rioxarray CRS.
    """
    from rasterio.features import rasterize

    if not outlines_by_time:
        raise InputError("outlines_by_time is empty; pass at least one date -> outlines.")
    frames = []
    for gdf in outlines_by_time.values():
        g = _prepare(gdf, crs, "outlines")
        geoms = [x for x in g.geometry if not x.is_empty]
        frames.append(
            rasterize(
                geoms,
                out_shape=shape,
                transform=transform,
                fill=0,
                default_value=1,
                dtype="uint8",
                all_touched=all_touched,
            )
            if geoms
            else np.zeros(shape, dtype=np.uint8)
        )
    times = pd.to_datetime(list(outlines_by_time.keys()))
    return mask_stack(np.stack(frames), times, transform=transform, crs=crs)


def mask_stack(masks: np.ndarray, times: Any, *, transform: Affine, crs: Any) -> xr.DataArray:
    """Wrap (time, H, W) masks in a georeferenced DataArray (time, y, x) with pixel-centre coordinates.

    Args:
        masks: Array (T, H, W), 1 = glacier.
        times: T dates.
        transform: North-up affine transform of the grid (no rotation).
        crs: CRS of the grid.

    Returns:
        uint8 DataArray named ``glacier_mask`` with rioxarray CRS and transform.
    """
    import rioxarray  # noqa: F401  (registers the .rio accessor)
    import xarray as xr

    arr = np.asarray(masks)
    if arr.ndim != 3:
        raise InputError(f"masks must be (time, y, x); got shape {arr.shape}.")
    t = pd.to_datetime(list(times))
    if len(t) != arr.shape[0]:
        raise InputError(f"{len(t)} times for {arr.shape[0]} masks; pass one time per mask.")
    _, h, w = arr.shape
    x = transform.c + transform.a * (np.arange(w) + 0.5)
    y = transform.f + transform.e * (np.arange(h) + 0.5)
    da = xr.DataArray(
        arr.astype(np.uint8), dims=("time", "y", "x"), coords={"time": t, "y": y, "x": x}, name="glacier_mask"
    )
    return da.rio.write_crs(crs).rio.write_transform(transform)


def stack_to_outlines(stack: xr.DataArray, **kwargs: Any) -> gpd.GeoDataFrame:
    """Polygonise every time step of a (time, y, x) mask stack (see :func:`mask_to_polygons`).

    Args:
        stack: DataArray with dims (time, y, x) and rioxarray CRS/transform, 1 = glacier.
        **kwargs: Passed to :func:`glacierlab.outlines.polygons.mask_to_polygons` (``simplify_tolerance``...).

    Returns:
        GeoDataFrame with columns ``time``, ``value``, ``area_km2`` and geometry in the stack's CRS.
    """
    if tuple(stack.dims) != ("time", "y", "x"):
        raise InputError(f"stack dims must be ('time', 'y', 'x'); got {tuple(stack.dims)}.")
    transform, crs = rio_transform(stack), stack.rio.crs
    frames = []
    for t in stack["time"].values:
        g = mask_to_polygons(stack.sel(time=t).values, transform, crs, **kwargs)
        g.insert(0, "time", pd.Timestamp(t))
        frames.append(g)
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=crs)
