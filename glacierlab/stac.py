"""Map any box on Earth: find open imagery and a DEM through STAC APIs and stack them for the model.

``stack_bbox(bbox, "2023-07-01/2023-09-30")`` searches Sentinel-2 L2A (or Landsat C2 L2) scenes with
``pystac-client``, ranks them (end-of-ablation season first, then cloud cover), masks clouds and shadows
with the scene classification (SCL) or QA_PIXEL band, loads them with ``odc-stac`` onto one grid in the
local UTM zone (10 m by default), scales DN to reflectance (0..~1), adds Copernicus GLO-30 elevation +
slope and, optionally, reference outlines. The result has the format of :func:`glacierlab.stack.stack_region`.

Endpoints, collections, band maps, scaling and mask rules live in ``data_catalog.yaml``
(``stac_endpoints``). Downloads go through :mod:`glacierlab.stac_cache`; search results are kept in the
cache too and reused when the endpoint cannot be reached.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import geopandas as gpd
import numpy as np
import pystac
import xarray as xr
from odc.geo.geobox import GeoBox

from glacierlab.catalog import OPTICAL_BANDS, Catalog, StacCollection, StacEndpoint, load_catalog
from glacierlab.errors import ConfigError, NoDataError, unknown_name
from glacierlab.rasters import quiet_third_party
from glacierlab.stac_cache import (
    CacheMode,
    cached_search,
    item_elevation,
    item_reflectance,
    make_grid,
    utm_epsg,
)

BBox = tuple[float, float, float, float]
Season = Literal["prefer", "only", "ignore"]
SEASONS: tuple[str, ...] = ("prefer", "only", "ignore")
MODES: tuple[str, ...] = ("best", "composite")


@dataclass(frozen=True)
class StacScene:
    """One search hit: a STAC item with the catalog collection that says how to read it."""

    item: pystac.Item
    endpoint: str
    collection: StacCollection
    in_season: bool

    @property
    def id(self) -> str:
        """The item id."""
        return self.item.id

    @property
    def date(self) -> dt.date:
        """Acquisition date (UTC)."""
        return _item_date(self.item)

    @property
    def cloud_cover(self) -> float | None:
        """Scene cloud cover in percent (``eo:cloud_cover``), None when the item does not say."""
        v = self.item.properties.get("eo:cloud_cover")
        return None if v is None else float(v)


def _item_date(item: pystac.Item) -> dt.date:
    when = item.datetime or item.common_metadata.start_datetime
    return when.date() if when else dt.date.min


def ablation_months(lat: float) -> tuple[int, ...]:
    """Months at the end of the ablation season, when glacier mappers pick scenes (least snow cover).

    Args:
        lat: Latitude in degrees; >= 0 is the northern hemisphere.

    Returns:
        ``(7, 8, 9)`` (July-September) in the north, ``(1, 2, 3)`` (January-March) in the south.
    """
    return (7, 8, 9) if lat >= 0 else (1, 2, 3)


def _check_bbox(bbox: Sequence[float]) -> BBox:
    if len(bbox) != 4:
        raise ConfigError(f"bbox must be (lon_min, lat_min, lon_max, lat_max), got {bbox!r}")
    x0, y0, x1, y1 = (float(v) for v in bbox)
    if not (-180 <= x0 < x1 <= 180 and -90 <= y0 < y1 <= 90):
        raise ConfigError(
            f"bbox must be (lon_min, lat_min, lon_max, lat_max) in degrees with min < max, got {tuple(bbox)}"
        )
    return x0, y0, x1, y1


def _dates(dates: str | Sequence[str | dt.date]) -> str:
    parts = dates.split("/") if isinstance(dates, str) else [str(d) for d in dates]
    if len(parts) != 2:
        raise ConfigError(f"dates must be 'YYYY-MM-DD/YYYY-MM-DD' or a (start, end) pair, got {dates!r}")
    try:
        start, end = (dt.date.fromisoformat(str(p)[:10]) for p in parts)
    except ValueError as exc:
        raise ConfigError(f"dates {dates!r} are not ISO dates (YYYY-MM-DD): {exc}") from exc
    if start > end:
        raise ConfigError(f"the date window starts after it ends: {start} > {end}")
    return f"{start.isoformat()}/{end.isoformat()}"


def get_endpoint(endpoint: str | StacEndpoint, catalog: Catalog | None = None) -> StacEndpoint:
    """A catalog STAC endpoint by id (a :class:`StacEndpoint` is returned as is)."""
    if isinstance(endpoint, StacEndpoint):
        return endpoint
    return (catalog or load_catalog()).stac_endpoint(endpoint)


def _collection(ep: StacEndpoint, cid: str, role: str) -> StacCollection:
    valid = [c.id for c in ep.collections if c.role == role]
    for c in ep.collections:
        if c.id == cid and c.role == role:
            return c
    raise unknown_name(f"{role} collection of endpoint {ep.id!r}", cid, valid, "Add it to data_catalog.yaml.")


def search_scenes(
    bbox: Sequence[float],
    dates: str | Sequence[str | dt.date],
    *,
    endpoint: str | StacEndpoint = "earth_search",
    collections: Sequence[str] = ("sentinel-2-l2a",),
    max_cloud: float = 30.0,
    season: Season = "prefer",
    max_items: int = 200,
    catalog: Catalog | None = None,
) -> list[StacScene]:
    """Find optical scenes over a box and rank them.

    Ranking: in the end-of-ablation season (:func:`ablation_months` of the box centre) first when
    ``season="prefer"``; then scene cloud cover (ascending, unknown last); then the later date.

    Args:
        bbox: ``(lon_min, lat_min, lon_max, lat_max)`` in EPSG:4326.
        dates: Date window ``"YYYY-MM-DD/YYYY-MM-DD"`` or ``(start, end)``, inclusive.
        endpoint: A ``stac_endpoints`` id of the catalog or a :class:`StacEndpoint`.
        collections: Optical collection ids of that endpoint (e.g. ``"landsat-c2-l2"``).
        max_cloud: Keep scenes with ``eo:cloud_cover`` <= this percentage (0..100).
        season: ``"prefer"`` (rank in-season first), ``"only"`` (drop others) or ``"ignore"``.
        max_items: At most this many items per collection from the API.
        catalog: Catalog (default :func:`load_catalog`).

    Returns:
        Scenes, best first.

    Raises:
        ConfigError: Bad bbox, dates or cloud threshold.
        UnknownNameError: Unknown endpoint, collection or season.
        StacError: The endpoint failed and no earlier result is cached.
        NoDataError: No scene passes the filters (the message says how many were found).
    """
    box, window = _check_bbox(bbox), _dates(dates)
    if season not in SEASONS:
        raise unknown_name("season", season, SEASONS)
    if not 0 <= max_cloud <= 100:
        raise ConfigError(f"max_cloud is a percentage in [0, 100], got {max_cloud}")
    ep = get_endpoint(endpoint, catalog)
    months = ablation_months((box[1] + box[3]) / 2)
    found: list[StacScene] = []
    n_api = 0
    for cid in collections:
        coll = _collection(ep, cid, "optical")
        params = {
            "bbox": list(box),
            "datetime": window,
            "collections": [cid],
            "max_items": max_items,
            "query": {"eo:cloud_cover": {"lte": max_cloud}},
        }
        items = cached_search(ep, params)
        n_api += len(items)
        for it in items:
            sc = StacScene(it, ep.id, coll, _item_date(it).month in months)
            if (sc.cloud_cover is None or sc.cloud_cover <= max_cloud) and (sc.in_season or season != "only"):
                found.append(sc)
    if not found:
        raise NoDataError(
            f"no scene of {list(collections)} at {ep.id!r} over {box} in {window} passes max_cloud="
            f"{max_cloud} and season={season!r} ({n_api} returned by the API). Widen the date window, raise "
            "max_cloud, use season='prefer', or try collections=('landsat-c2-l2',)."
        )
    prefer = season == "prefer"
    found.sort(
        key=lambda s: (
            prefer and not s.in_season,
            101.0 if s.cloud_cover is None else s.cloud_cover,
            -s.date.toordinal(),
            s.id,
        )
    )
    return found


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
        item_reflectance(s.item, s.collection, grid, resampling=resampling, cache=cache) for s in chosen
    ]
    common = [b for b in OPTICAL_BANDS if all(b in a["band"].values for a in arrays)]
    if not common:
        raise NoDataError(f"collections {sorted({s.collection.id for s in chosen})} share no optical band.")
    out = arrays[0].sel(band=common)
    for a in arrays[1:]:
        out = out.fillna(a.sel(band=common))
    out = out.rio.write_crs(str(grid.crs)).rio.write_transform(grid.affine)
    out.attrs = {
        "items": ",".join(s.id for s in chosen),
        "dates": ",".join(s.date.isoformat() for s in chosen),
        "collections": ",".join(dict.fromkeys(s.collection.id for s in chosen)),
    }
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
    coll = _collection(ep, collection, "dem")
    box = _check_bbox(bbox)
    items = cached_search(ep, {"bbox": list(box), "collections": [collection], "max_items": 100})
    if not items:
        raise NoDataError(f"no {collection!r} tile at {ep.id!r} covers {box}; is the box over the sea?")
    tiles = [item_elevation(it, coll, grid, cache=cache) for it in items]
    elev = functools.reduce(lambda a, b: a.fillna(b), tiles).astype(np.float32)
    elev = elev.rio.write_crs(str(grid.crs)).rio.write_transform(grid.affine)
    elev.attrs = {"items": ",".join(i.id for i in items), "sources": "", "units": "m"}
    return elev


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
    from glacierlab.vectors import find_glacier

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

    from glacierlab.vectors import load_outlines

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
    collections: Sequence[str] = ("sentinel-2-l2a",),
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
        collections: Optical collections (Sentinel-2 L2A by default; ``"landsat-c2-l2"`` too).
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
        cache: ``"windows"``, ``"assets"`` or ``"none"`` (:mod:`glacierlab.stac_cache`).
        catalog: Catalog (default :func:`load_catalog`).

    Returns:
        Dataset as :func:`glacierlab.stack.stack_region`: ``optical`` (optical_band, y, x) reflectance
        float32, ``dem`` (dem_band=[elevation, slope], y, x), ``reference`` (y, x) uint8 0/1/255; attrs
        ``region="bbox"``, ``bbox``, ``date``, ``items``, ``endpoint``, ``licences``, ``citations``.

    Raises:
        ConfigError: Neither bbox nor glacier_id, or nothing to stack.
        StacError: An endpoint failed (message says which and how to use local data).
        NoDataError: No scene or tile matches.
    """
    from glacierlab.stack import stack_from_arrays

    cat = catalog or load_catalog()
    if bbox is None:
        if glacier_id is None:
            raise ConfigError("give bbox=(lon_min, lat_min, lon_max, lat_max) or glacier_id='RGI...'")
        bbox = glacier_bbox(glacier_id, source=outline_source, catalog=cat)
    box = _check_bbox(bbox)
    if dates is None and dem_collection is None:
        raise ConfigError("nothing to stack: give dates= (optical scenes) and/or dem_collection=")
    ep = get_endpoint(endpoint, cat)
    grid = make_grid(box, resolution, crs)
    optical = dem = None
    colls: list[StacCollection] = []
    attrs: dict[str, str] = {"region": "bbox", "bbox": ",".join(f"{v:.6f}" for v in box), "endpoint": ep.id}
    if dates is not None:
        scenes = search_scenes(
            box, dates, endpoint=ep, collections=collections, max_cloud=max_cloud, season=season, catalog=cat
        )
        optical = load_optical(
            scenes, grid, mode=mode, max_scenes=max_scenes, resampling=resampling, cache=cache
        ).compute()
        colls += [_collection(ep, c, "optical") for c in optical.attrs["collections"].split(",")]
        ds_dates = sorted(set(optical.attrs["dates"].split(",")))
        attrs.update(
            items=optical.attrs["items"],
            date=ds_dates[0] if len(ds_dates) == 1 else f"{ds_dates[0]}/{ds_dates[-1]}",
        )
    if dem_collection is not None:
        dem = load_dem(box, grid, endpoint=ep, collection=dem_collection, cache=cache, catalog=cat).compute()
        colls.append(_collection(ep, dem_collection, "dem"))
        attrs["dem_items"] = dem.attrs["items"]
    ref = _reference(reference, box, cat)
    ds = stack_from_arrays(optical, dem, ref)
    sources = [str(ref.attrs.get("source"))] if ref is not None and ref.attrs.get("source") else []
    ds.attrs = {
        **attrs,
        "sources": ",".join(sources),
        "licences": " | ".join(
            dict.fromkeys(
                [c.licence for c in colls if c.licence] + ([str(ref.attrs["licence"])] if sources else [])
            )
        ),
        "citations": " | ".join(
            dict.fromkeys(
                [c.citation for c in colls if c.citation] + ([str(ref.attrs["citation"])] if sources else [])
            )
        ),
    }
    return ds
