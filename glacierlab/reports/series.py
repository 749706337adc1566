"""Glacier outlines over time from a region's catalog sources, with an area uncertainty per date.

A region's outline scenes (scenes without optical imagery) give dated extents:

* vector outlines with a date attribute (GLIMS): one extent per analysis, so two analysts' outlines of
  one date stay apart (their difference *is* the expert uncertainty);
* vector outlines of one inventory (SGI2010) and raster masks (SGI2016 surface types, the OGGM/RGI mask
  of Aletsch) per scene;
* elevation series (Aletsch surfaces 1880-2017 with ice thickness): ice where the surface lies more than
  1 m above the bed (``usurf - thk``).

Uncertainty of one extent's area (1 sigma, docs/area_uncertainty.md): manual vector outlines carry the
expert band (the largest measured inter-analyst spread of same-date pairs when the series has them, else
the clean-ice ±5 % of Paul et al. 2013); raster extents carry the buffer estimate perimeter × half a pixel.
Between two extents the change's sigma is the two combined in quadrature; a change "exceeds the
uncertainty" when ``|ΔA| > 1.96 σ``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from glacierlab.errors import InputError

if TYPE_CHECKING:
    import geopandas as gpd
    from matplotlib.figure import Figure

    from glacierlab.geo import BBox

#: z of a two-sided 95 % interval: a change exceeds its uncertainty when |change| > Z95 * sigma.
Z95 = 1.96
#: Largest raster window (pixels) polygonised for a series; pass a smaller bbox beyond it.
MAX_PIXELS = 25_000_000


@dataclass
class Extent:
    """Glacier outlines of one date with the 1-sigma uncertainty of their area.

    Attributes:
        label: Short name (e.g. "GLIMS 2003-08-17 #756422").
        date: Representative date.
        outlines: Polygons in a metric CRS (column ``glacier`` = glacier id, "all" when unknown).
        sd_rel: Relative 1-sigma area uncertainty (expert band), or None.
        sd_pixel_m: Half a pixel (m) for the buffer estimate ``perimeter × sd_pixel_m``, or None.
        method: One line saying how the uncertainty is obtained.
        source: Catalog source id.
    """

    label: str
    date: pd.Timestamp
    outlines: gpd.GeoDataFrame
    sd_rel: float | None
    sd_pixel_m: float | None
    method: str
    source: str

    def sd_km2(self, geometry: Any) -> float:
        """1-sigma area uncertainty (km²) of a (multi)polygon of this extent."""
        if self.sd_rel is not None:
            return float(self.sd_rel * geometry.area / 1e6)
        return float(geometry.length * (self.sd_pixel_m or 0.0) / 1e6)


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
    from glacierlab.reports.regional import glacier_id_column

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
    return [
        Extent(f"{name} ({when.year})", when, gdf[["glacier", "geometry"]], band.clean_rel_area, None, method, src.id)
    ]


def _raster_extent(mask: Any, label: str, when: pd.Timestamp, source: str) -> Extent:
    from glacierlab.outlines.polygons import mask_to_polygons, metric_crs

    if mask.size > MAX_PIXELS:
        raise InputError(
            f"{source}: {mask.size} pixels in the window, more than {MAX_PIXELS}; pass a smaller bbox "
            "(report parameter `bbox`)."
        )
    polys = mask_to_polygons(mask)
    polys = polys.to_crs(metric_crs(polys)) if not polys.empty else polys
    half = 0.5 * float(abs(mask.rio.resolution()[0]))
    if mask.rio.crs is not None and not mask.rio.crs.is_projected:
        half *= 111_320.0 * np.cos(np.deg2rad(float(mask["y"].mean())))
    return Extent(
        label,
        when,
        polys.assign(glacier="all")[["glacier", "geometry"]],
        None,
        half,
        f"buffer estimate: perimeter × half a pixel ({half:.0f} m), an upper bound",
        source,
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
        ice = ((series[name] - bed) > 1.0).astype("uint8")
        ice = ice.sortby("y", ascending=False).rio.write_crs(series.rio.crs)
        out.append(_raster_extent(ice, f"IGM surface {year}", pd.Timestamp(year=year, month=9, day=1), src.id))
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
                ext.label = f"{sid.split('_')[0].upper()} mask ({scene.date})"
                extents.append(ext)
    extents = sorted(extents, key=lambda e: (e.date, e.label))
    _measured_band(extents)
    return extents


def _measured_band(extents: list[Extent]) -> None:
    """Use the largest measured inter-analyst spread of same-date GLIMS pairs when the series has them."""
    import geopandas as gpd

    from glacierlab.outlines.expert import analyst_pairs

    glims = [e for e in extents if e.label.startswith("GLIMS")]
    if len(glims) < 2:
        return
    frame = gpd.GeoDataFrame(
        pd.concat([e.outlines.assign(anlys=e.label, date=e.date) for e in glims], ignore_index=True),
        crs=glims[0].outlines.crs,
    )
    pairs = analyst_pairs(frame, analysis_col="anlys", date_col="date", max_days_apart=10)
    if pairs.empty:
        return
    # one analyst's sigma: the pairs' RMS relative difference / sqrt(2) (a difference of two analysts)
    sd_rel = float(np.sqrt(np.nanmean(pairs["rel_spread"].to_numpy() ** 2) / 2))
    for e in glims:
        e.sd_rel = sd_rel
        e.method = (
            f"inter-analyst spread measured on {len(pairs)} same-date GLIMS pairs: ±{sd_rel * 100:.1f} % (1 sigma)"
        )


def _union(gdf: gpd.GeoDataFrame, ids: list[str] | None = None) -> Any:
    import shapely

    g = gdf if ids is None else gdf[gdf["glacier"].isin(ids)]
    return shapely.union_all(g.geometry.to_numpy()) if len(g) else shapely.Polygon()


def series_areas(extents: list[Extent]) -> pd.DataFrame:
    """One row per extent: ``outline``, ``date``, ``area_km2``, ``sd_km2`` (1 sigma), ``uncertainty``."""
    rows = []
    for e in extents:
        geom = _union(e.outlines)
        rows.append(
            {
                "outline": e.label,
                "date": e.date,
                "area_km2": geom.area / 1e6,
                "sd_km2": e.sd_km2(geom),
                "uncertainty": e.method,
                "source": e.source,
            }
        )
    return pd.DataFrame(rows, columns=["outline", "date", "area_km2", "sd_km2", "uncertainty", "source"])


def change_row(a: Extent, b: Extent, ga: Any, gb: Any) -> dict[str, Any]:
    """Area change from ``a`` to ``b`` for geometries ``ga``/``gb`` (same metric CRS)."""
    stable = ga.intersection(gb).area / 1e6
    area_a, area_b = ga.area / 1e6, gb.area / 1e6
    sd = float(np.hypot(a.sd_km2(ga), b.sd_km2(gb)))
    change = area_b - area_a
    return {
        "from": a.label,
        "to": b.label,
        "area_from_km2": area_a,
        "area_to_km2": area_b,
        "change_km2": change,
        "change_sd_km2": sd,
        "gained_km2": area_b - stable,
        "lost_km2": area_a - stable,
        "stable_km2": stable,
        "exceeds_uncertainty": bool(abs(change) > Z95 * sd),
    }


def series_changes(extents: list[Extent], *, first_last: bool = True) -> pd.DataFrame:
    """Gained, lost and stable ice and the area change ± sigma between consecutive extents (and first→last).

    Args:
        extents: Output of :func:`outline_series` (sorted by date).
        first_last: Add a row from the first to the last extent.

    Returns:
        One row per pair with :func:`change_row`'s columns (km²; ``exceeds_uncertainty`` = |change| >
        1.96 sigma).
    """
    pairs = list(zip(extents[:-1], extents[1:], strict=True))
    if first_last and len(extents) > 2:
        pairs.append((extents[0], extents[-1]))
    rows = []
    for a, b in pairs:
        crs = a.outlines.crs
        rows.append(change_row(a, b, _union(a.outlines), _union(b.outlines.to_crs(crs))))
    return pd.DataFrame(rows)


def series_figure(areas: pd.DataFrame, title: str = "") -> Figure:
    """Glacier area (km²) against date with 95 % error bars (1.96 sigma)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 3.4), layout="constrained")
    ax = fig.add_subplot()
    ax.errorbar(
        areas["date"],
        areas["area_km2"],
        yerr=Z95 * areas["sd_km2"],
        fmt="o-",
        color="tab:blue",
        ecolor="0.4",
        capsize=3,
    )
    ax.set_xlabel("date")
    ax.set_ylabel("glacier area (km²)")
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title)
    return fig
