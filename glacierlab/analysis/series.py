"""Glacier outlines over time from a region's catalog sources, with an area uncertainty per date.

A region's outline scenes (scenes without optical imagery) give dated extents:

* GLIMS outlines: one extent per analysis (two analysts of one date stay apart);
* one inventory (SGI2010) or raster mask (SGI2016, the OGGM/RGI mask of Aletsch) per scene;
* elevation series (Aletsch 1880-2017): ice where the surface is > 1 m above the bed (``usurf - thk``).

Uncertainty of one extent's area (1 sigma, docs/area_uncertainty.md, computed in
:mod:`glacierlab.outlines.outline_error`): manual vector outlines carry the expert band (the measured
inter-analyst spread of same-date pairs when the series has them, else the clean-ice ±5 % of Paul et al.
2013); gridded extents carry their own grid's boundary error (± half a cell, uniform, along the
de-staircased boundary). Between two extents of one source on one grid the change's sigma comes from the
boundary where they differ only (errors correlated where the boundaries coincide); across sources the
two errors combine independently and the step is flagged as a source change. A step whose gain (or loss)
lies where a reconstructed surface is below the bed (physically impossible: a source error) says so.
A change is established when it is not a source change and ``|ΔA| > z σ`` at the report's interval
level both with and without the source-inconsistent cells.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from glacierlab.errors import InputError
from glacierlab.outlines.area_error import z_of
from glacierlab.outlines.outline_error import boundary_length_m, cell_sd_m, change_sd_km2

if TYPE_CHECKING:
    import geopandas as gpd

    from glacierlab.geo import BBox

#: z of a two-sided 95 % interval (changes of model maps: |change| > Z95 * sigma).
Z95 = 1.96
#: The reports' one interval level (areas, changes, index), stated once per report.
LEVEL = 0.95


#: Largest raster window (pixels) polygonised for a series; pass a smaller bbox beyond it.
MAX_PIXELS = 25_000_000


@dataclass(frozen=True)
class Extent:
    """Glacier outlines of one date with the 1-sigma uncertainty of their area.

    Attributes:
        label: Short name (e.g. "GLIMS 2003-08-17 #756422").
        date: Representative date.
        outlines: Polygons in a metric CRS (column ``glacier`` = glacier id, "all" when unknown).
        sd_rel: Relative 1-sigma area uncertainty (expert band), or None.
        pos_sd_m: 1-sigma boundary position error (m) of a gridded extent (its own cell / sqrt(12)), or None.
        method: One line saying how the uncertainty is obtained.
        source: Catalog source id.
        date_text: The date at the precision it was recorded ("1880", "2003-08-17").
        cell_m: Cell size (m) of the source's own grid (0 for vector outlines).
        grid: Identity of the source grid (extents with equal ``grid`` share cells: correlated errors).
        inconsistent: Polygons (same CRS) where the source is physically impossible (surface below the
            bed), or None.
    """

    label: str
    date: pd.Timestamp
    outlines: gpd.GeoDataFrame
    sd_rel: float | None
    pos_sd_m: float | None
    method: str
    source: str
    date_text: str = ""
    cell_m: float = 0.0
    grid: str = ""
    inconsistent: Any = None

    def sd_km2(self, geometry: Any) -> float:
        """1-sigma area uncertainty (km²) of a (multi)polygon of this extent."""
        if self.sd_rel is not None:
            return float(self.sd_rel * geometry.area / 1e6)
        return float(boundary_length_m(geometry, gridded=True) * (self.pos_sd_m or 0.0) / 1e6)


def _vector_extents(src: Any, bbox: BBox | None, band: Any) -> list[Extent]:
    import geopandas as gpd

    from glacierlab.data.geometry import repair_geometries
    from glacierlab.data.vectors import load_outlines
    from glacierlab.outlines.polygons import metric_crs

    gdf = load_outlines(src.id, bbox=bbox)
    if bbox is not None and not gdf.empty:  # areas of the window only, as for rasters
        import shapely

        box = gpd.GeoSeries([shapely.box(*bbox)], crs=4326).to_crs(gdf.crs).iloc[0]
        gdf = repair_geometries(gdf).clip(box)
    if gdf.empty:
        return []
    gdf = repair_geometries(gdf.to_crs(metric_crs(gdf)))
    from glacierlab.analysis.regional import glacier_id_column

    id_col = glacier_id_column(gdf)
    gdf = gdf if gdf.geometry.name == "geometry" else gdf.rename_geometry("geometry")
    gdf = gdf.assign(glacier=gdf[id_col].astype(str))
    if "date" in gdf.columns and "anlys_id" in gdf.columns:  # GLIMS: one extent per analysis
        out = []
        for aid, g in gdf.groupby("anlys_id", sort=False):
            when = pd.Timestamp(g["date"].iloc[0])
            out.append(
                Extent(
                    f"GLIMS {when.date()} #{int(aid)}",
                    when,
                    g[["glacier", "geometry"]],
                    band.clean_rel_area,
                    None,
                    f"expert band ±{band.clean_rel_area * 100:.0f} % (1 sigma; {band.source})",
                    src.id,
                )
            )
        return sorted(out, key=lambda e: (e.date, e.label))
    lo, hi = src.date_range if src.date_range else (src.date, src.date)
    when = pd.Timestamp(lo) + (pd.Timestamp(hi) - pd.Timestamp(lo)) / 2
    name = src.id.split("_")[0].upper()
    method = f"expert band ±{band.clean_rel_area * 100:.0f} % (1 sigma; {band.source})"
    years = sorted({pd.Timestamp(lo).year, pd.Timestamp(hi).year})
    text = "–".join(str(y) for y in years)
    return [
        Extent(f"{name} ({text})", when, gdf[["glacier", "geometry"]], band.clean_rel_area, None, method, src.id, text)
    ]


def _raster_extent(mask: Any, label: str, when: pd.Timestamp, source: str, inconsistent: Any = None) -> Extent:
    from glacierlab.outlines.polygons import mask_to_polygons, metric_crs

    if mask.size > MAX_PIXELS:
        raise InputError(
            f"{source}: {mask.size} pixels in the window, more than {MAX_PIXELS}; pass a smaller bbox "
            "(report parameter `bbox`)."
        )
    polys = mask_to_polygons(mask)
    crs = metric_crs(polys) if not polys.empty else None
    polys = polys.to_crs(crs) if crs is not None else polys
    cell = float(abs(mask.rio.resolution()[0]))
    if mask.rio.crs is not None and not mask.rio.crs.is_projected:
        cell *= 111_320.0 * np.cos(np.deg2rad(float(mask["y"].mean())))
    pos = cell_sd_m(cell)
    bad = None
    if inconsistent is not None and bool(np.asarray(inconsistent).any()):
        bad = mask_to_polygons(inconsistent.astype("uint8"))
        bad = bad.to_crs(crs) if crs is not None else bad
    return Extent(
        label,
        when,
        polys.assign(glacier="all")[["glacier", "geometry"]],
        None,
        pos,
        f"source grid {cell:.0f} m: boundary within ± half a cell, 1 sigma {pos:.0f} m (cell/√12) along the "
        "de-staircased boundary",
        source,
        str(when.year),
        cell,
        f"{source}:{mask.shape}:{tuple(round(v, 3) for v in mask.rio.transform())[:6]}",
        _union(bad) if bad is not None else None,
    )


def _elevation_series(src: Any, cat: Any) -> list[Extent]:
    """Ice extents of an elevation series (surface per year) with an ice thickness source on its grid."""
    from glacierlab.data.rasters import load_netcdf

    series = load_netcdf(src.id)
    companion = next((s for s in cat.sources if s.kind == "netcdf" and {"usurf", "thk"} <= set(s.band_names())), None)
    if companion is None:
        return []
    base = load_netcdf(companion.id, ["usurf", "thk"])
    bed = base["usurf"] - base["thk"]
    out = []
    for name in src.band_names():
        year = int(name.rsplit("_", 1)[-1])
        h = (series[name] - bed).sortby("y", ascending=False)
        ice = (h > 1.0).astype("uint8").rio.write_crs(series.rio.crs)
        below = (h < -1.0).astype("uint8").rio.write_crs(series.rio.crs)  # surface under the bed: a source error
        out.append(_raster_extent(ice, f"IGM surface {year}", pd.Timestamp(year=year, month=9, day=1), src.id, below))
    return out


def outline_series(region_id: str, bbox: BBox | Sequence[float] | None = None) -> list[Extent]:
    """Every dated glacier extent of a region's outline scenes (see the module docstring), by date.

    Args:
        region_id: Catalog region id.
        bbox: Optional window (EPSG:4326); None uses the region's bbox.

    Returns:
        Extents sorted by date (empty when the region has no outline scene).
    """
    from glacierlab.data.catalog import load_catalog
    from glacierlab.data.stack import stack_region
    from glacierlab.geo import BBox as Box
    from glacierlab.outlines.expert import literature_band

    cat = load_catalog()
    reg = cat.region(region_id)
    window = Box.parse(bbox) if bbox is not None else Box.parse(reg.bbox)
    extents: list[Extent] = []
    seen: set[str] = set()
    band = literature_band()
    for scene in reg.scenes:
        if scene.optical:
            continue
        for sid in (*scene.reference, *scene.extra):
            src = cat.source(sid)
            if sid in seen:
                continue
            seen.add(sid)
            if src.kind == "vector":
                extents += _vector_extents(src, window, band)
            elif any(b.role == "elevation_series" for b in src.bands):
                extents += _elevation_series(src, cat)
            elif sid in scene.reference:
                ref = stack_region(region_id, date=scene.key, groups=(), bbox=window)["reference"]
                when = pd.Timestamp(scene.date.split("/")[0][:4] + "-07-01")
                ext = _raster_extent((ref == 1).astype("uint8").rio.write_crs(ref.rio.crs), "", when, sid)
                extents.append(
                    replace(ext, label=f"{sid.split('_')[0].upper()} mask ({scene.date})", date_text=scene.date)
                )
    extents = [_dated(e, [s.date for s in reg.scenes]) for e in extents]
    return _measured_band(sorted(extents, key=lambda e: (e.date, e.label)))


def _dated(e: Extent, scene_dates: Sequence[str]) -> Extent:
    """``e`` with its recorded date (and a GLIMS label naming it)."""
    e = replace(e, date_text=e.date_text or recorded_date(e.date, scene_dates))
    if e.label.startswith("GLIMS ") and "#" in e.label:
        e = replace(e, label=f"GLIMS {e.date_text} #{e.label.rsplit('#', 1)[1]}")
    return e


def recorded_date(when: pd.Timestamp, scene_dates: Sequence[str]) -> str:
    """``when`` at the precision the catalog recorded it: the longest scene date it starts with, else ISO.

    GLIMS stores a year-only outline as a full date (e.g. 1850-01-01); the catalog scene "1850" says
    only the year is known, so ``recorded_date(1850-01-01, ["1850"])`` is "1850".
    """
    iso = when.strftime("%Y-%m-%d")
    known = [d for d in scene_dates if "/" not in d and iso.startswith(d)]
    return max(known, key=len) if known else iso


def _measured_band(extents: list[Extent]) -> list[Extent]:
    """Use the largest measured inter-analyst spread of same-date GLIMS pairs when the series has them."""
    import geopandas as gpd

    from glacierlab.outlines.expert import analyst_pairs

    glims = [e for e in extents if e.label.startswith("GLIMS")]
    if len(glims) < 2:
        return extents
    frame = gpd.GeoDataFrame(
        pd.concat([e.outlines.assign(anlys=e.label, date=e.date) for e in glims], ignore_index=True),
        crs=glims[0].outlines.crs,
    )
    pairs = analyst_pairs(frame, analysis_col="anlys", date_col="date", max_days_apart=10)
    if pairs.empty:
        return extents
    # one analyst's sigma: the pairs' RMS relative difference / sqrt(2) (a difference of two analysts)
    sd_rel = float(np.sqrt(np.nanmean(pairs["rel_spread"].to_numpy() ** 2) / 2))
    method = f"inter-analyst spread measured on {len(pairs)} same-date GLIMS pairs: ±{sd_rel * 100:.1f} % (1 sigma)"
    return [replace(e, sd_rel=sd_rel, method=method) if e.label.startswith("GLIMS") else e for e in extents]


def _union(gdf: gpd.GeoDataFrame, ids: list[str] | None = None) -> Any:
    import shapely

    g = gdf if ids is None else gdf[gdf["glacier"].isin(ids)]
    return shapely.union_all(g.geometry.to_numpy()) if len(g) else shapely.Polygon()


def series_areas(extents: list[Extent]) -> pd.DataFrame:
    """One row per extent: outline, date, recorded date, area, its 1-sigma error, method, source.

    Columns: ``outline``, ``date``, ``recorded`` (date as recorded), ``area_km2``, ``sd_km2`` (1 sigma),
    ``uncertainty``, ``source``.
    """
    rows = []
    for e in extents:
        geom = _union(e.outlines)
        rows.append(
            {
                "outline": e.label,
                "date": e.date,
                "recorded": e.date_text,
                "area_km2": geom.area / 1e6,
                "sd_km2": e.sd_km2(geom),
                "uncertainty": e.method,
                "source": e.source,
            }
        )
    return pd.DataFrame(rows, columns=["outline", "date", "recorded", "area_km2", "sd_km2", "uncertainty", "source"])


def change_row(a: Extent, b: Extent, ga: Any, gb: Any, *, level: float = LEVEL) -> dict[str, Any]:
    """Area change from ``a`` to ``b`` for geometries ``ga``/``gb`` (same metric CRS), with its flags.

    Columns: ``from``, ``to``, ``from_date``, ``to_date`` (as recorded), areas, ``change_km2``, ``change_sd_km2``
    (1 sigma, :func:`~glacierlab.outlines.outline_error.change_sd_km2`), gained / lost / stable,
    ``differing_boundary_km``, ``source_change``, ``inconsistent_km2`` (gain where ``a``'s surface is below
    the bed + loss where ``b``'s is), ``change_consistent_km2`` (without those cells), ``exceeds_uncertainty``
    (|change| > z sigma at ``level``), ``established`` (no source change; both changes beyond z sigma, one
    sign) and ``note``.
    """
    stable = ga.intersection(gb).area / 1e6
    area_a, area_b = ga.area / 1e6, gb.area / 1e6
    one_grid = bool(a.grid) and a.grid == b.grid
    sd, boundary_km = change_sd_km2(
        ga,
        gb,
        sd_a_km2=a.sd_km2(ga),
        sd_b_km2=b.sd_km2(gb),
        pos_sd_a_m=a.pos_sd_m,
        pos_sd_b_m=b.pos_sd_m,
        one_grid=one_grid,
        cell_m=a.cell_m,
    )
    change = area_b - area_a
    gained_geom, lost_geom = gb.difference(ga), ga.difference(gb)
    bad_gain = gained_geom.intersection(a.inconsistent).area / 1e6 if a.inconsistent is not None else 0.0
    bad_loss = lost_geom.intersection(b.inconsistent).area / 1e6 if b.inconsistent is not None else 0.0
    source_change = a.source != b.source or (bool(a.grid or b.grid) and not one_grid)
    z = z_of(level)
    exceeds = bool(abs(change) > z * sd)
    consistent = change - bad_gain + bad_loss  # the change over the cells where both sources are possible
    established = exceeds and not source_change and abs(consistent) > z * sd and consistent * change > 0
    notes = []
    if source_change:
        notes.append(f"source changes ({a.source} → {b.source}): not a measured ice change")
    if bad_gain > 0.005:
        notes.append(f"{bad_gain:.2f} km² of the gain lies where the {a.date_text} surface is below the bed")
    if bad_loss > 0.005:
        notes.append(f"{bad_loss:.2f} km² of the loss lies where the {b.date_text} surface is below the bed")
    if abs((b.date - a.date).days) <= 10 and not source_change:
        notes.append("same season (≤ 10 days apart): measures the analysts, not the ice")
    return {
        "from": a.label,
        "to": b.label,
        "from_date": a.date_text,
        "to_date": b.date_text,
        "area_from_km2": area_a,
        "area_to_km2": area_b,
        "change_km2": change,
        "change_sd_km2": sd,
        "gained_km2": area_b - stable,
        "lost_km2": area_a - stable,
        "stable_km2": stable,
        "differing_boundary_km": boundary_km,
        "source_change": source_change,
        "inconsistent_km2": bad_gain + bad_loss,
        "change_consistent_km2": consistent,
        "exceeds_uncertainty": exceeds,
        "established": established,
        "note": "; ".join(notes),
    }


def series_changes(extents: list[Extent], *, first_last: bool = True, level: float = LEVEL) -> pd.DataFrame:
    """Gained, lost and stable ice and the area change ± sigma between consecutive extents (and first→last).

    Args:
        extents: Output of :func:`outline_series` (sorted by date).
        first_last: Add a row from the first to the last extent; when the last extent's source differs from
            the first's, from the first to the last extent of the first's source instead (a span read
            across a source change would not be ice change).
        level: Interval level of ``exceeds_uncertainty`` / ``established``.

    Returns:
        One row per pair with :func:`change_row`'s columns (km²).
    """
    pairs = list(zip(extents[:-1], extents[1:], strict=True))
    if first_last and len(extents) > 2:
        same = [e for e in extents if e.source == extents[0].source and e.grid == extents[0].grid]
        last = same[-1] if len(same) > 2 else extents[-1]
        pairs.append((extents[0], last))
    rows = []
    for a, b in pairs:
        crs = a.outlines.crs
        rows.append(change_row(a, b, _union(a.outlines), _union(b.outlines.to_crs(crs)), level=level))
    return pd.DataFrame(rows)
