"""Glacier area with an uncertainty interval from calibrated glacier probabilities (docs/area_uncertainty.md).

A unit (a glacier, a region, a block) covers pixels ``U`` of area ``a`` each. With ``p_i`` the calibrated
probability that pixel ``i`` is glacier:

* **expected area** ``E = a Σ_U p_i``;
* **error model**: the residual ``r_i = y_i − p_i`` (``y`` = 1 glacier, 0 not) has mean 0 and variance
  ``p_i (1 − p_i)`` when the probabilities are calibrated, and residuals of pixels ``d`` pixels apart are
  correlated with ``ρ(d) = exp(−d / L)``: ``Var(A) = a² Σ_{i,j∈U} s_i s_j ρ(d_ij)``, ``s = sqrt(p (1 − p))``.
  Independent pixels (``L = 0``) would make a 100 km² glacier's area known to a few pixels; real map
  errors come in patches (a missed debris tongue, a snow field), which ``L`` describes;
* ``L`` is fitted on held-out pixels with a reference (validation blocks) so that the model's variance
  of the residual sum matches the observed squared residual sums of square tiles of several sizes
  (:func:`fit_length`); nothing is fitted where the interval is later checked (test blocks);
* **interval** at level ``q``: ``E ± z_q σ`` (normal), clipped to ``[0, a·n]``.

All functions work on (H, W) arrays of one grid; areas are in km² from the pixel area the caller gives.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import ndimage

from glacierlab.errors import GridError, InputError

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd
    import xarray as xr

    from glacierlab.contract.calibration import Calibrator

#: Interval levels reported by default (1 sigma, 90 %, 95 %).
LEVELS = (0.68, 0.9, 0.95)
#: Square tile sides (pixels) whose residual sums fit the correlation length.
FIT_TILES = (8, 16, 32, 64)


@dataclass(frozen=True)
class AreaErrorModel:
    """Spatially correlated area error of a calibrated glacier probability map.

    Attributes:
        length_px: e-folding length ``L`` (pixels) of the residual correlation ``exp(−d / L)``; 0 means
            independent pixels.
        calibration: Calibrator behind the probabilities (``"kernel_ridge"``, ``"isotonic"``,
            ``"temperature"`` or ``"none"``).
        fitted_on: What ``L`` was fitted on (e.g. "validation blocks of everest").
        pixels_fit: Labelled pixels used for the fit.
        at_bound: True when the fit hit the search bound (the residuals are more correlated than any
            ``L`` tried: intervals are too narrow).
    """

    length_px: float
    calibration: str = "none"
    fitted_on: str = ""
    pixels_fit: int = 0
    at_bound: bool = False

    def __post_init__(self) -> None:
        if not np.isfinite(self.length_px) or self.length_px < 0:
            raise InputError(f"length_px must be a finite number >= 0; got {self.length_px!r}.")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AreaErrorModel:
        """Inverse of :meth:`to_dict`."""
        return cls(**{k: d[k] for k in ("length_px", "calibration", "fitted_on", "pixels_fit", "at_bound")})


def glacier_probability(probability: np.ndarray, calibrator: Calibrator | None = None) -> np.ndarray:
    """Calibrated probability that each pixel is glacier, from the model's glacier probability.

    The checkpoint's calibrators map the confidence of the predicted class to P(predicted class is right)
    (:mod:`glacierlab.contract.calibration`); the glacier probability is that value where the model says
    glacier (p > 0.5) and one minus it elsewhere.

    Args:
        probability: Raw glacier probability in [0, 1], any shape; NaN = no data (stays NaN).
        calibrator: A fitted calibrator, or None to use the raw probability.

    Returns:
        float64 array of the same shape with values in [0, 1].
    """
    p = np.asarray(probability, dtype=np.float64)
    if calibrator is None:
        return np.clip(p, 0.0, 1.0)
    from glacierlab.contract.confidence import confidence

    c = np.asarray(calibrator(confidence(p, calibrator.convention)), dtype=np.float64)
    out = np.where(p > 0.5, c, 1.0 - c)
    return np.where(np.isfinite(p), np.clip(out, 0.0, 1.0), np.nan)


def correlation_kernel(length_px: float, radius: int) -> np.ndarray:
    """``exp(−d / L)`` on a ``(2 radius + 1)²`` pixel grid (the centre is 1); a delta when ``L`` is 0."""
    y, x = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    if length_px <= 0:
        return ((x == 0) & (y == 0)).astype(np.float64)
    return np.asarray(np.exp(-np.hypot(x, y) / length_px))


def _quad_form(sd: np.ndarray, length_px: float) -> np.ndarray:
    """``Σ_ij s_i s_j ρ(d_ij)`` of each (…, h, w) block of ``sd`` (zeros outside the unit), in pixels²."""
    if length_px <= 0:
        return np.asarray((sd**2).sum(axis=(-2, -1)))
    h, w = sd.shape[-2:]
    radius = int(min(max(h, w) - 1, np.ceil(12 * length_px)))
    k = correlation_kernel(length_px, radius)
    if sd.ndim == 3:
        k = k[None]
    from scipy.signal import fftconvolve  # 2 s to import: only where an interval is computed

    conv = fftconvolve(sd, k, mode="same", axes=(-2, -1))
    return np.asarray(np.maximum((sd * conv).sum(axis=(-2, -1)), 0.0))


def _sd(p: np.ndarray) -> np.ndarray:
    q = np.nan_to_num(np.asarray(p, dtype=np.float64), nan=0.0)
    return np.sqrt(np.clip(q * (1.0 - q), 0.0, None))


def unit_variance(p: np.ndarray, unit: np.ndarray, length_px: float) -> float:
    """Variance (pixels²) of the glacier pixel count of one unit under the error model.

    Args:
        p: (H, W) calibrated glacier probability (NaN = no data, contributes nothing).
        unit: (H, W) bool pixels of the unit.
        length_px: Correlation length ``L`` in pixels.
    """
    m = np.asarray(unit, dtype=bool) & np.isfinite(p)
    if not m.any():
        return 0.0
    rows, cols = np.nonzero(m)
    sl = (slice(rows.min(), rows.max() + 1), slice(cols.min(), cols.max() + 1))
    return float(_quad_form(np.where(m[sl], _sd(p[sl]), 0.0), length_px))


def z_of(level: float) -> float:
    """The z of a two-sided normal interval at ``level`` in (0, 1) (0.95 -> 1.96, 0.9 -> 1.645)."""
    if not 0 < level < 1:
        raise InputError(f"level must lie in (0, 1), e.g. 0.95; got {level!r}.")
    return NormalDist().inv_cdf(0.5 + level / 2)


def interval(expected: Any, sd: Any, level: float, upper: Any = np.inf) -> tuple[np.ndarray, np.ndarray]:
    """Normal interval ``expected ± z sd`` at ``level`` (e.g. 0.9), clipped to ``[0, upper]``."""
    z = z_of(level)
    e, s = np.asarray(expected, dtype=np.float64), np.asarray(sd, dtype=np.float64)
    return np.clip(e - z * s, 0.0, upper), np.clip(e + z * s, 0.0, upper)


def area_table(
    p: np.ndarray,
    labels: np.ndarray,
    ids: Sequence[Any],
    model: AreaErrorModel,
    pixel_area_km2: float,
    *,
    level: float = 0.9,
    index_name: str = "glacier",
) -> pd.DataFrame:
    """Expected area, standard deviation and interval for every labelled unit.

    Args:
        p: (H, W) calibrated glacier probability (NaN = no data).
        labels: (H, W) int unit labels: ``k`` (1-based) is ``ids[k - 1]``, 0 belongs to no unit.
        ids: Unit ids in label order.
        model: The error model.
        pixel_area_km2: Area of one pixel (km²).
        level: Interval level in (0, 1).
        index_name: Name of the index (e.g. ``"RGIId"``).

    Returns:
        DataFrame indexed by id: ``pixels`` (with data), ``expected_km2``, ``sd_km2``, ``low_km2``,
        ``high_km2`` (the ``level`` interval); ``attrs["level"]``.
    """
    import pandas as pd

    lab = np.asarray(labels)
    if lab.shape != np.shape(p):
        raise InputError(f"labels {lab.shape} and probability {np.shape(p)} must be on one grid.")
    finite = np.isfinite(p)
    rows = []
    objects = ndimage.find_objects(np.where(finite, lab, 0).astype(np.int64), max_label=len(ids))
    for k, sl in enumerate(objects, start=1):
        if sl is None:
            rows.append((0, 0.0, 0.0))
            continue
        m = (lab[sl] == k) & finite[sl]
        sd = np.where(m, _sd(p[sl]), 0.0)
        var = float(_quad_form(sd, model.length_px))
        rows.append((int(m.sum()), float(np.where(m, p[sl], 0.0).sum()), float(np.sqrt(var))))
    n, e, s = (np.array(c, dtype=np.float64) for c in zip(*rows, strict=True)) if rows else (np.zeros(0),) * 3
    low, high = interval(e, s, level, upper=n)
    out = pd.DataFrame(
        {
            "pixels": n.astype(np.int64),
            "expected_km2": e * pixel_area_km2,
            "sd_km2": s * pixel_area_km2,
            "low_km2": low * pixel_area_km2,
            "high_km2": high * pixel_area_km2,
        },
        index=pd.Index(list(ids), name=index_name),
    )
    out.attrs["level"] = level
    return out


def region_area(
    p: np.ndarray, model: AreaErrorModel, pixel_area_km2: float, *, level: float = 0.9, valid: np.ndarray | None = None
) -> dict[str, float]:
    """Expected glacier area of all pixels with data (or of ``valid``) with its ``level`` interval (km²)."""
    m = np.isfinite(p) if valid is None else np.asarray(valid, bool) & np.isfinite(p)
    t = area_table(p, m.astype(np.int32), ["region"], model, pixel_area_km2, level=level)
    row = t.iloc[0]
    return {k: float(row[k]) for k in ("expected_km2", "sd_km2", "low_km2", "high_km2")} | {
        "pixels": int(row["pixels"]),
        "level": level,
    }


def _tiles(valid: np.ndarray, size: int, min_fill: float = 0.9) -> list[tuple[slice, slice]]:
    h, w = valid.shape
    out = []
    for i in range(0, h - size + 1, size):
        for j in range(0, w - size + 1, size):
            sl = (slice(i, i + size), slice(j, j + size))
            if valid[sl].mean() >= min_fill:
                out.append(sl)
    return out


def fit_length(
    p: np.ndarray,
    reference: np.ndarray,
    area: np.ndarray,
    *,
    tiles: Sequence[int] = FIT_TILES,
    bounds: tuple[float, float] = (0.25, 400.0),
    min_tiles: int = 4,
) -> tuple[float, bool, int]:
    """Fit the correlation length ``L`` so the model explains the residual sums of square tiles.

    For each tile side ``T`` in ``tiles``, the square tiles of ``area`` (at least 90 % labelled) give the
    observed ``O_T = Σ_t (Σ_{i∈t} y_i − p_i)²`` and the model's ``V_T(L) = Σ_t Var_t(L)``. ``L`` solves
    ``Σ_T log(O_T / V_T(L)) = 0`` (bisection on log L; ``V`` grows with ``L``).

    Args:
        p: (H, W) calibrated glacier probability (NaN = no data).
        reference: (H, W) labels: 1 glacier, 0 ice-free, anything else no data.
        area: (H, W) bool pixels to fit on (e.g. validation blocks).
        tiles: Tile sides in pixels; sides with fewer than ``min_tiles`` tiles are skipped.
        bounds: Search interval for ``L`` in pixels.
        min_tiles: Fewest tiles a side needs to count.

    Returns:
        ``(L, at_bound, pixels)``: the length (0 when even independent pixels over-explain the residuals),
        whether it hit the upper bound, and the labelled pixels used.

    Raises:
        InputError: Shapes differ, or no tile size has enough tiles (area too small).
    """
    p = np.asarray(p, dtype=np.float64)
    ref = np.asarray(reference)
    if not (p.shape == ref.shape == np.shape(area)):
        raise InputError(f"p {p.shape}, reference {ref.shape} and area {np.shape(area)} must have one shape.")
    valid = np.asarray(area, bool) & np.isfinite(p) & ((ref == 0) | (ref == 1))
    resid = np.where(valid, (ref == 1) - np.nan_to_num(p), 0.0)
    sd = np.where(valid, _sd(p), 0.0)
    groups = []
    for size in tiles:
        sls = _tiles(valid, size)
        if len(sls) >= min_tiles:
            observed = float(sum(resid[sl].sum() ** 2 for sl in sls))
            groups.append((observed, np.stack([sd[sl] for sl in sls])))
    if not groups:
        raise InputError(
            f"the fitting area has fewer than {min_tiles} labelled tiles of any side in {tuple(tiles)} px; "
            "fit on a larger area (more validation blocks)."
        )

    def gap(length: float) -> float:
        return float(sum(np.log(o / max(_quad_form(s, length).sum(), 1e-12)) for o, s in groups))

    lo, hi = np.log(bounds[0]), np.log(bounds[1])
    if gap(0.0) <= 0:
        return 0.0, False, int(valid.sum())
    if gap(float(np.exp(hi))) > 0:
        return float(bounds[1]), True, int(valid.sum())
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if gap(float(np.exp(mid))) > 0 else (lo, mid)
    return float(np.exp(0.5 * (lo + hi))), False, int(valid.sum())


def pixel_area_km2(grid: xr.DataArray | xr.Dataset) -> float:
    """Area of one pixel (km²) of a grid in a projected CRS (metres)."""
    crs = grid.rio.crs
    if crs is None or not crs.is_projected:
        raise GridError(
            f"areas need a projected grid in metres; this grid's CRS is {crs}. Reproject it first "
            "(e.g. stack_region(..., like=<a UTM grid>))."
        )
    rx, ry = grid.rio.resolution()
    return abs(rx * ry) / 1e6


def glacier_zones(
    inventory: gpd.GeoDataFrame, like: xr.DataArray, id_col: str, *, max_distance_m: float = 300.0
) -> tuple[np.ndarray, list[Any]]:
    """Label each pixel with the inventory glacier it belongs to or lies next to.

    Pixels inside an outline take that glacier (overlaps go to the larger glacier, see
    :func:`~glacierlab.outlines.polygons.partition_inventory`); pixels outside every outline but within
    ``max_distance_m`` of one take the nearest glacier, so ice the model finds just beyond an outline
    still counts for that glacier.

    Args:
        inventory: Glacier polygons (any CRS) with ``id_col``.
        like: The grid (rioxarray CRS and transform), projected in metres.
        id_col: Glacier id column.
        max_distance_m: Reach of a glacier's zone beyond its outline (m), >= 0.

    Returns:
        ``(labels, ids)``: (H, W) int32 labels (``k`` = ``ids[k - 1]``, 0 = no glacier) and the ids.
    """
    from rasterio.features import rasterize

    from glacierlab.data.geometry import repair_geometries
    from glacierlab.geo import rio_transform
    from glacierlab.outlines.polygons import partition_inventory

    if max_distance_m < 0:
        raise InputError(f"max_distance_m must be >= 0; got {max_distance_m!r}.")
    pixel_area_km2(like)  # projected grid required
    inv = repair_geometries(inventory[[id_col, inventory.geometry.name]].to_crs(like.rio.crs))
    inv = inv if inv.geometry.name == "geometry" else inv.rename_geometry("geometry")
    inv = partition_inventory(inv[~inv.geometry.is_empty], id_col)
    ids = list(inv[id_col])
    shape = (like.sizes["y"], like.sizes["x"])
    shapes = [(g, k) for k, g in enumerate(inv.geometry, start=1) if not g.is_empty]
    labels = (
        rasterize(shapes, out_shape=shape, transform=rio_transform(like), fill=0, dtype="int32")
        if shapes
        else np.zeros(shape, np.int32)
    )
    if max_distance_m > 0 and labels.any():
        rx, ry = like.rio.resolution()
        dist, (iy, ix) = ndimage.distance_transform_edt(labels == 0, sampling=(abs(ry), abs(rx)), return_indices=True)
        labels = np.where(dist <= max_distance_m, labels[iy, ix], 0).astype(np.int32)
    return labels, ids
