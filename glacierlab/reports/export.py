"""A region's export bundle, written atomically inside ``<region>/export/``.

``outlines.gpkg`` (one layer per model map and per reference date), CSV tables, the COGs and a STAC Item
(``item.json``) describing them.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from glacierlab.errors import InputError
from glacierlab.files import atomic_path, inside, safe_name, write_json

if TYPE_CHECKING:
    import geopandas as gpd
    import xarray as xr

EXPORT = "export"
MEDIA = {
    ".gpkg": "application/geopackage+sqlite3",
    ".csv": "text/csv",
    ".tif": "image/tiff; application=geotiff; profile=cloud-optimized",
    ".json": "application/json",
    ".html": "text/html",
    ".ipynb": "application/x-ipynb+json",
}


def export_folder(out_dir: str | os.PathLike[str] | None) -> Path | None:
    """``<out_dir>/export``, created and emptied of an earlier run's files; None when ``out_dir`` is empty.

    The folder is checked to stay inside ``out_dir`` (an ``export`` symlink to elsewhere raises
    :class:`~glacierlab.errors.InputError`), and the files an earlier run left there are removed, so the
    bundle (and the ``item.json`` and done-marker listing it) holds exactly this run's files.
    """
    if not out_dir:
        return None
    folder = inside(out_dir, EXPORT, "export folder")
    folder.mkdir(parents=True, exist_ok=True)
    for f in folder.iterdir():
        if f.is_symlink() or f.is_file():  # a link is removed, never followed
            f.unlink()
    return folder


def bundle_files(folder: Path) -> list[Path]:
    """The files of an export folder (no temporaries of unfinished writes, no links), sorted."""
    return sorted(f for f in folder.iterdir() if f.is_file() and not f.is_symlink() and not f.name.startswith("."))


def copy_file(src: Path, dest: Path) -> Path:
    """Copy ``src`` (a map of the analysis run folder) to ``dest`` atomically, replacing it; returns ``dest``."""
    import shutil

    with atomic_path(dest, overwrite=True) as tmp:
        shutil.copyfile(src, tmp)
    return dest


def layer_name(*parts: str) -> str:
    """A GeoPackage layer name from parts (``model_2000-10-30``), checked with :func:`safe_name`."""
    import re

    text = "_".join(re.sub(r"[^A-Za-z0-9_.-]+", "-", p).strip("-") for p in parts if p)
    return safe_name(text, "layer name")


def model_layer(
    polygons: gpd.GeoDataFrame,
    id_col: str,
    *,
    date: str,
    areas: pd.DataFrame | None = None,
    judged: pd.DataFrame | None = None,
) -> gpd.GeoDataFrame:
    """The model's glacier polygons (one row per glacier) with id, area, expected area ± interval, IoU, band.

    Args:
        polygons: Model polygons split by the inventory (``compare_glaciers`` second output).
        id_col: Glacier id column of ``polygons``.
        date: Date of the imagery mapped.
        areas: :func:`~glacierlab.outlines.area_error.area_table` of the glaciers (expected ± interval).
        judged: :func:`~glacierlab.analysis.regional.judge_glaciers` (IoU, inside_band vs the reference).

    Returns:
        GeoDataFrame with ``glacier``, ``date``, ``area_km2``, ``expected_km2``, ``sd_km2``, ``low_km2``,
        ``high_km2``, ``interval_level``, ``iou``, ``inside_band`` (NaN where not computed).
    """
    import geopandas as gpd

    g = polygons.dissolve(by=id_col, as_index=False) if len(polygons) else polygons
    out = gpd.GeoDataFrame(
        {"glacier": g[id_col].astype(str).to_numpy(), "date": date}, geometry=g.geometry.values, crs=polygons.crs
    )
    out["area_km2"] = out.geometry.area / 1e6 if out.crs is not None and out.crs.is_projected else np.nan
    idx = pd.Index(out["glacier"])
    if areas is not None:
        a = areas.set_axis(areas.index.astype(str)).reindex(idx)
        for c in ("expected_km2", "sd_km2", "low_km2", "high_km2"):
            out[c] = a[c].to_numpy()
        out["interval_level"] = areas.attrs.get("level", np.nan)
    if judged is not None:
        j = judged.set_axis(judged.index.astype(str)).reindex(idx)
        out["iou"] = j["iou"].to_numpy()
        out["inside_band"] = j["inside_band"].astype("boolean").to_numpy()
    return out


def write_geopackage(layers: Mapping[str, gpd.GeoDataFrame], path: str | os.PathLike[str]) -> Path:
    """Write several layers into one GeoPackage atomically (the file appears complete or not at all)."""
    if not layers:
        raise InputError("no layers to write; pass at least one GeoDataFrame.")
    with atomic_path(path, overwrite=True) as tmp:
        tmp.unlink()  # GDAL creates the file itself
        for name, gdf in layers.items():
            g = gdf.copy()
            for c in g.columns:
                if c != g.geometry.name and str(g[c].dtype).startswith(("datetime", "period")):
                    g[c] = g[c].astype(str)
            g.to_file(tmp, layer=layer_name(name), driver="GPKG")
    return Path(path)


def write_csv(table: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write a table as CSV atomically (index included when named)."""
    with atomic_path(path, overwrite=True) as tmp:
        table.to_csv(tmp, index=table.index.name is not None)
    return Path(path)


#: STAC classification extension, and the class values of a mask COG (``vocabulary`` label codes).
CLASSIFICATION = "https://stac-extensions.github.io/classification/v2.0.0/schema.json"
MASK_CLASSES = [
    {"value": 0, "name": "non-glacier", "description": "no glacier (p <= 0.5)"},
    {"value": 1, "name": "glacier", "description": "glacier (p > 0.5)"},
    {"value": 255, "name": "no-data", "description": "no data", "nodata": True},
]


def _footprint(grid: xr.DataArray | xr.Dataset) -> tuple[list[float], dict[str, Any]]:
    from rasterio.warp import transform_bounds
    from shapely.geometry import box, mapping

    b = transform_bounds(grid.rio.crs, "EPSG:4326", *grid.rio.bounds(), densify_pts=21)
    return [float(v) for v in b], mapping(box(*b))


def stac_item(
    folder: str | os.PathLike[str],
    *,
    item_id: str,
    grid: xr.DataArray | xr.Dataset | None = None,
    dates: Sequence[str],
    bbox: Sequence[float] | None = None,
    assets: Mapping[str, tuple[str, str, Sequence[str]]],
    properties: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``<folder>/item.json``: a STAC Item (pystac) whose assets are the bundle's files.

    Args:
        folder: The export folder; asset paths are relative to it and must stay inside the region folder.
        item_id: Item id.
        grid: The report's grid (footprint and projection), or None with ``bbox``.
        dates: Dates of the imagery / outlines (``YYYY[-MM[-DD]]``); one gives ``datetime``, more give
            ``start_datetime`` / ``end_datetime``.
        assets: Key -> (relative path, title, roles).
        properties: Extra item properties (``glacierlab:*``).
        bbox: Footprint ``(lon_min, lat_min, lon_max, lat_max)`` when there is no grid (outline-only reports).

    Returns:
        The item path.
    """
    import pystac
    from shapely.geometry import box, mapping

    folder = Path(folder)
    if grid is not None:
        bbox, geometry = _footprint(grid)
    elif bbox is not None:
        bbox, geometry = [float(v) for v in bbox], mapping(box(*bbox))
    else:
        raise InputError("stac_item needs the report's grid or a bbox for the item's footprint.")
    parsed = sorted(_date(d) for d in dates if d)
    props = dict(properties or {})
    if not parsed:  # nothing dated: the item's time is when it was made
        parsed = [dt.datetime.now(dt.UTC)]
        props["glacierlab:undated"] = True
    if len(parsed) > 1:
        props.update(start_datetime=parsed[0].isoformat(), end_datetime=parsed[-1].isoformat())
    item = pystac.Item(
        id=safe_name(item_id, "STAC item id"),
        geometry=geometry,
        bbox=bbox,
        datetime=parsed[0] if len(parsed) == 1 else None,
        properties=props,
    )
    epsg = grid.rio.crs.to_epsg() if grid is not None and grid.rio.crs else None
    if epsg:
        item.properties["proj:code"] = f"EPSG:{epsg}"
        item.stac_extensions.append("https://stac-extensions.github.io/projection/v2.0.0/schema.json")
    region_folder = folder.parent
    for key, (rel, title, roles) in assets.items():
        target = (folder / rel).resolve()
        if not target.is_relative_to(region_folder.resolve()):
            raise InputError(
                f"STAC asset {key!r} has path {rel!r}, which leads outside the report's region folder "
                f"{region_folder}; asset paths must be relative paths of files inside it (e.g. 'outlines.gpkg')."
            )
        inside(region_folder, Path(folder.name) / rel, "asset path")
        asset = pystac.Asset(href=rel, media_type=MEDIA.get(Path(rel).suffix, None), title=title, roles=list(roles))
        if Path(rel).suffix == ".tif" and Path(rel).stem.endswith("mask"):
            asset.extra_fields["classification:classes"] = MASK_CLASSES
            if CLASSIFICATION not in item.stac_extensions:
                item.stac_extensions.append(CLASSIFICATION)
        item.add_asset(key, asset)
    record = item.to_dict(include_self_link=False, transform_hrefs=False)
    return write_json(folder / "item.json", record, overwrite=True)


def _date(text: str) -> dt.datetime:
    """The UTC start of a ``YYYY[-MM[-DD]]`` date (or of a ``start/end`` range); InputError when unreadable."""
    try:
        stamp = pd.Timestamp(str(text).split("/")[0])
    except (ValueError, TypeError, OverflowError) as err:  # pandas' DateParseError is a ValueError
        raise InputError(
            f"date {text!r} of the STAC item is not a date ({err}); give dates as YYYY, YYYY-MM or YYYY-MM-DD "
            "(e.g. the scene's acquisition date '2000-10-30')."
        ) from err
    if stamp is pd.NaT:
        raise InputError(f"date {text!r} of the STAC item is empty (NaT); give dates as YYYY-MM-DD.")
    return stamp.to_pydatetime().replace(tzinfo=dt.UTC)


def bundle_assets(folder: Path, *, extra: Mapping[str, tuple[str, str, Sequence[str]]] | None = None) -> dict:
    """Assets of every file in the export folder (gpkg, csv, tif) plus ``extra`` (report, provenance)."""
    assets: dict[str, tuple[str, str, Sequence[str]]] = {}
    for f in bundle_files(folder):
        if f.name == "item.json" or f.suffix not in MEDIA:
            continue
        role = "data" if f.suffix in (".gpkg", ".tif") else "metadata"
        assets[f.stem] = (f.name, f.stem.replace("_", " "), [role])
    assets.update(extra or {})
    return assets
