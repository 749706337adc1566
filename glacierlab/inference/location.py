"""Location inputs of location-encoded models: a fixed region vector, or coordinates per window.

A model with ``location_dim`` 4 (coordinate encoding) gets [sin lat, cos lat, sin lon, cos lon] at each
window's centre; one with 12 (region encoding) gets the region one-hot vector (or region code, e.g.
``"HMA"`` or ``"unknown"``) the user passes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from glacierlab.errors import InputError
from glacierlab.inference.readers import GroupReader


def _coordinates(transform: Any, crs: Any, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Location vectors [sin lat, cos lat, sin lon, cos lon] at (fractional) pixel-edge positions."""
    from pyproj import Transformer

    from glacierlab.models.location import coordinate_vector

    if crs is None:
        raise InputError("location='coordinates' needs a CRS on the inputs to compute latitude/longitude")
    x, y = transform @ (cols, rows)
    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(x, y)
    return coordinate_vector(lat, lon).numpy()


def check_location(location: Any, loc_dim: int) -> np.ndarray | None:
    """The fixed location vector to use (None for coordinates or no encoding); raises on a mismatch."""
    if loc_dim == 0:
        if location is not None:
            raise InputError("this model has no location encoding; leave location=None")
        return None
    if location is None:
        raise InputError(
            f"this model needs a location vector of length {loc_dim}: pass location='coordinates' "
            "(coordinate encoding, L=4), or a region code such as 'HMA' / 'unknown' or the region "
            "one-hot vector (region encoding, L=12)"
        )
    if isinstance(location, str) and location != "coordinates" and loc_dim == 12:
        from glacierlab.models.location import region_vector

        return region_vector(location).numpy()  # a region code, e.g. "HMA" or "unknown"
    if isinstance(location, str):
        if location != "coordinates" or loc_dim != 4:
            raise InputError(
                f"location={location!r} is only valid for coordinate-encoded models (L=4); "
                f"this model has L={loc_dim}; pass a vector of {loc_dim} numbers instead"
            )
        return None
    vec = np.asarray(location, dtype=np.float32).ravel()
    if vec.shape != (loc_dim,) or not np.isfinite(vec).all():
        raise InputError(f"location must be {loc_dim} finite numbers, got {np.asarray(location).tolist()}")
    return vec


def window_locations(
    centres: list[tuple[float, float]], fixed: np.ndarray | None, location: Any, ref: GroupReader
) -> np.ndarray | None:
    """Location vectors for a batch of windows: the fixed vector repeated, coordinates, or None.

    Args:
        centres: Window centres as (row, col) scene pixel coordinates (fractional, may lie outside).
        fixed: The fixed vector of :func:`check_location` (region encoding) or None.
        location: The location option (``"coordinates"`` computes a vector per centre).
        ref: A reader of the scene (its CRS and transform).
    """
    if fixed is not None:
        return np.repeat(fixed[None], len(centres), 0)
    if location != "coordinates":
        return None
    rows = np.array([c[0] for c in centres])
    cols = np.array([c[1] for c in centres])
    return _coordinates(ref.transform, ref.crs, rows, cols)
