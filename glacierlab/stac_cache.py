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
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pooch
import pystac
import xarray as xr
from odc.geo.geobox import GeoBox
from rasterio.errors import RasterioError
from rasterio.warp import transform_bounds

from glacierlab.catalog import OPTICAL_BANDS, StacCollection, StacEndpoint, StacMask
from glacierlab.errors import ConfigError, StacError
from glacierlab.fetch import cache_dir
from glacierlab.rasters import quiet_third_party

CacheMode = Literal["windows", "assets", "none"]
CACHE_MODES: tuple[str, ...] = ("windows", "assets", "none")
BBox = tuple[float, float, float, float]
_VERSION = "1"  # bump when the window file layout changes
_LOCAL_HINT = (
    "To work without this endpoint use local data: a catalog region (glacierlab.stack.stack_region), your "
    "own GeoTIFFs and outlines (glacierlab.stack.stack_from_arrays), or a local STAC API mirror added to "
    "stac_endpoints in data_catalog.yaml (endpoint=...)."
)
_SHAPELY_NOISE = r"The 'shapely\.ops\.transform\(\)' function is deprecated"


def stac_cache_dir() -> Path:
    """The STAC cache folder: ``<GLACIERLAB_CACHE_DIR>/stac`` (see :func:`glacierlab.fetch.cache_dir`)."""
    return cache_dir() / "stac"


def strip_query(href: str) -> str:
    """An href without query string and fragment (drops signing tokens such as ``?st=...&sig=...``)."""
    parts = urlsplit(href)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def is_remote(href: str) -> bool:
    """Whether an href needs the network (``http(s)://``, ``s3://``, ``gs://``...), not a local file."""
    scheme = urlsplit(href).scheme
    return len(scheme) > 1 and scheme != "file"


def utm_epsg(lon: float, lat: float) -> int:
    """EPSG code of the WGS84 UTM zone holding a point (standard 6-degree zones, no Norway exceptions).

    Args:
        lon: Longitude in degrees (-180..180).
        lat: Latitude in degrees (-90..90).

    Returns:
        ``326zz`` north of the equator, ``327zz`` south of it.
    """
    zone = min(int((lon + 180.0) // 6.0) + 1, 60)
    return (32600 if lat >= 0 else 32700) + zone


@quiet_third_party
def make_grid(bbox: BBox, resolution: float = 10.0, crs: int | None = None) -> GeoBox:
    """The pixel grid covering a lon/lat box: local UTM (or ``crs``) at ``resolution`` metres.

    Edges snap outwards to multiples of the resolution, so equal boxes give equal grids (and cache keys).

    Args:
        bbox: ``(lon_min, lat_min, lon_max, lat_max)`` in EPSG:4326.
        resolution: Pixel size in units of the CRS (metres for UTM), > 0.
        crs: EPSG code of the output CRS (default: the UTM zone of the box centre).

    Returns:
        An ``odc.geo`` GeoBox.

    Raises:
        ConfigError: Non-positive resolution or an empty box.
    """
    if not resolution > 0:
        raise ConfigError(f"resolution must be > 0 (metres), got {resolution}")
    x0, y0, x1, y1 = bbox
    if not (x0 < x1 and y0 < y1):
        raise ConfigError(f"bbox must be (lon_min, lat_min, lon_max, lat_max) with min < max, got {bbox}")
    epsg = crs or utm_epsg((x0 + x1) / 2, (y0 + y1) / 2)
    bounds = transform_bounds("EPSG:4326", f"EPSG:{epsg}", *bbox, densify_pts=21)
    return GeoBox.from_bbox(bounds, crs=f"EPSG:{epsg}", resolution=resolution)


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
    if os.environ.get("GLACIERLAB_OFFLINE", "") not in ("", "0"):
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
            "cache='none' to read it remotely, or local GeoTIFFs with glacierlab.stack.stack_from_arrays."
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


def _as_array(values: np.ndarray | xr.DataArray, assets: Sequence[str], grid: GeoBox) -> xr.DataArray:
    a = grid.affine
    ny, nx = grid.shape
    coords = {
        "band": list(assets),
        "y": a.f + a.e * (np.arange(ny) + 0.5),
        "x": a.c + a.a * (np.arange(nx) + 0.5),
    }
    data = values.data if isinstance(values, xr.DataArray) else values
    da = xr.DataArray(data, coords=coords, dims=("band", "y", "x"))
    return da.rio.write_crs(str(grid.crs)).rio.write_transform(a)


def _odc_load(
    item: pystac.Item,
    assets: Sequence[str],
    grid: GeoBox,
    resampling: Mapping[str, str],
    patch_url: Callable[[str], str] | None,
    lazy: bool,
) -> xr.DataArray:
    import odc.stac

    with warnings.catch_warnings():
        # odc-geo 0.5.3 calls shapely.ops.transform, deprecated in shapely 2.2: third-party noise.
        warnings.filterwarnings("ignore", message=_SHAPELY_NOISE, category=DeprecationWarning)
        try:
            ds = odc.stac.load(
                [item],
                bands=list(assets),
                geobox=grid,
                groupby="id",
                dtype="float32",
                resampling=dict(resampling),
                chunks={} if lazy else None,
                patch_url=patch_url,
            )
        except RasterioError as exc:
            hrefs = ", ".join(strip_query(item.assets[a].href) for a in assets)
            raise StacError(
                f"could not read assets {list(assets)} of item {item.id!r} ({hrefs}): {exc}. {_LOCAL_HINT}"
            ) from exc
    stacked = xr.concat([ds[a].isel(time=0, drop=True) for a in assets], dim="band")
    return _as_array(stacked, assets, grid)


@quiet_third_party
def load_item(
    item: pystac.Item,
    assets: Sequence[str],
    grid: GeoBox,
    *,
    resampling: Mapping[str, str] | None = None,
    cache: CacheMode = "windows",
    sign: Callable[[str], str] | None = None,
) -> xr.DataArray:
    """Read some assets of one STAC item onto a grid, through the cache.

    Args:
        item: The STAC item.
        assets: Asset keys to read (one band each).
        grid: Target grid (:func:`make_grid`).
        resampling: Per asset key: ``"nearest"`` (default), ``"bilinear"``, ``"cubic"``...
        cache: ``"windows"``, ``"assets"`` or ``"none"`` (see the module docstring).
        sign: Optional href -> URL function (Planetary Computer signing).

    Returns:
        ``(band, y, x)`` float32 DataArray, ``band`` = asset keys, raw values (no scaling), NaN outside the
        item's footprint, CRS and transform set. Lazy (dask) for ``"assets"`` and ``"none"``.

    Raises:
        UnknownNameError: An asset key is not in the item.
        StacError: A download failed.
    """
    from glacierlab.errors import unknown_name

    if cache not in CACHE_MODES:
        raise unknown_name("STAC cache mode", cache, CACHE_MODES)
    for a in assets:
        if a not in item.assets:
            raise unknown_name(f"asset of item {item.id!r}", a, item.assets, "Fix the catalog band map.")
    rs = dict(resampling or {})
    if cache == "assets":
        item = item.clone()
        for a in assets:
            item.assets[a].href = cached_asset(item.assets[a].href, sign)
        return _odc_load(item, assets, grid, rs, None, lazy=True)
    if cache == "none":
        return _odc_load(item, assets, grid, rs, sign, lazy=True)
    path = stac_cache_dir() / "windows" / f"{window_key(item, assets, grid, rs)}.npy"
    if path.is_file():
        try:
            return _as_array(np.load(path, allow_pickle=False), assets, grid)
        except (OSError, ValueError):
            path.unlink(missing_ok=True)  # truncated by a crash: read again below
    if os.environ.get("GLACIERLAB_OFFLINE", "") not in ("", "0") and any(
        is_remote(item.assets[a].href) for a in assets
    ):
        raise StacError(f"item {item.id!r} over this grid is not in the cache {path.parent} and "
                        "GLACIERLAB_OFFLINE is set; unset it or use local GeoTIFFs (stack_from_arrays).")
    da = _odc_load(item, assets, grid, rs, sign, lazy=False)
    values = np.asarray(da.values, dtype=np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npy")
    np.save(tmp, values, allow_pickle=False)
    os.replace(tmp, path)
    return _as_array(values, assets, grid)


def _scaling(item: pystac.Item, asset: str, coll: StacCollection) -> tuple[float, float, float | None]:
    """(scale, offset, nodata) of one asset: the item's raster:bands first, then the catalog."""
    rb = (item.assets[asset].extra_fields.get("raster:bands") or [{}])[0]
    nodata = rb.get("nodata", coll.nodata)
    if "scale" in rb or "offset" in rb:
        return float(rb.get("scale", 1.0)), float(rb.get("offset", 0.0)), nodata
    offset = coll.offset
    baseline = str(item.properties.get("s2:processing_baseline", "0"))
    if coll.id.startswith("sentinel-2") and baseline >= "04.00":
        offset -= 1000 * coll.scale  # BOA_ADD_OFFSET of processing baseline 04.00+
    return coll.scale, offset, nodata


def _unusable(m: xr.DataArray, rule: StacMask) -> xr.DataArray:
    """True where a mask band (SCL classes or QA bits) marks cloud, shadow or no data (NaN too)."""
    if rule.kind == "classes":
        return m.isin(list(rule.invalid)) | m.isnull()
    bits = sum(1 << b for b in rule.invalid)
    return ((m.fillna(1).astype(np.int64) & bits) != 0) | m.isnull()


def item_reflectance(
    item: pystac.Item,
    coll: StacCollection,
    grid: GeoBox,
    *,
    resampling: str = "bilinear",
    cache: CacheMode = "windows",
) -> xr.DataArray:
    """One optical item on the grid as reflectance, NaN where masked (cloud, shadow, no data, outside).

    Args:
        item: The STAC item.
        coll: Its catalog collection (band map, scale/offset, mask rule).
        grid: Target grid (:func:`glacierlab.stac_cache.make_grid`).
        resampling: For the reflectance bands (the mask band always uses nearest).
        cache: See :mod:`glacierlab.stac_cache`.

    Returns:
        ``(band, y, x)`` float32, bands = model names present in the collection's band map, model order.
    """
    names = [b for b in OPTICAL_BANDS if b in coll.bands]
    assets = [coll.bands[b] for b in names]
    extra = [coll.mask.asset] if coll.mask else []
    raw = load_item(item, assets + extra, grid, resampling={a: resampling for a in assets}, cache=cache)
    bands = []
    for a in assets:
        scale, offset, nodata = _scaling(item, a, coll)
        dn = raw.sel(band=a, drop=True)
        bands.append((dn.where(dn != nodata) if nodata is not None else dn) * scale + offset)
    refl = xr.concat(bands, dim="band").assign_coords(band=names).astype(np.float32)
    valid = refl.notnull().all("band")
    if coll.mask:
        valid = valid & ~_unusable(raw.sel(band=coll.mask.asset, drop=True), coll.mask)
    out = refl.where(valid)
    return out.rio.write_crs(str(grid.crs)).rio.write_transform(grid.affine)


def item_elevation(item: pystac.Item, coll: StacCollection, grid: GeoBox, *, cache: CacheMode = "windows"
                   ) -> xr.DataArray:
    """A DEM item's ``elevation`` asset on the grid (bilinear), scaled, NaN = no data; ``(y, x)`` float32."""
    asset = coll.bands["elevation"]
    raw = load_item(item, [asset], grid, resampling={asset: "bilinear"}, cache=cache)
    raw = raw.sel(band=asset, drop=True)
    scale, offset, nodata = _scaling(item, asset, coll)
    return ((raw.where(raw != nodata) if nodata is not None else raw) * scale + offset).astype(np.float32)


def _modifier(ep: StacEndpoint) -> Callable[[Any], Any] | None:
    if ep.sign != "planetary_computer":
        return None
    try:
        import planetary_computer  # type: ignore[import-not-found]
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
    offline = os.environ.get("GLACIERLAB_OFFLINE", "") not in ("", "0")
    try:
        if offline:
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
            f"this search is cached in {path.parent}. {_LOCAL_HINT}"
        ) from exc
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(pystac.ItemCollection(items).to_dict()))
    os.replace(tmp, path)
    return items
