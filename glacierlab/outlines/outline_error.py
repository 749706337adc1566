"""Area uncertainty of dated outlines from their own source, and of the change between two of them.

Method and references: ``docs/area_uncertainty.md`` ("Outlines of other dates"). In short:

* **vector outlines** (manual / semi-automatic): a relative 1-sigma area error per source kind from the
  literature (:data:`REL_SD`: Paul et al. 2013; Pfeffer et al. 2014), or the measured inter-analyst
  spread where a series has same-date pairs;
* **gridded extents**: the boundary lies somewhere in its boundary cells, so its position error is
  uniform over ± half a cell of the *source's own* grid (the ± half-pixel buffer of Granshaw & Fountain
  2006 and Paul et al. 2013/2017, read as the bounds of a uniform error): 1 sigma = cell / sqrt(12). The
  boundary length is the staircase length times pi/4 (the mean ratio of a straight line's length to its
  4-connected staircase over all orientations), and the error is taken as fully correlated along the
  boundary (no averaging out: conservative);
* **change between two extents on one grid** (same source, same cells): where the two boundaries
  coincide the boundary cells are classified identically on both dates (correlation 1), so their error
  cancels in the difference; only the boundary where the outlines differ carries error, independent
  between the dates. Extents from different sources or grids combine their whole errors independently
  and the step is flagged as a **source change** (not read as ice change).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely

#: Mean ratio of a boundary's true length to its 4-connected pixel staircase (random orientation).
STAIRCASE = float(np.pi / 4)

#: Relative 1-sigma area error of vector outlines by kind, with its source.
REL_SD: dict[str, tuple[float, str]] = {
    "manual": (0.05, "clean-ice outlines, multiple digitisation, Paul et al. 2013 (Ann. Glaciol. 54(63))"),
    "inventory": (0.05, "RGI outlines, Pfeffer et al. 2014 (J. Glaciol. 60(221))"),
}


def cell_sd_m(cell_m: float) -> float:
    """1-sigma boundary position error (m) of an extent gridded at ``cell_m`` metres: ``cell / sqrt(12)``."""
    if not cell_m > 0:
        raise ValueError(f"cell_m must be > 0; got {cell_m!r}.")
    return float(cell_m / np.sqrt(12.0))


def boundary_length_m(geom: Any, *, gridded: bool) -> float:
    """Length (m) of a polygon's boundary; a gridded one's staircase is shortened by :data:`STAIRCASE`."""
    length = float(shapely.length(shapely.boundary(geom))) if not shapely.is_empty(geom) else 0.0
    return length * STAIRCASE if gridded else length


def differing_boundary_m(a: Any, b: Any, tolerance_m: float, *, gridded: bool) -> float:
    """Length (m) of ``a``'s boundary farther than ``tolerance_m`` from ``b``'s boundary (both metric)."""
    if shapely.is_empty(a):
        return 0.0
    ring = shapely.boundary(a)
    if not shapely.is_empty(b):
        ring = shapely.difference(ring, shapely.buffer(shapely.boundary(b), tolerance_m))
    length = float(shapely.length(ring))
    return length * STAIRCASE if gridded else length


def change_sd_km2(
    a: Any,
    b: Any,
    *,
    sd_a_km2: float,
    sd_b_km2: float,
    pos_sd_a_m: float | None,
    pos_sd_b_m: float | None,
    one_grid: bool,
    cell_m: float = 0.0,
) -> tuple[float, float]:
    """1-sigma error (km²) of the area change from ``a`` to ``b`` and the boundary length (km) it comes from.

    Args:
        a: Earlier (multi)polygon, metric CRS.
        b: Later (multi)polygon, same CRS.
        sd_a_km2: 1-sigma area error of ``a`` alone (used when the two are not on one grid).
        sd_b_km2: Same for ``b``.
        pos_sd_a_m: 1-sigma boundary position error of ``a`` (m) when gridded, else None.
        pos_sd_b_m: Same for ``b``.
        one_grid: Both come from one source on the same cells: errors correlated where boundaries coincide.
        cell_m: The common cell size (m) when ``one_grid``.

    Returns:
        ``(sigma_km2, differing_boundary_km)``; the boundary length is NaN when the errors are independent.
    """
    if not (one_grid and pos_sd_a_m and pos_sd_b_m and cell_m > 0):
        return float(np.hypot(sd_a_km2, sd_b_km2)), float("nan")
    tol = 0.01 * cell_m  # boundaries on one grid coincide exactly; the tolerance absorbs float noise only
    la = differing_boundary_m(a, b, tol, gridded=True)
    lb = differing_boundary_m(b, a, tol, gridded=True)
    return float(np.hypot(la * pos_sd_a_m, lb * pos_sd_b_m) / 1e6), (la + lb) / 2e3
