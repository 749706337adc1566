"""Load STAC assets onto one grid through a shared on-disk cache (so a workshop fetches each scene once).

Cache modes (``cache=`` of :func:`load_item`):

* ``"windows"`` (default): each item's bands, read and resampled onto the requested grid, are stored as
  one ``.npy`` per item and grid under ``<GLACIERLAB_CACHE_DIR>/stac/windows/``. The key is the item id,
  the asset hrefs without their query string (signing tokens differ per user), the bands, the grid and
  the resampling, so everyone who asks for the same scene over the same box reads the local file.
* ``"assets"``: whole asset files are downloaded once with pooch into ``<cache>/stac/assets/`` (keyed by
  href without query) and read lazily from there; best for DEM tiles and small scenes.
* ``"none"``: read lazily over HTTP range requests (GDAL ``/vsicurl``), nothing stored.

Point ``GLACIERLAB_CACHE_DIR`` of all users of a hub at one group-writable folder to share the cache;
files are written to a temporary name and renamed, so concurrent readers never see partial files.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pooch
import pystac
from odc.geo.geobox import GeoBox

from glacierlab.data.catalog import StacEndpoint
from glacierlab.errors import StacError
from glacierlab.files import atomic_path
from glacierlab.settings import cache_dir, offline

log = logging.getLogger(__name__)

_VERSION = "1"  # bump when the window file layout changes
LOCAL_HINT = (
    "To work without this endpoint use local data: a catalog region (glacierlab.data.stack.stack_region), your "
    "own GeoTIFFs and outlines (glacierlab.data.stack.stack_from_arrays), or a local STAC API mirror added to "
    "stac_endpoints in data_catalog.yaml (endpoint=...)."
)


def stac_cache_dir() -> Path:
    """The STAC cache folder: ``<GLACIERLAB_CACHE_DIR>/stac`` (see :func:`glacierlab.data.download.cache_dir`)."""
    return cache_dir() / "stac"


def strip_query(href: str) -> str:
    """An href without query string and fragment (drops signing tokens such as ``?st=...&sig=...``)."""
    parts = urlsplit(href)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def is_remote(href: str) -> bool:
    """Whether an href needs the network (``http(s)://``, ``s3://``, ``gs://``...), not a local file."""
    scheme = urlsplit(href).scheme
    return len(scheme) > 1 and scheme != "file"


def cached_asset(href: str, sign: Callable[[str], str] | None = None) -> str:
    """A local copy of a remote asset, downloaded once into the shared cache (local hrefs are returned as is).

    Args:
        href: The asset href (``http(s)://...``); its query string is not part of the cache key.
        sign: Optional function turning the href into a downloadable URL (e.g. Planetary Computer signing).

    Returns:
        A local file path.

    Raises:
        StacError: The download failed or ``GLACIERLAB_OFFLINE`` is set and the file is not cached.
    """
    if not is_remote(href):
        return urlsplit(href).path if href.startswith("file://") else href
    key = strip_query(href)
    folder = stac_cache_dir() / "assets" / hashlib.sha256(key.encode()).hexdigest()[:24]
    name = Path(urlsplit(key).path).name or "asset"
    if (folder / name).is_file():
        return str(folder / name)
    if offline():
        raise StacError(f"asset {key} is not in the cache {folder} and GLACIERLAB_OFFLINE is set.")
    url = sign(href) if sign else href
    try:
        logger, level = pooch.get_logger(), pooch.get_logger().level
        logger.setLevel("WARNING")  # no "use this known_hash" hint: hrefs have no published sha256
        try:
            path = pooch.retrieve(url, known_hash=None, fname=name, path=folder, progressbar=False)
        finally:
            logger.setLevel(level)
    except Exception as exc:  # noqa: BLE001 - any transport error means "not available"
        raise StacError(
            f"could not download asset {key} ({type(exc).__name__}: {exc}). Check the network, or use "
            "cache='none' to read it remotely, or local GeoTIFFs with glacierlab.data.stack.stack_from_arrays."
        ) from exc
    return str(path)


def window_key(item: pystac.Item, assets: Sequence[str], grid: GeoBox, resampling: Mapping[str, str]) -> str:
    """Cache key of one item's assets on one grid (sha256 hex of a canonical JSON description)."""
    desc = {
        "v": _VERSION,
        "item": item.id,
        "collection": item.collection_id,
        "hrefs": [strip_query(item.assets[a].href) for a in assets],
        "assets": list(assets),
        "crs": str(grid.crs),
        "affine": list(grid.affine)[:6],
        "shape": list(grid.shape),
        "resampling": {a: resampling.get(a, "nearest") for a in assets},
    }
    return hashlib.sha256(json.dumps(desc, sort_keys=True).encode()).hexdigest()


def _window_path(key: str) -> Path:
    return stac_cache_dir() / "windows" / f"{key}.npy"


def read_window(key: str) -> np.ndarray | None:
    """The cached ``(band, y, x)`` float32 window of :func:`window_key` ``key``, or None when absent."""
    path = _window_path(key)
    if not path.is_file():
        return None
    try:
        return np.asarray(np.load(path, allow_pickle=False))
    except (OSError, ValueError):
        log.warning("STAC window cache file %s is unreadable (truncated?): deleting it, reading again", path)
        path.unlink(missing_ok=True)
        return None


def write_window(key: str, values: np.ndarray) -> None:
    """Store a window under ``key`` (atomically: concurrent readers never see a partial file)."""
    with atomic_path(_window_path(key), overwrite=True) as tmp:
        np.save(tmp, values, allow_pickle=False)


def _modifier(ep: StacEndpoint) -> Callable[[Any], Any] | None:
    if ep.sign != "planetary_computer":
        return None
    try:
        import planetary_computer
    except ImportError as exc:
        raise StacError(
            f"endpoint {ep.id!r} needs Planetary Computer URL signing, but the package 'planetary-computer' "
            "is not installed: pip install planetary-computer, or use endpoint='earth_search'."
        ) from exc
    return planetary_computer.sign_inplace  # type: ignore[no-any-return]


def cached_search(ep: StacEndpoint, params: dict[str, Any]) -> list[pystac.Item]:
    """Run one ``pystac_client`` item search; cache the result and reuse it when the endpoint fails.

    The cached result is also used when ``GLACIERLAB_OFFLINE`` is set.

    Raises:
        StacError: The endpoint failed and no earlier result of the same search is cached; the message
            names the endpoint and how to use local data instead.
    """
    key = hashlib.sha256(json.dumps([ep.url, params], sort_keys=True).encode()).hexdigest()[:32]
    path = stac_cache_dir() / "search" / f"{key}.json"
    try:
        if offline():
            raise StacError("GLACIERLAB_OFFLINE is set")
        from pystac_client import Client

        client = Client.open(ep.url, modifier=_modifier(ep))
        items = list(client.search(**params).items())
    except Exception as exc:  # noqa: BLE001 - transport, HTTP and JSON errors all mean "endpoint failed"
        if isinstance(exc, StacError) and "planetary-computer" in str(exc):
            raise
        if path.is_file():
            return list(pystac.ItemCollection.from_file(str(path)))
        raise StacError(
            f"STAC endpoint {ep.id!r} ({ep.url}) failed: {type(exc).__name__}: {exc}. No earlier result of "
            f"this search is cached in {path.parent}. {LOCAL_HINT}"
        ) from exc
    with atomic_path(path, overwrite=True) as tmp:
        tmp.write_text(json.dumps(pystac.ItemCollection(items).to_dict()))
    return items
