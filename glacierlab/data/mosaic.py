"""Mosaic several rasters (e.g. DEM strips of different dates) onto one target grid."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr
from rasterio.enums import Resampling

from glacierlab.data.rasters import bounds_overlap
from glacierlab.errors import GridError
from glacierlab.geo import on_grid_of
from glacierlab.quiet import quiet_third_party


@quiet_third_party
def to_grid(
    da: xr.DataArray, like: xr.DataArray, resampling: Resampling = Resampling.bilinear
) -> xr.DataArray:
    """Reproject ``da`` (``(band, y, x)`` or ``(y, x)``) onto the grid of ``like``; NaN outside its footprint.

    Args:
        da: Source raster with a CRS (integer data is converted to float32 first).
        like: Target grid (CRS, transform, shape).
        resampling: GDAL resampling (bilinear for DEMs, nearest for classes).

    Returns:
        float32 array on ``like``'s grid.

    Raises:
        GridError: Missing CRS, or ``da`` does not overlap ``like``.
    """
    if da.rio.crs is None or like.rio.crs is None:
        raise GridError("both rasters need a CRS to be put on one grid; set one with `.rio.write_crs(epsg)`.")
    if not bounds_overlap(like, da):
        name = da.attrs.get("source") or da.attrs.get("sources") or da.name or "the raster"
        raise GridError(
            f"source {name!r} (bounds {da.rio.bounds()} in {da.rio.crs}) does "
            f"not overlap the target grid (bounds {like.rio.bounds()} in {like.rio.crs}); "
            "choose sources that cover the same area."
        )
    attrs = dict(da.attrs)
    src = da.astype(np.float32) if da.dtype != np.float32 else da
    src = src.rio.write_nodata(np.nan, encoded=False)
    out: xr.DataArray = src.rio.reproject_match(like, resampling=resampling, nodata=np.nan, num_threads=2)
    out.attrs = attrs
    return out


@quiet_third_party
def mosaic_on_grid(
    arrays: Sequence[xr.DataArray],
    like: xr.DataArray,
    resampling: Resampling = Resampling.bilinear,
) -> tuple[xr.DataArray, dict[str, float]]:
    """Fill a target grid from several single-band rasters in priority order (first valid value wins).

    Gaps that no raster covers stay NaN (they are not interpolated).

    Args:
        arrays: Single-band ``(1, y, x)`` or ``(y, x)`` rasters, highest priority first. Rasters that do
            not overlap the grid are skipped (and reported with a 0 share).
        like: Target grid.
        resampling: Resampling used for each raster. Once every pixel is filled, the remaining rasters
            are not read.

    Returns:
        ``(mosaic, shares)``: the ``(y, x)`` float32 mosaic on ``like``'s grid (attrs
        ``valid_fraction`` in [0, 1] and ``sources``), and the fraction of grid pixels each input filled
        (keyed by its ``attrs["source"]`` or position).

    Raises:
        GridError: If no raster overlaps the grid.
    """
    shape = (like.sizes["y"], like.sizes["x"])
    acc = np.full(shape, np.nan, dtype=np.float32)
    shares: dict[str, float] = {}
    used = []
    for i, da in enumerate(arrays):
        key = str(da.attrs.get("source", i))
        if "band" in da.dims:
            da = da.isel(band=0, drop=True)
        if not bounds_overlap(like, da) or not np.isnan(acc).any():
            shares[key] = 0.0  # outside the grid, or nothing left to fill
            continue
        vals = to_grid(da, like, resampling).values
        fill = np.isnan(acc) & np.isfinite(vals)
        acc[fill] = vals[fill]
        shares[key] = float(fill.mean())
        used.append(key)
    if not used:
        raise GridError(
            f"none of the rasters {list(shares)} overlaps the target grid (bounds {like.rio.bounds()} "
            f"in {like.rio.crs}); choose sources covering this area."
        )
    out = xr.DataArray(acc, coords={"y": like["y"], "x": like["x"]}, dims=("y", "x"))
    out = on_grid_of(out, like)
    out.attrs.update({"valid_fraction": float(np.isfinite(acc).mean()), "sources": ",".join(used)})
    return out, shares


def blank_grid(bbox: Sequence[float], resolution: float = 30.0) -> xr.DataArray:
    """An empty ``(y, x)`` grid over a lon/lat box in its local UTM zone (edges snapped to ``resolution``).

    Used to rasterise outlines of scenes that hold no raster at all (so every catalog region stacks).

    Args:
        bbox: ``(lon_min, lat_min, lon_max, lat_max)`` in EPSG:4326.
        resolution: Pixel size in metres (> 0).

    Returns:
        float32 zeros with ``x``/``y`` pixel-centre coordinates, CRS and transform set.

    Raises:
        GridError: A non-positive resolution or a box of more than 100 million pixels.
    """
    from rasterio.transform import from_origin
    from rasterio.warp import transform_bounds

    from glacierlab.geo import georeference, utm_epsg

    if not resolution > 0:
        raise GridError(f"resolution must be > 0 metres, got {resolution}")
    lon0, lat0, lon1, lat1 = bbox
    epsg = utm_epsg((lon0 + lon1) / 2, (lat0 + lat1) / 2)
    x0, y0, x1, y1 = transform_bounds("EPSG:4326", f"EPSG:{epsg}", lon0, lat0, lon1, lat1, densify_pts=21)
    x0, y0 = np.floor(x0 / resolution) * resolution, np.floor(y0 / resolution) * resolution
    x1, y1 = np.ceil(x1 / resolution) * resolution, np.ceil(y1 / resolution) * resolution
    nx, ny = int(round((x1 - x0) / resolution)), int(round((y1 - y0) / resolution))
    if nx * ny > 100_000_000:
        raise GridError(
            f"a {resolution} m grid over {tuple(bbox)} has {nx} x {ny} px; pass a smaller bbox or a coarser grid."
        )
    da = xr.DataArray(
        np.zeros((ny, nx), np.float32),
        dims=("y", "x"),
        coords={"y": y1 - resolution * (np.arange(ny) + 0.5), "x": x0 + resolution * (np.arange(nx) + 0.5)},
    )
    return georeference(da, f"EPSG:{epsg}", from_origin(x0, y1, resolution, resolution))
