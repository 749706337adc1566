"""Georeferencing, one home for it: the validated lon/lat :class:`BBox`, the local UTM zone, transforms.

Everything here is plain pyproj / rioxarray; nothing imports torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar, cast

from glacierlab.errors import GridError, InputError
from glacierlab.quiet import quiet

if TYPE_CHECKING:
    import xarray as xr

_Geo = TypeVar("_Geo", "xr.DataArray", "xr.Dataset")


class BBox(NamedTuple):
    """A lon/lat box in degrees (EPSG:4326), validated by :meth:`parse`; it unpacks like a 4-tuple.

    ``lon_min < lon_max`` in [-180, 180] and ``lat_min < lat_max`` in [-90, 90].
    """

    lon_min: float
    lat_min: float
    lon_max: float
    lat_max: float

    @classmethod
    def parse(cls, value: Sequence[float] | str, what: str = "bbox") -> BBox:
        """Validate ``(lon_min, lat_min, lon_max, lat_max)`` (or the text ``"x0,y0,x1,y1"``).

        Raises:
            InputError: Not four finite numbers, inverted, empty or outside the globe; the message
                names the value and the expected form.
        """
        form = f"{what} must be (lon_min, lat_min, lon_max, lat_max) in degrees with min < max"
        try:
            parts = value.split(",") if isinstance(value, str) else list(value)
            nums = [float(v) for v in parts]
        except (TypeError, ValueError) as exc:
            raise InputError(f"{form}, got {value!r}") from exc
        if len(nums) != 4 or not all(math.isfinite(v) for v in nums):
            raise InputError(f"{form}, got {value!r}")
        x0, y0, x1, y1 = nums
        if not (-180 <= x0 < x1 <= 180 and -90 <= y0 < y1 <= 90):
            raise InputError(f"{form} (lon in [-180, 180], lat in [-90, 90]), got {tuple(nums)}")
        return cls(x0, y0, x1, y1)

    @property
    def centre(self) -> tuple[float, float]:
        """(lon, lat) of the box centre in degrees."""
        return (self.lon_min + self.lon_max) / 2, (self.lat_min + self.lat_max) / 2

    def intersects(self, other: Sequence[float]) -> bool:
        """Whether two boxes overlap (touching edges do not count)."""
        return (
            self.lon_min < other[2] and other[0] < self.lon_max and self.lat_min < other[3] and other[1] < self.lat_max
        )


def utm_epsg(lon: float, lat: float) -> int:
    """EPSG code of the WGS84 UTM zone holding a point, as pyproj's UTM query returns it.

    Computed from the zone arithmetic (6° strips; UTM's area of use 80°S-84°N), not by querying pyproj's
    database (0.15 s a call): a point on a strip edge belongs to the lower zone, as the query's first hit.
    ``tests/test_geo.py`` checks both agree on a grid of points, edges included.

    Args:
        lon: Longitude in degrees (-180..180).
        lat: Latitude in degrees (-90..90).

    Returns:
        ``326zz`` north of the equator, ``327zz`` south of it.
    """
    eps = 1e-9
    want = 32600 if lat >= 0 else 32700
    if -80.0 - eps <= lat <= 84.0 + eps:  # the UTM CRSs' area of use: the lowest strip touching the point
        return want + min(max(int((lon - eps + 180.0) // 6.0) + 1, 1), 60)
    return want + min(int((lon + 180.0) // 6.0) + 1, 60)  # poles: no UTM there; keep the plain zone


def lonlat_problem(gdf: Any) -> str:
    """Why a GeoDataFrame's coordinates cannot be in its lon/lat CRS (``""`` when they can, or it is projected)."""
    from pyproj import CRS

    if gdf.crs is None or not CRS.from_user_input(gdf.crs).is_geographic or gdf.empty:
        return ""
    x0, y0, x1, y1 = (float(v) for v in gdf.total_bounds)
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
        return ""
    if x0 < -180.000001 or x1 > 360.000001 or y0 < -90.000001 or y1 > 90.000001:
        return f"bounds ({x0:.6g}, {y0:.6g}, {x1:.6g}, {y1:.6g})"
    return ""


def check_lonlat(gdf: Any, what: str = "outlines") -> None:
    """Refuse geometries whose lon/lat CRS is impossible for their coordinates.

    A GeoJSON written in UTM metres is read as EPSG:4326 (the GeoJSON standard's CRS); its areas and
    rasterised masks would be silently wrong.

    Raises:
        GridError: Naming ``what``, the bounds and the fix.
    """
    from pyproj import CRS

    problem = lonlat_problem(gdf)
    if problem:
        raise GridError(
            f"{what} are in the lon/lat CRS {CRS.from_user_input(gdf.crs).to_string()} but their {problem} "
            "are not degrees: they look like projected metres (e.g. UTM). GeoJSON is always read as "
            "EPSG:4326; re-export the file with its real CRS (a GeoPackage keeps it), or pass crs=<the "
            "EPSG code the coordinates are in> (read_outlines(path, crs=...), gdf.set_crs(..., "
            "allow_override=True))."
        )


def rio_transform(obj: Any) -> Any:
    """``obj.rio.transform()`` (an ``affine.Affine``) without affine 3's PendingDeprecationWarning.

    rioxarray 0.19 multiplies transforms with ``*``, which affine 3 deprecates in favour of ``@``; the
    warning is not ours to fix, and tests run with warnings as errors.
    """
    with quiet():
        return obj.rio.transform()


def georeference(obj: _Geo, crs: Any, transform: Any) -> _Geo:
    """``obj`` with a CRS (skipped when None) and an affine pixel-to-map transform written (rioxarray)."""
    with quiet():
        out = obj.rio.write_crs(crs) if crs is not None else obj
        return cast("_Geo", out.rio.write_transform(transform))


def on_grid_of(obj: _Geo, like: xr.DataArray | xr.Dataset) -> _Geo:
    """``obj`` georeferenced with the CRS and transform of ``like`` (same pixel grid)."""
    return georeference(obj, like.rio.crs, rio_transform(like))


def crs_label(crs: Any) -> str:
    """A short human name of a CRS for labels and tables: ``"EPSG:32645"``, else the CRS's own name.

    A custom CRS (e.g. OGGM's local transverse Mercator) would otherwise print as a whole WKT string.

    Args:
        crs: Anything pyproj accepts (rasterio CRS, EPSG code, WKT...), or None.

    Returns:
        ``"EPSG:<code>"`` when the CRS has one, else its name (at most 60 characters), ``"no CRS"`` for None.
    """
    if crs is None:
        return "no CRS"
    from pyproj import CRS

    parsed = CRS.from_user_input(crs)
    code = parsed.to_epsg()
    if code is not None:
        return f"EPSG:{code}"
    name = parsed.name or "custom CRS"
    return name if len(name) <= 60 else name[:57] + "..."
