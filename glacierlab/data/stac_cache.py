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
from glacierlab.data.stac_api import open_client, search_params
from glacierlab.errors import StacError
from glacierlab.files import atomic_path
from glacierlab.quiet import quiet
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


def public_https(href: str) -> str:
    """The public HTTPS address of an ``s3://bucket/key`` href (other hrefs unchanged).

    For buckets that allow anonymous reads (catalog ``s3_public``): ``https://bucket.s3.amazonaws.com/key``
    serves the same object without AWS credentials.
    """
    parts = urlsplit(href)
    if parts.scheme != "s3":
        return href
    return f"https://{parts.netloc}.s3.amazonaws.com{parts.path}"


def read_error(item_id: str, assets: Sequence[str], hrefs: Sequence[str], exc: BaseException) -> StacError:
    """A :class:`StacError` for a failed read naming the item, the assets, the cause and the remedy."""
    shown = [strip_query(h) for h in hrefs]
    msg = f"{type(exc).__name__}: {str(exc).rstrip('.')}"  # no ".." before the remedy
    if any(h.startswith("s3://") for h in shown):
        fix = ("s3:// assets need AWS access: a public bucket is read unsigned only where data_catalog.yaml "
               "marks the collection s3_public; otherwise set AWS credentials (AWS_ACCESS_KEY_ID/"
               "AWS_SECRET_ACCESS_KEY, AWS_REQUEST_PAYER=requester for requester-pays buckets such as "
               "usgs-landsat; AWS_S3_ENDPOINT for Copernicus Data Space) or use another endpoint "
               "(endpoint='planetary_computer').")
    elif any(is_remote(h) for h in shown):
        fix = ("Check the network and that the URL still exists (signed URLs expire: search again), or use "
               "cache='windows' after one successful read.")
    else:
        fix = "Check that the file exists and is a readable GeoTIFF."
    return StacError(f"could not read asset(s) {list(assets)} of item {item_id!r} ({', '.join(shown)}): "
                     f"{msg}. {fix} {LOCAL_HINT}")


def cached_asset(href: str, sign: Callable[[str], str] | None = None, *,
                 https: Callable[[str], str] | None = None, item_id: str = "?", asset: str = "?") -> str:
    """A local copy of a remote asset, downloaded once into the shared cache (local hrefs are returned as is).

    Args:
        href: The asset href (``http(s)://...``, or ``s3://`` with ``https``); its query string is not part
            of the cache key.
        sign: Optional function turning the href into a downloadable URL (e.g. Planetary Computer signing).
        https: Optional ``s3://`` -> public HTTPS function (:func:`public_https`) for public buckets.
        item_id: The item, for messages.
        asset: The asset key, for messages.

    Returns:
        A local file path.

    Raises:
        StacError: The download failed, the href cannot be downloaded (a non-public ``s3://``), or
            ``GLACIERLAB_OFFLINE`` is set and the file is not cached; the message names item and asset.
    """
    if not is_remote(href):
        return urlsplit(href).path if href.startswith("file://") else href
    key = strip_query(href)
    folder = stac_cache_dir() / "assets" / hashlib.sha256(key.encode()).hexdigest()[:24]
    name = Path(urlsplit(key).path).name or "asset"
    if (folder / name).is_file():
        return str(folder / name)
    if offline():
        raise StacError(f"asset {asset!r} of item {item_id!r} ({key}) is not in the cache {folder} and "
                        "GLACIERLAB_OFFLINE is set; unset it or use local GeoTIFFs (stack_from_arrays).")
    url = https(href) if https else href
    if urlsplit(url).scheme not in ("http", "https", "ftp"):
        raise read_error(item_id, [asset], [href], ValueError(
            "cache='assets' downloads over HTTP(S) only; use cache='windows' or 'none' (GDAL reads s3://)"))
    url = sign(url) if sign else url
    try:
        logger, level = pooch.get_logger(), pooch.get_logger().level
        logger.setLevel("WARNING")  # no "use this known_hash" hint: hrefs have no published sha256
        try:
            path = pooch.retrieve(url, known_hash=None, fname=name, path=folder, progressbar=False)
        finally:
            logger.setLevel(level)
    except Exception as exc:  # noqa: BLE001 - any transport error means "not available"
        raise StacError(
            f"could not download asset {asset!r} of item {item_id!r} ({key}): {type(exc).__name__}: {exc}. "
            "Check the network, or use cache='none' to read it remotely, or local GeoTIFFs with "
            "glacierlab.data.stack.stack_from_arrays."
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


def signer(mode: str, endpoint_id: str = "?") -> Callable[[str], str] | None:
    """The href -> URL signing function of an endpoint's ``sign`` mode, or None (``"none"``).

    ``"planetary_computer"``: :func:`planetary_computer.sign` (its SAS tokens are cached in memory by the
    package and fetched again when they expire, so every read gets a valid token). Hrefs are signed at read
    time only; search results are cached unsigned.

    Raises:
        StacError: The optional package ``planetary-computer`` is not installed (``pip install
            glacierlab[stac]``).
    """
    if mode != "planetary_computer":
        return None
    try:
        with quiet():
            import planetary_computer
    except ImportError as exc:
        raise StacError(
            f"endpoint {endpoint_id!r} needs Planetary Computer URL signing, but the package "
            "'planetary-computer' is not installed: pip install planetary-computer (or glacierlab[stac]), "
            "or use endpoint='earth_search'."
        ) from exc

    def sign(href: str) -> str:
        return str(planetary_computer.sign(strip_query(href)))  # an old (expired) token is dropped first

    return sign


def _unsigned(items: list[pystac.Item]) -> list[pystac.Item]:
    """Items with every asset href's query string (signing tokens) removed, for the search cache."""
    for it in items:
        for a in it.assets.values():
            if is_remote(a.href):
                if "sig=" in urlsplit(a.href).query:
                    a.href = strip_query(a.href)
    return items


def cached_search(ep: StacEndpoint, params: dict[str, Any]) -> list[pystac.Item]:
    """Run one ``pystac_client`` item search; cache the result and reuse it when the endpoint fails.

    The cached result is also used when ``GLACIERLAB_OFFLINE`` is set. Asset hrefs are cached unsigned
    (tokens expire); :func:`signer` signs them when they are read.

    Args:
        ep: The endpoint.
        params: ``pystac_client.Client.search`` keywords (``bbox``, ``datetime``, ``collections``,
            ``max_items``, ``limit``, ``sortby``, ``query`` or ``filter``...), or a callable-free dict built
            by :func:`search_params`.

    Raises:
        StacError: The endpoint failed and no earlier result of the same search is cached; the message
            names the endpoint and how to use local data instead.
    """
    key = hashlib.sha256(json.dumps([ep.url, params], sort_keys=True).encode()).hexdigest()[:32]
    path = stac_cache_dir() / "search" / f"{key}.json"
    signer(ep.sign, ep.id)  # a missing signing package is said now, not after the search
    try:
        if offline():
            raise StacError("GLACIERLAB_OFFLINE is set")
        with quiet():
            client = open_client(ep)
            items = _unsigned(list(client.search(**search_params(client, params)).items()))
    except Exception as exc:  # noqa: BLE001 - transport, HTTP and JSON errors all mean "endpoint failed"
        if path.is_file():
            with quiet():
                return list(pystac.ItemCollection.from_file(str(path)))
        raise StacError(
            f"STAC endpoint {ep.id!r} ({ep.url}) failed: {type(exc).__name__}: {exc}. No earlier result of "
            f"this search is cached in {path.parent}. {LOCAL_HINT}"
        ) from exc
    with atomic_path(path, overwrite=True) as tmp:
        tmp.write_text(json.dumps(pystac.ItemCollection(items).to_dict()))
    return items
