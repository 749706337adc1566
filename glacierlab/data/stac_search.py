"""STAC search: find scenes over a box and a date window, ranked end-of-ablation-season first, then by clouds.

Endpoints and collections come from ``data_catalog.yaml`` (``stac_endpoints``); results are cached
(:func:`glacierlab.data.stac_cache.cached_search`) and reused when the endpoint cannot be reached.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import pystac

from glacierlab.data.catalog import Catalog, StacCollection, StacEndpoint, load_catalog
from glacierlab.data.stac_cache import cached_search
from glacierlab.errors import ConfigError, NoDataError, unknown_name
from glacierlab.geo import BBox

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
    sign: str = "none"  # the endpoint's signing mode (glacierlab.data.stac_cache.signer), used at read time

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


def default_collections(ep: StacEndpoint, role: str = "optical") -> tuple[str, ...]:
    """The collections of ``ep`` with ``role`` marked ``default: true`` in the catalog (ConfigError if none)."""
    found = tuple(c.id for c in ep.collections if c.role == role and c.default)
    if not found:
        raise ConfigError(f"endpoint {ep.id!r} marks no {role} collection as default; pass collections=("
                          f"{', '.join(repr(c.id) for c in ep.collections if c.role == role)}).")
    return found


def collection_of(ep: StacEndpoint, cid: str, role: str) -> StacCollection:
    """The collection ``cid`` of endpoint ``ep`` with role ``"optical"`` or ``"dem"`` (UnknownNameError)."""
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
    collections: Sequence[str] | None = None,
    max_cloud: float = 30.0,
    season: Season = "prefer",
    max_items: int = 200,
    catalog: Catalog | None = None,
) -> list[StacScene]:
    """Find optical scenes over a box and rank them.

    The API is asked for its least cloudy scenes first where it declares the sort extension
    (:func:`glacierlab.data.stac_api.search_params`). Scenes returned twice (same tile and acquisition time,
    different processing, e.g. Earth Search's ``_0_L2A``/``_1_L2A``) are reduced to one, the newest processing
    baseline, before ranking (:func:`dedupe`).

    Ranking: in the end-of-ablation season (:func:`ablation_months` of the box centre) first when
    ``season="prefer"``; then scene cloud cover (ascending, unknown last); then the later date.

    Args:
        bbox: ``(lon_min, lat_min, lon_max, lat_max)`` in EPSG:4326.
        dates: Date window ``"YYYY-MM-DD/YYYY-MM-DD"`` or ``(start, end)``, inclusive.
        endpoint: A ``stac_endpoints`` id of the catalog or a :class:`StacEndpoint`.
        collections: Optical collection ids of that endpoint (e.g. ``"landsat-c2-l2"``); None = the
            endpoint's default ones (Earth Search: ``sentinel-2-c1-l2a``, Collection 1).
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
    box, window = BBox.parse(bbox), _dates(dates)
    if season not in SEASONS:
        raise unknown_name("season", season, SEASONS)
    if not 0 <= max_cloud <= 100:
        raise ConfigError(f"max_cloud is a percentage in [0, 100], got {max_cloud}")
    ep = get_endpoint(endpoint, catalog)
    collections = tuple(collections) if collections is not None else default_collections(ep)
    months = ablation_months((box[1] + box[3]) / 2)
    found: list[StacScene] = []
    n_api = 0
    for cid in collections:
        coll = collection_of(ep, cid, "optical")
        params = {
            "bbox": list(box),
            "datetime": window,
            "collections": [cid],
            "max_items": max_items,
            "max_cloud": max_cloud,
        }
        items = dedupe(cached_search(ep, params))
        n_api += len(items)
        for it in items:
            sc = StacScene(it, ep.id, coll, _item_date(it).month in months, ep.sign)
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


def _tile(item: pystac.Item) -> str | None:
    """The item's tile (MGRS or WRS-2) from its properties, None when it does not say."""
    p = item.properties
    for key in ("grid:code", "s2:mgrs_tile", "tile"):
        if p.get(key):
            return str(p[key]).removeprefix("MGRS-")
    if all(p.get(k) is not None for k in ("mgrs:utm_zone", "mgrs:latitude_band", "mgrs:grid_square")):
        return f"{p['mgrs:utm_zone']}{p['mgrs:latitude_band']}{p['mgrs:grid_square']}"
    if p.get("landsat:wrs_path") is not None and p.get("landsat:wrs_row") is not None:
        return f"{int(p['landsat:wrs_path']):03d}{int(p['landsat:wrs_row']):03d}"
    return None


def _processing(item: pystac.Item) -> tuple[int, ...]:
    """Sortable processing version (``s2:processing_baseline`` / ``processing:version``), () if unknown."""
    p = item.properties
    value = p.get("s2:processing_baseline") or p.get("processing:version") or ""
    try:
        return tuple(int(v) for v in str(value).split("."))
    except ValueError:
        return ()


def dedupe(items: list[pystac.Item], tolerance_s: float = 60.0) -> list[pystac.Item]:
    """One item per acquisition (same tile, platform and time), keeping the newest processing.

    The newest processing is the highest baseline, then the later-published item id (``_1_L2A``).

    Earth Search v1 ``sentinel-2-l2a`` returns ESA's reprocessed scenes next to the originals
    (``S2A_32TMT_20200305_0_L2A`` baseline 02.14 and ``..._1_L2A`` baseline 05.00); mosaicking both would mix
    two processings (and, before the rule of :mod:`glacierlab.data.stac_scaling`, two offsets). Items
    without a tile or time are kept as they are. Order of the kept items follows the input.

    Args:
        items: Search results.
        tolerance_s: Acquisition times closer than this (seconds) are the same acquisition; adjacent
            orbits over a high-latitude tile are ~100 minutes apart, so they stay separate.
    """
    groups: list[list[pystac.Item]] = []
    index: dict[tuple[str, str, str], list[list[pystac.Item]]] = {}
    for it in items:
        tile, when = _tile(it), it.datetime
        if tile is None or when is None:
            groups.append([it])
            continue
        key = (it.collection_id or "", tile, str(it.properties.get("platform", "")).lower())
        for g in index.setdefault(key, []):
            first = g[0].datetime
            if first is not None and abs((first - when).total_seconds()) <= tolerance_s:
                g.append(it)
                break
        else:
            index[key].append([it])
            groups.append(index[key][-1])
    return [max(g, key=lambda i: (_processing(i), i.id)) for g in groups]
