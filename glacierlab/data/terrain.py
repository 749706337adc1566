"""Terrain derivatives of DEMs (slope), with the pixel size taken from the CRS."""

from __future__ import annotations

import numpy as np
import xarray as xr

from glacierlab.errors import GridError
from glacierlab.geo import on_grid_of
from glacierlab.quiet import quiet_third_party


def _metres_per_degree(lat_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Length of one degree of longitude and latitude (m) on the WGS84 ellipsoid at ``lat_deg``."""
    phi = np.deg2rad(lat_deg)
    m_lat = 111132.954 - 559.822 * np.cos(2 * phi) + 1.175 * np.cos(4 * phi)
    m_lon = 111412.84 * np.cos(phi) - 93.5 * np.cos(3 * phi) + 0.118 * np.cos(5 * phi)
    return m_lon, m_lat


def pixel_size_m(dem: xr.DataArray) -> tuple[np.ndarray, np.ndarray]:
    """Pixel width and height in metres, per row (so geographic grids get latitude-dependent widths).

    Args:
        dem: A georeferenced (rioxarray) array.

    Returns:
        ``(dx, dy)``, each of shape ``(ny, 1)``, in metres (positive).

    Raises:
        GridError: No CRS, or a projected CRS whose unit is not linear.
    """
    crs = dem.rio.crs
    if crs is None:
        raise GridError(
            "the DEM has no CRS, so its pixel size in metres is unknown; set one with "
            "`dem.rio.write_crs(epsg)` before computing slope."
        )
    rx, ry = (abs(float(r)) for r in dem.rio.resolution())
    ny = dem.sizes["y"]
    if crs.is_geographic:
        lat = np.asarray(dem["y"].values, dtype=np.float64)
        m_lon, m_lat = _metres_per_degree(lat)
        return (rx * m_lon).reshape(ny, 1), (ry * m_lat).reshape(ny, 1)
    factor = crs.linear_units_factor[1] if crs.is_projected else None
    if factor is None:
        raise GridError(
            f"cannot derive a metric pixel size from CRS {crs}; reproject the DEM to a projected CRS."
        )
    return np.full((ny, 1), rx * factor), np.full((ny, 1), ry * factor)


@quiet_third_party
def slope_degrees(dem: xr.DataArray) -> xr.DataArray:
    """Slope in degrees from a DEM in metres, by central differences (``numpy.gradient``).

    Projected CRSs use their pixel size (converted to metres by the CRS unit). Geographic CRSs
    (e.g. SRTM in EPSG:4326) are converted with the local metres per degree of the WGS84 ellipsoid
    at each row's latitude, so they are accepted, not rejected. NaN (no data) propagates to the
    neighbouring pixels; edges use one-sided differences.

    Args:
        dem: ``(y, x)`` or ``(1, y, x)`` elevations in metres with a CRS (rioxarray).

    Returns:
        ``(y, x)`` float32 slope in [0, 90] degrees with the DEM's coords and CRS; attrs ``units="deg"``.

    Raises:
        GridError: No CRS or a non-metric projected CRS.
        ValueError: More than one band or fewer than 2 pixels along an axis.
    """
    if "band" in dem.dims:
        if dem.sizes["band"] != 1:
            raise ValueError(
                f"slope needs a single-band DEM, got {dem.sizes['band']} bands; "
                "select one with .sel(band=...)"
            )
        dem = dem.squeeze("band", drop=True)
    if dem.sizes["y"] < 2 or dem.sizes["x"] < 2:
        raise ValueError(f"slope needs at least 2x2 pixels, got {dem.sizes['y']}x{dem.sizes['x']}")
    dx, dy = pixel_size_m(dem)
    z = np.asarray(dem.values, dtype=np.float64)
    gy, gx = np.gradient(z)
    slope = np.degrees(np.arctan(np.hypot(gx / dx, gy / dy))).astype(np.float32)
    out = xr.DataArray(
        slope,
        coords={"y": dem["y"], "x": dem["x"]},
        dims=("y", "x"),
        name="slope",
        attrs={"units": "deg", "long_name": "slope"},
    )
    return on_grid_of(out, dem)
