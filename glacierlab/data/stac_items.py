"""Read STAC items onto one grid: the box's local-UTM grid, raw assets, reflectance and elevation.

Raw assets go through the cache; reflectance is scaled and cloud-masked.

Cache modes (``cache=`` of :func:`load_item`) are described in :mod:`glacierlab.data.stac_cache`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Literal

import numpy as np
import pystac
import xarray as xr
from odc.geo.geobox import GeoBox
from rasterio.errors import RasterioError
from rasterio.warp import transform_bounds

from glacierlab.data.catalog import StacCollection, StacMask
from glacierlab.data.stac_cache import (
    LOCAL_HINT,
    cached_asset,
    is_remote,
    read_window,
    stac_cache_dir,
    strip_query,
    window_key,
    write_window,
)
from glacierlab.errors import ConfigError, StacError, unknown_name
from glacierlab.geo import BBox, georeference, utm_epsg
from glacierlab.quiet import quiet, quiet_third_party
from glacierlab.settings import offline
from glacierlab.vocabulary import OPTICAL_BANDS

CacheMode = Literal["windows", "assets", "none"]
CACHE_MODES: tuple[str, ...] = ("windows", "assets", "none")


@quiet_third_party
def bbox_geobox(bbox: BBox, resolution: float = 10.0, crs: int | None = None) -> GeoBox:
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
    return georeference(da, str(grid.crs), a)


def _odc_load(
    item: pystac.Item,
    assets: Sequence[str],
    grid: GeoBox,
    resampling: Mapping[str, str],
    patch_url: Callable[[str], str] | None,
    lazy: bool,
) -> xr.DataArray:
    import odc.stac

    with quiet():
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
                f"could not read assets {list(assets)} of item {item.id!r} ({hrefs}): {exc}. {LOCAL_HINT}"
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
        grid: Target grid (:func:`bbox_geobox`).
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
    key = window_key(item, assets, grid, rs)
    cached = read_window(key)
    if cached is not None:
        return _as_array(cached, assets, grid)
    if offline() and any(is_remote(item.assets[a].href) for a in assets):
        raise StacError(f"item {item.id!r} over this grid is not in the STAC cache {stac_cache_dir()} and "
                        "GLACIERLAB_OFFLINE is set; unset it or use local GeoTIFFs (stack_from_arrays).")
    da = _odc_load(item, assets, grid, rs, sign, lazy=False)
    values = np.asarray(da.values, dtype=np.float32)
    write_window(key, values)
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
        grid: Target grid (:func:`bbox_geobox`).
        resampling: For the reflectance bands (the mask band always uses nearest).
        cache: See :mod:`glacierlab.data.stac_cache`.

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
    return georeference(out, str(grid.crs), grid.affine)


def item_elevation(item: pystac.Item, coll: StacCollection, grid: GeoBox, *, cache: CacheMode = "windows"
                   ) -> xr.DataArray:
    """A DEM item's ``elevation`` asset on the grid (bilinear), scaled, NaN = no data; ``(y, x)`` float32."""
    asset = coll.bands["elevation"]
    raw = load_item(item, [asset], grid, resampling={asset: "bilinear"}, cache=cache)
    raw = raw.sel(band=asset, drop=True)
    scale, offset, nodata = _scaling(item, asset, coll)
    return ((raw.where(raw != nodata) if nodata is not None else raw) * scale + offset).astype(np.float32)
