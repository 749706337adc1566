"""Label layers on a grid: outlines burnt into a 0/1/255 reference, class rasters turned into one."""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import shapely
import xarray as xr
from rasterio.enums import Resampling
from rasterio.features import rasterize
from rasterio.warp import transform_bounds

from glacierlab.data.geometry import repair_geometries, require_crs
from glacierlab.data.mosaic import to_grid
from glacierlab.errors import GridError, InputError
from glacierlab.geo import on_grid_of
from glacierlab.quiet import quiet_third_party
from glacierlab.vocabulary import NODATA

__all__ = ["classes_to_reference", "rasterize_outlines"]


@quiet_third_party
def rasterize_outlines(
    outlines: gpd.GeoDataFrame, like: xr.DataArray, valid: np.ndarray | None = None
) -> xr.DataArray:
    """Burn polygon outlines onto a grid: 1 inside (pixel centre inside, ``all_touched=False``), 0 outside.

    Args:
        outlines: Polygons in any CRS.
        like: Target grid.
        valid: Optional ``(y, x)`` bool array; pixels where it is False become 255 (no data).

    Returns:
        ``(y, x)`` uint8 DataArray (0 ice-free, 1 glacier, 255 no data) with ``like``'s CRS/transform.

    Raises:
        GridError: If the outlines have no CRS, impossible lon/lat coordinates (see
            :func:`glacierlab.geo.check_lonlat`), or lie entirely outside the grid.
        InputError: If a geometry is a point or a line (it has no glacier area to burn in).
    """
    what = f"reference outlines {outlines.attrs.get('source') or outlines.attrs.get('path') or ''}".rstrip()
    require_crs(outlines, what)
    x0, y0, x1, y1 = like.rio.bounds()
    # only outlines whose envelope reaches the grid are repaired, reprojected and burnt (a country-wide
    # inventory on one Landsat clip: 2,000 glaciers, 240,000 vertices, a handful of glaciers on the grid)
    reach = shapely.box(*transform_bounds(like.rio.crs, outlines.crs, x0, y0, x1, y1, densify_pts=21))
    near = outlines.iloc[np.sort(outlines.sindex.query(reach))] if len(outlines) else outlines
    try:
        near = repair_geometries(near)  # a bow-tie burns as the area it encloses
    except InputError as exc:
        raise InputError(f"{what}: {exc} Points and lines have no area to burn in as glacier.") from exc
    shapes = near.to_crs(like.rio.crs).geometry
    if len(outlines) and not shapes.intersects(shapely.box(x0, y0, x1, y1)).any():
        raise GridError(
            f"outlines {outlines.attrs.get('source', '')!r} (bounds "
            f"{tuple(outlines.to_crs(like.rio.crs).total_bounds)}) do not overlap the grid (bounds "
            f"{(x0, y0, x1, y1)} in {like.rio.crs}); choose overlapping sources."
        )
    shape = (like.sizes["y"], like.sizes["x"])
    geoms = [(g, 1) for g in shapes if g is not None and not g.is_empty]
    arr = (
        rasterize(
            geoms, out_shape=shape, transform=like.rio.transform(), fill=0, all_touched=False, dtype="uint8"
        )
        if geoms
        else np.zeros(shape, np.uint8)
    )
    if valid is not None:
        arr[~valid] = NODATA
    return _grid_like(arr, like, "reference")


@quiet_third_party
def classes_to_reference(
    da: xr.DataArray, like: xr.DataArray, glacier_values: Sequence[int], valid: np.ndarray | None = None
) -> xr.DataArray:
    """Turn a class/mask raster into the 0/1/255 reference on ``like``'s grid (nearest resampling).

    Args:
        da: Single-band class raster (any CRS); NaN = no data.
        like: Target grid.
        glacier_values: Class values that mean glacier (e.g. ``[1, 2]`` for SGI2016 clean + debris ice).
        valid: Optional extra validity mask on the target grid.

    Returns:
        ``(y, x)`` uint8: 1 glacier, 0 other classes, 255 no data.
    """
    if "band" in da.dims:
        da = da.isel(band=0, drop=True)
    vals = to_grid(da, like, Resampling.nearest).values
    arr = np.where(np.isin(vals, list(glacier_values)), 1, 0).astype(np.uint8)
    arr[~np.isfinite(vals)] = NODATA
    if valid is not None:
        arr[~valid] = NODATA
    return _grid_like(arr, like, "reference")


def _grid_like(arr: np.ndarray, like: xr.DataArray, name: str) -> xr.DataArray:
    out = xr.DataArray(arr, coords={"y": like["y"].values, "x": like["x"].values}, dims=("y", "x"), name=name)
    return on_grid_of(out, like)
