"""Map any box on Earth: find open imagery and a DEM through STAC APIs and stack them for the model.

``stack_bbox(bbox, "2023-07-01/2023-09-30")`` searches Sentinel-2 L2A (or Landsat C2 L2) scenes with
``pystac-client``, ranks them (end-of-ablation season first, then cloud cover), masks clouds and shadows
with the scene classification (SCL) or QA_PIXEL band, loads them with ``odc-stac`` onto one grid in the
local UTM zone (10 m by default), scales DN to reflectance (0..~1), adds Copernicus GLO-30 elevation +
slope and, optionally, reference outlines. The result has the format of :func:`glacierlab.data.stack.stack_region`.

Endpoints, collections, band maps, scaling and mask rules live in ``data_catalog.yaml``
(``stac_endpoints``). Downloads go through :mod:`glacierlab.data.stac_cache`; search results are kept in the
cache too and reused when the endpoint cannot be reached.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from typing import Literal

import geopandas as gpd
import numpy as np
import xarray as xr
from odc.geo.geobox import GeoBox

from glacierlab.data.catalog import Catalog, StacCollection, StacEndpoint, load_catalog
from glacierlab.data.stac_cache import cached_search, signer
from glacierlab.data.stac_items import CacheMode, bbox_geobox, item_elevation, item_reflectance
from glacierlab.data.stac_search import (
    MODES,
    Season,
    StacScene,
    collection_of,
    get_endpoint,
    search_scenes,
)
from glacierlab.errors import ConfigError, NoDataError, unknown_name
from glacierlab.geo import BBox, georeference, utm_epsg
from glacierlab.quiet import quiet_third_party
from glacierlab.vocabulary import OPTICAL_BANDS


def load_optical(
    scenes: Sequence[StacScene],
    grid: GeoBox,
    *,
    mode: Literal["best", "composite"] = "best",
    max_scenes: int = 6,
    resampling: str = "bilinear",
    cache: CacheMode = "windows",
) -> xr.DataArray:
    """Load ranked scenes onto a grid: the best acquisition, or a per-pixel least-cloudy composite.

    ``"best"`` takes the first scene and the other tiles of the same collection and date (mosaic);
    ``"composite"`` takes up to ``max_scenes`` scenes. Either way each pixel gets the first clear
    observation in rank order, so a pixel comes from one scene (no blending of dates).

    Returns:
        ``(band, y, x)`` float32 reflectance (NaN = no clear observation); ``attrs``: ``items`` and
        ``dates`` (comma-separated, rank order), ``collections``.

    Raises:
        UnknownNameError: Unknown mode.
        NoDataError: No scenes, or no band shared by all scenes' collections.
        StacError: An item's metadata contradicts its collection's DN rule, or an asset cannot be read.
    """
    if mode not in MODES:
        raise unknown_name("mode", mode, MODES)
    if not scenes:
        raise NoDataError("no scenes to load; search_scenes() returned none for this box and window.")
    first = scenes[0]
    if mode == "best":
        chosen = [s for s in scenes if s.collection.id == first.collection.id and s.date == first.date]
    else:
        chosen = list(scenes[: max(1, max_scenes)])
    arrays = [
        item_reflectance(s.item, s.collection, grid, resampling=resampling, cache=cache,
                         sign=signer(s.sign, s.endpoint))
        for s in chosen
    ]
    common = [b for b in OPTICAL_BANDS if all(b in a["band"].values for a in arrays)]
    if not common:
        raise NoDataError(f"collections {sorted({s.collection.id for s in chosen})} share no optical band.")
    out = arrays[0].sel(band=common)
    for a in arrays[1:]:
        out = out.fillna(a.sel(band=common))
    out = georeference(out, str(grid.crs), grid.affine)
    out.attrs = {
        "items": ",".join(s.id for s in chosen),
        "dates": ",".join(s.date.isoformat() for s in chosen),
        "collections": ",".join(dict.fromkeys(s.collection.id for s in chosen)),
    }
    levels = {s.collection.product_level for s in chosen}
    if len(levels) == 1 and None not in levels:  # checked against the model's level by predict_scene
        out.attrs.update(product_level=str(levels.pop()), units="reflectance")
    return out


@quiet_third_party
def load_dem(
    bbox: Sequence[float],
    grid: GeoBox,
    *,
    endpoint: str | StacEndpoint = "earth_search",
    collection: str = "cop-dem-glo-30",
    cache: CacheMode = "windows",
    catalog: Catalog | None = None,
) -> xr.DataArray:
    """Elevation (m) on the grid from a DEM collection (Copernicus GLO-30 by default), tiles mosaicked.

    Tiles are resampled bilinearly; where tiles overlap the first one returned by the API wins.

    Returns:
        ``(y, x)`` float32 elevation, NaN = no data; ``attrs["items"]`` lists the tiles.

    Raises:
        StacError: The endpoint failed (and no earlier search is cached).
        NoDataError: No tile covers the box.
    """
    ep = get_endpoint(endpoint, catalog)
    coll = collection_of(ep, collection, "dem")
    box = BBox.parse(bbox)
    items = cached_search(ep, {"bbox": list(box), "collections": [collection], "max_items": 100})
    if not items:
        raise NoDataError(f"no {collection!r} tile at {ep.id!r} covers {box}; is the box over the sea?")
    sign = signer(ep.sign, ep.id)
    tiles = [item_elevation(it, coll, grid, cache=cache, sign=sign) for it in items]
    elev = functools.reduce(lambda a, b: a.fillna(b), tiles).astype(np.float32)
    elev = georeference(elev, str(grid.crs), grid.affine)
    elev.attrs = {"items": ",".join(i.id for i in items), "sources": "", "units": "m"}
    return elev


def _computed(da: xr.DataArray) -> xr.DataArray:
    """``da.compute()``; a read error of a lazy STAC array becomes a StacError naming its items."""
    from glacierlab.data.stac_cache import read_error
    from glacierlab.errors import GlacierLabError

    try:
        return da.compute()
    except GlacierLabError:
        raise
    except Exception as exc:  # noqa: BLE001 - rasterio/GDAL/HTTP errors raised inside dask tasks
        raise read_error(str(da.attrs.get("items", "?")), ["(lazy read)"], [], exc) from exc


def glacier_bbox(
    glacier_id: str, *, source: str | None = None, pad_m: float = 1000.0, catalog: Catalog | None = None
) -> BBox:
    """The lon/lat box around one glacier of an outline inventory (RGI 6/7 or GLIMS id), padded.

    Args:
        glacier_id: e.g. ``"RGI60-15.03733"``, ``"RGI2000-v7.0-G-11-03116"`` or ``"G010752E46802N"``.
        source: Catalog outline source to look in (default: every vector source, RGI/GLIMS ones first).
        pad_m: Margin around the outline in metres (>= 0).
        catalog: Catalog (default :func:`load_catalog`).

    Returns:
        ``(lon_min, lat_min, lon_max, lat_max)``.

    Raises:
        UnknownNameError: No source holds the id (closest ids listed).
    """
    from glacierlab.data.vectors import find_glacier

    if pad_m < 0:
        raise ConfigError(f"pad_m must be >= 0 metres, got {pad_m}")
    _, hit = find_glacier(glacier_id, source=source, catalog=catalog)
    x0, y0, x1, y1 = hit.to_crs(4326).total_bounds
    utm = utm_epsg((x0 + x1) / 2, (y0 + y1) / 2)
    box = hit.to_crs(utm).buffer(pad_m).to_crs(4326).total_bounds
    return tuple(float(v) for v in box)  # type: ignore[return-value]


def _reference(reference: str | gpd.GeoDataFrame | None, box: BBox, cat: Catalog) -> gpd.GeoDataFrame | None:
    """Outlines (a catalog outline source id or a GeoDataFrame) clipped to the box."""
    from shapely.geometry import box as shapely_box

    from glacierlab.data.vectors import load_outlines

    if reference is None:
        return None
    if isinstance(reference, gpd.GeoDataFrame):
        gdf = reference
    else:
        gdf = load_outlines(reference, bbox=box, catalog=cat)
    attrs = dict(gdf.attrs)
    clipped = gdf.clip(gpd.GeoSeries([shapely_box(*box)], crs=4326).to_crs(gdf.crs))
    clipped.attrs = attrs
    return clipped


@quiet_third_party
def stack_bbox(
    bbox: Sequence[float] | None = None,
    dates: str | Sequence[str | dt.date] | None = None,
    *,
    glacier_id: str | None = None,
    outline_source: str | None = None,
    endpoint: str | StacEndpoint = "earth_search",
    collections: Sequence[str] | None = None,
    dem_collection: str | None = "cop-dem-glo-30",
    reference: str | gpd.GeoDataFrame | None = None,
    max_cloud: float = 30.0,
    season: Season = "prefer",
    mode: Literal["best", "composite"] = "best",
    max_scenes: int = 6,
    resolution: float = 10.0,
    crs: int | None = None,
    resampling: str = "bilinear",
    cache: CacheMode = "windows",
    catalog: Catalog | None = None,
) -> xr.Dataset:
    """A model-ready stack for any box (or glacier id) from STAC imagery, DEM and outlines.

    Args:
        bbox: ``(lon_min, lat_min, lon_max, lat_max)`` in EPSG:4326; or give ``glacier_id``.
        dates: Date window for the optical scenes (``"YYYY-MM-DD/YYYY-MM-DD"``); None = no optical group.
        glacier_id: RGI/GLIMS id resolved to a box with :func:`glacier_bbox` (``outline_source`` to look in).
        outline_source: Catalog outline source holding ``glacier_id``.
        endpoint: Catalog ``stac_endpoints`` id or a :class:`StacEndpoint`.
        collections: Optical collections; None = the endpoint's defaults (Earth Search: Sentinel-2
            Collection 1 ``sentinel-2-c1-l2a``; ``"sentinel-2-l2a"`` and ``"landsat-c2-l2"`` too).
        dem_collection: DEM collection of the endpoint (None: no ``dem`` group).
        reference: Outlines for the ``reference`` layer: a catalog outline source id (e.g. an RGI 7.0
            source) or a GeoDataFrame; clipped to the box. None: no reference.
        max_cloud: Scene cloud-cover limit in percent.
        season: ``"prefer"``, ``"only"`` or ``"ignore"`` the end-of-ablation season.
        mode: ``"best"`` scene or per-pixel ``"composite"`` (see :func:`load_optical`).
        max_scenes: Scenes in a composite.
        resolution: Pixel size in metres (10 = Sentinel-2's finest).
        crs: EPSG code of the grid (default: local UTM zone).
        resampling: Reflectance resampling (``"bilinear"``, ``"nearest"``...).
        cache: ``"windows"``, ``"assets"`` or ``"none"`` (:mod:`glacierlab.data.stac_cache`).
        catalog: Catalog (default :func:`load_catalog`).

    Returns:
        Dataset as :func:`glacierlab.data.stack.stack_region`: ``optical`` (optical_band, y, x) reflectance
        float32, ``dem`` (dem_band=[elevation, slope], y, x), ``reference`` (y, x) uint8 0/1/255; attrs
        ``region="bbox"``, ``bbox``, ``date``, ``items``, ``endpoint``, ``licences``, ``citations``.

    Raises:
        ConfigError: Neither bbox nor glacier_id, or nothing to stack.
        StacError: An endpoint failed (message says which and how to use local data).
        NoDataError: No scene or tile matches.
    """
    from glacierlab.data.stack import stack_from_arrays

    cat = catalog or load_catalog()
    if bbox is None:
        if glacier_id is None:
            raise ConfigError("give bbox=(lon_min, lat_min, lon_max, lat_max) or glacier_id='RGI...'")
        bbox = glacier_bbox(glacier_id, source=outline_source, catalog=cat)
    box = BBox.parse(bbox)
    if dates is None and dem_collection is None:
        raise ConfigError("nothing to stack: give dates= (optical scenes) and/or dem_collection=")
    ep = get_endpoint(endpoint, cat)
    grid = bbox_geobox(box, resolution, crs)
    _check_size(grid, resolution, dates is not None, dem_collection is not None)
    optical = dem = None
    colls: list[StacCollection] = []
    attrs: dict[str, str] = {"region": "bbox", "bbox": ",".join(f"{v:.6f}" for v in box), "endpoint": ep.id}
    if dates is not None:
        scenes = search_scenes(
            box, dates, endpoint=ep, collections=collections, max_cloud=max_cloud, season=season, catalog=cat
        )
        optical = _computed(load_optical(
            scenes, grid, mode=mode, max_scenes=max_scenes, resampling=resampling, cache=cache
        ))
        colls += [collection_of(ep, c, "optical") for c in optical.attrs["collections"].split(",")]
        ds_dates = sorted(set(optical.attrs["dates"].split(",")))
        attrs.update(
            items=optical.attrs["items"],
            product_level="surface",  # Level-2 collections: surface reflectance 0-1
            date=ds_dates[0] if len(ds_dates) == 1 else f"{ds_dates[0]}/{ds_dates[-1]}",
        )
    if dem_collection is not None:
        dem = _computed(load_dem(box, grid, endpoint=ep, collection=dem_collection, cache=cache, catalog=cat))
        colls.append(collection_of(ep, dem_collection, "dem"))
        attrs["dem_items"] = dem.attrs["items"]
    ref = _reference(reference, box, cat)
    ref_attrs = dict(ref.attrs) if ref is not None else {}
    ds = stack_from_arrays(optical, dem, ref)
    sources = [str(ref.attrs.get("source"))] if ref is not None and ref.attrs.get("source") else []
    ds.attrs = {
        **attrs,
        "sources": ",".join(sources),
        "licences": " | ".join(
            dict.fromkeys(
                [c.licence for c in colls if c.licence] + ([str(ref_attrs["licence"])] if sources else [])
            )
        ),
        "citations": " | ".join(
            dict.fromkeys(
                [c.citation for c in colls if c.citation] + ([str(ref_attrs["citation"])] if sources else [])
            )
        ),
    }
    return ds


def _check_size(grid: GeoBox, resolution: float, optical: bool, dem: bool) -> None:
    """Refuse a box x resolution whose stack would exceed the memory budget, before any search or read."""
    from glacierlab.settings import check_budget

    ny, nx = grid.shape
    per_px = 4 * (len(OPTICAL_BANDS) * optical + 2 * dem) + 1  # float32 bands + uint8 reference
    check_budget(
        float(ny) * nx * per_px,
        f"the stack of this box at {resolution:g} m ({ny} x {nx} px, {per_px} bytes/px)",
        "choose a smaller box (tiles of about 0.5 deg) or a coarser resolution=",
    )
