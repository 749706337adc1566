"""Read STAC items onto one grid: the box's local-UTM grid, raw assets, reflectance and elevation.

Raw assets go through the cache; reflectance is scaled and cloud-masked.

Cache modes (``cache=`` of :func:`load_item`) are described in :mod:`glacierlab.data.stac_cache`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pystac
import rasterio
import rioxarray  # noqa: F401  (registers .rio: georeference() below needs it in a fresh interpreter)
import xarray as xr
from odc.geo.geobox import GeoBox
from rasterio.warp import transform_bounds

from glacierlab.data.catalog import StacCollection, StacMask
from glacierlab.data.stac_cache import (
    cached_asset,
    is_remote,
    public_https,
    read_error,
    read_window,
    stac_cache_dir,
    window_key,
    write_window,
)
from glacierlab.data.stac_scaling import scaling
from glacierlab.errors import ConfigError, GlacierLabError, StacError, unknown_name
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


def _local_item(item: pystac.Item, assets: Sequence[str]) -> pystac.Item:
    """A copy of ``item`` whose read assets have absolute hrefs and no self link to resolve them against.

    Real items carry a ``self`` link (``https://.../items/<id>``); pystac resolves an absolute local path
    such as a cached file against it (``https://host/tmp/...``), so hrefs are made absolute here once.
    """
    out = item.clone()
    for a in assets:
        href = item.assets[a].href
        if href.startswith("file://"):
            href = pystac.utils.make_posix_style(href[len("file://"):])
        elif not (is_remote(href) or Path(href).is_absolute()):
            href = item.assets[a].get_absolute_href() or href
        out.assets[a].href = href
    out.remove_links("self")
    return out


def _odc_load(
    item: pystac.Item,
    assets: Sequence[str],
    grid: GeoBox,
    resampling: Mapping[str, str],
    patch_url: Callable[[str], str] | None,
    lazy: bool,
    unsigned: bool = False,
) -> xr.DataArray:
    import odc.stac

    from glacierlab.data.stac_reader import NamedReadDriver

    item = _local_item(item, assets)
    if lazy:  # check every asset opens now, so access errors show at load time rather than at compute
        for a in assets:
            _probe(item, a, patch_url, unsigned)
    # a read error inside a dask task (computed later, by the user) is a StacError naming item and asset
    driver = NamedReadDriver(item.id, {a: item.assets[a].href for a in assets})
    env = {"AWS_NO_SIGN_REQUEST": "YES"} if unsigned else {}
    with quiet(), rasterio.Env(**env):  # scoped to this read, not process-wide
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
                driver=driver,
            )
        except GlacierLabError:
            raise
        except Exception as exc:  # noqa: BLE001 - rasterio, GDAL, HTTP and odc errors: one clear StacError
            raise read_error(item.id, list(assets), [item.assets[a].href for a in assets], exc) from exc
    stacked = xr.concat([ds[a].isel(time=0, drop=True) for a in assets], dim="band")
    return _as_array(stacked, assets, grid)


def _probe(item: pystac.Item, asset: str, patch_url: Callable[[str], str] | None, unsigned: bool) -> None:
    """Open one asset's header (as odc-stac will) so that access errors name the item, asset and remedy."""
    href = item.assets[asset].href
    url = patch_url(href) if patch_url else href
    env = {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR"}  # as odc-stac reads: no listing of the folder
    if unsigned:
        env["AWS_NO_SIGN_REQUEST"] = "YES"
    try:
        with quiet(), rasterio.Env(**env), rasterio.open(url):
            pass
    except Exception as exc:  # noqa: BLE001 - any open failure means the lazy read would fail
        raise read_error(item.id, [asset], [href], exc) from exc


@quiet_third_party
def load_item(
    item: pystac.Item,
    assets: Sequence[str],
    grid: GeoBox,
    *,
    resampling: Mapping[str, str] | None = None,
    cache: CacheMode = "windows",
    sign: Callable[[str], str] | None = None,
    s3_public: bool = False,
) -> xr.DataArray:
    """Read some assets of one STAC item onto a grid, through the cache.

    Args:
        item: The STAC item.
        assets: Asset keys to read (one band each).
        grid: Target grid (:func:`bbox_geobox`).
        resampling: Per asset key: ``"nearest"`` (default), ``"bilinear"``, ``"cubic"``...
        cache: ``"windows"``, ``"assets"`` or ``"none"`` (see the module docstring).
        sign: Optional href -> URL function (Planetary Computer signing), applied at read time only.
        s3_public: The item's ``s3://`` assets lie in a public bucket: read them unsigned (GDAL
            ``AWS_NO_SIGN_REQUEST=YES`` scoped to this read; lazy reads and downloads use the bucket's
            public HTTPS address, because odc-stac does not carry that option into its dask tasks).

    Returns:
        ``(band, y, x)`` float32 DataArray, ``band`` = asset keys, raw values (no scaling), NaN outside the
        item's footprint, CRS and transform set. Lazy (dask) for ``"assets"`` and ``"none"``.

    Raises:
        UnknownNameError: An asset key is not in the item.
        StacError: An asset could not be downloaded, opened or read (names the item, asset and remedy).
    """
    if cache not in CACHE_MODES:
        raise unknown_name("STAC cache mode", cache, CACHE_MODES)
    for a in assets:
        if a not in item.assets:
            raise unknown_name(f"asset of item {item.id!r}", a, item.assets, "Fix the catalog band map.")
    rs = dict(resampling or {})
    https = public_https if s3_public else None
    if cache == "assets":
        item = _local_item(item, assets)  # absolute hrefs first: a local path must not meet the self link
        for a in assets:
            item.assets[a].href = cached_asset(item.assets[a].href, sign, https=https, item_id=item.id, asset=a)
        return _odc_load(item, assets, grid, rs, None, lazy=True)
    if cache == "none":
        chain = _chain(https, sign)
        return _odc_load(item, assets, grid, rs, chain, lazy=True)
    key = window_key(item, assets, grid, rs)
    cached = read_window(key)
    if cached is not None:
        return _as_array(cached, assets, grid)
    if offline() and any(is_remote(item.assets[a].href) for a in assets):
        raise StacError(f"item {item.id!r} (assets {list(assets)}) over this grid is not in the STAC cache "
                        f"{stac_cache_dir()} and GLACIERLAB_OFFLINE is set; unset it or use local GeoTIFFs "
                        "(stack_from_arrays).")
    da = _odc_load(item, assets, grid, rs, sign, lazy=False, unsigned=s3_public)
    values = np.asarray(da.values, dtype=np.float32)
    write_window(key, values)
    return _as_array(values, assets, grid)


def _chain(*fns: Callable[[str], str] | None) -> Callable[[str], str] | None:
    """``href -> fn_n(...fn_1(href))`` of the given functions (None when none is given)."""
    used = [f for f in fns if f is not None]
    if not used:
        return None

    def run(href: str) -> str:
        for f in used:
            href = f(href)
        return href

    return run


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
    sign: Callable[[str], str] | None = None,
) -> xr.DataArray:
    """One optical item on the grid as reflectance, NaN where masked (cloud, shadow, no data, outside).

    Reflectance = DN * scale + offset with the collection's ``dn_rule``
    (:func:`glacierlab.data.stac_scaling.scaling`), applied once; stored nodata -> NaN.

    Args:
        item: The STAC item.
        coll: Its catalog collection (band map, DN rule, mask rule).
        grid: Target grid (:func:`bbox_geobox`).
        resampling: For the reflectance bands (the mask band always uses nearest).
        cache: See :mod:`glacierlab.data.stac_cache`.
        sign: Optional href -> URL function (Planetary Computer signing), applied at read time.

    Returns:
        ``(band, y, x)`` float32 reflectance (0..~1), bands = model names present in the collection's band
        map, model order; ``attrs["dn_rule"]`` says which rule scaled it.

    Raises:
        StacError: The item's metadata contradicts the rule, or an asset could not be read.
    """
    names = [b for b in OPTICAL_BANDS if b in coll.bands]
    assets = [coll.bands[b] for b in names]
    rules = [scaling(item, a, coll) for a in assets]  # refuses before anything is downloaded
    extra = [coll.mask.asset] if coll.mask else []
    raw = load_item(item, assets + extra, grid, resampling={a: resampling for a in assets}, cache=cache,
                    sign=sign, s3_public=coll.s3_public)
    bands = []
    for a, rule in zip(assets, rules, strict=True):
        dn = raw.sel(band=a, drop=True)
        bands.append((dn.where(dn != rule.nodata) if rule.nodata is not None else dn) * rule.scale + rule.offset)
    refl = xr.concat(bands, dim="band").assign_coords(band=names).astype(np.float32)
    valid = refl.notnull().all("band")
    if coll.mask:
        valid = valid & ~_unusable(raw.sel(band=coll.mask.asset, drop=True), coll.mask)
    out = georeference(refl.where(valid), str(grid.crs), grid.affine)
    out.attrs["dn_rule"] = rules[0].rule
    return out


def item_elevation(item: pystac.Item, coll: StacCollection, grid: GeoBox, *, cache: CacheMode = "windows",
                   sign: Callable[[str], str] | None = None) -> xr.DataArray:
    """A DEM item's ``elevation`` asset on the grid (bilinear), in metres, NaN = no data; ``(y, x)`` float32.

    Public ``s3://`` assets (catalog ``s3_public``) are read unsigned; ``sign`` signs hrefs at read time.
    """
    asset = coll.bands["elevation"]
    rule = scaling(item, asset, coll)
    raw = load_item(item, [asset], grid, resampling={asset: "bilinear"}, cache=cache, sign=sign,
                    s3_public=coll.s3_public)
    raw = raw.sel(band=asset, drop=True)
    return ((raw.where(raw != rule.nodata) if rule.nodata is not None else raw) * rule.scale
            + rule.offset).astype(np.float32)
