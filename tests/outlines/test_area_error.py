"""Area ± uncertainty from calibrated probabilities: the error model, its fit, intervals and glacier zones."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import rioxarray  # noqa: F401  (registers .rio)
import shapely
import xarray as xr
from affine import Affine
from scipy.signal import fftconvolve
from scipy.stats import norm

from glacierlab.contract.calibration import fit_calibrator
from glacierlab.errors import GridError, InputError
from glacierlab.outlines.area_error import (
    AreaErrorModel,
    area_table,
    correlation_kernel,
    fit_length,
    glacier_probability,
    glacier_zones,
    interval,
    pixel_area_km2,
    region_area,
    unit_variance,
)


def test_glacier_probability_uses_the_calibrated_confidence_of_the_predicted_class() -> None:
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 1, 5000)
    truth = rng.uniform(0, 1, 5000) < 0.5 + 0.6 * (p - 0.5)  # the raw model is over-confident
    conf = np.maximum(p, 1 - p)
    cal = fit_calibrator(conf, (p > 0.5) == truth, "isotonic", convention="maxprob")
    q = glacier_probability(np.append(p, np.nan), cal)
    assert np.isnan(q[-1]) and np.all((q[:-1] >= 0) & (q[:-1] <= 1))
    c = cal(conf)
    np.testing.assert_allclose(q[:-1], np.where(p > 0.5, c, 1 - c), atol=1e-6)
    # calibrated: the mean probability matches the glacier share far better than the raw one
    assert abs(q[:-1].mean() - truth.mean()) < 0.02
    np.testing.assert_array_equal(glacier_probability(p), p)  # no calibrator: raw


def test_unit_variance_equals_the_brute_force_quadratic_form() -> None:
    rng = np.random.default_rng(1)
    p = rng.uniform(0, 1, (13, 9))
    p[0, 0] = np.nan
    unit = rng.uniform(0, 1, p.shape) < 0.7
    length = 2.5
    s = np.where(unit & np.isfinite(p), np.sqrt(np.nan_to_num(p) * (1 - np.nan_to_num(p))), 0).ravel()
    yy, xx = np.divmod(np.arange(p.size), p.shape[1])
    d = np.hypot(yy[:, None] - yy[None, :], xx[:, None] - xx[None, :])
    brute = float(s @ np.exp(-d / length) @ s)
    assert unit_variance(p, unit, length) == pytest.approx(brute, rel=1e-9)
    assert unit_variance(p, unit, 0.0) == pytest.approx(float((s**2).sum()), rel=1e-12)
    assert unit_variance(p, np.zeros_like(unit), length) == 0.0


def test_area_table_interval_and_region_area() -> None:
    p = np.full((20, 20), 0.5)
    p[:, 10:] = 1.0  # certain glacier: no spread
    labels = np.zeros((20, 20), np.int32)
    labels[:, :10], labels[:, 10:] = 1, 2
    model = AreaErrorModel(3.0)
    t = area_table(p, labels, ["a", "b"], model, 0.01, level=0.9)
    assert list(t.index) == ["a", "b"] and t.attrs["level"] == 0.9
    assert t.loc["a", "expected_km2"] == pytest.approx(1.0) and t.loc["b", "expected_km2"] == pytest.approx(2.0)
    assert t.loc["b", "sd_km2"] == 0 and t.loc["b", "low_km2"] == t.loc["b", "high_km2"] == pytest.approx(2.0)
    z = norm.ppf(0.95)
    assert t.loc["a", "high_km2"] - t.loc["a", "expected_km2"] == pytest.approx(z * t.loc["a", "sd_km2"])
    assert t.loc["a", "sd_km2"] == pytest.approx(np.sqrt(unit_variance(p, labels == 1, 3.0)) * 0.01)
    r = region_area(p, model, 0.01, level=0.9)
    assert r["expected_km2"] == pytest.approx(3.0) and r["pixels"] == 400
    # intervals never leave [0, all pixels]
    lo, hi = interval([0.1, 5.0], [1.0, 1.0], 0.95, upper=[10.0, 5.5])
    assert lo[0] == 0 and hi[1] == 5.5
    with pytest.raises(InputError, match="level"):
        interval(1.0, 1.0, 90)


def _latent_field(shape: tuple[int, int], corr_px: float, rng: np.random.Generator) -> np.ndarray:
    noise = rng.standard_normal((shape[0] + 60, shape[1] + 60))
    z = fftconvolve(noise, correlation_kernel(corr_px, 25), mode="same")[30:-30, 30:-30]
    return (z - z.mean()) / z.std()


def test_fit_length_separates_independent_from_patchy_errors() -> None:
    rng = np.random.default_rng(2)
    p = np.clip(rng.uniform(0.2, 0.8, (256, 256)), 0, 1)
    everywhere = np.ones(p.shape, bool)
    independent = (rng.uniform(0, 1, p.shape) < p).astype(np.uint8)
    length0, at_bound0, n = fit_length(p, independent, everywhere)
    assert n == p.size and not at_bound0 and length0 < 1.0
    patchy = (norm.cdf(_latent_field(p.shape, 4.0, rng)) < p).astype(np.uint8)
    length1, _, _ = fit_length(p, patchy, everywhere)
    assert length1 > 3 * max(length0, 0.5)
    with pytest.raises(InputError, match="fewer than"):
        fit_length(p, patchy, np.zeros(p.shape, bool))


def test_intervals_fitted_on_one_half_cover_the_other_half() -> None:
    """The method end to end on a stationary synthetic map: fit L on the top half, check the bottom half."""
    rng = np.random.default_rng(3)
    shape = (384, 384)
    p = np.clip(norm.cdf(_latent_field(shape, 10.0, rng) * 1.5), 0.02, 0.98)  # smooth calibrated map
    y = (norm.cdf(_latent_field(shape, 3.0, rng)) < p).astype(np.uint8)  # truth: correlated errors
    top = np.zeros(shape, bool)
    top[: shape[0] // 2] = True
    length, _, _ = fit_length(p, y, top)
    covered = {"fitted": [], "independent": []}
    for i in range(shape[0] // 2, shape[0], 32):
        for j in range(0, shape[1], 32):
            unit = np.zeros(shape, bool)
            unit[i : i + 32, j : j + 32] = True
            truth = float(y[unit].sum())
            for name, m in (("fitted", AreaErrorModel(length)), ("independent", AreaErrorModel(0.0))):
                t = area_table(p, unit.astype(np.int32), ["u"], m, 1.0, level=0.9).iloc[0]
                covered[name].append(t["low_km2"] <= truth <= t["high_km2"])
    assert 0.78 <= np.mean(covered["fitted"]) <= 0.99, np.mean(covered["fitted"])
    assert np.mean(covered["independent"]) < 0.6


def _grid(crs: str = "EPSG:32645") -> xr.DataArray:
    t = Affine(10.0, 0, 500_000.0, 0, -10.0, 3_000_000.0)
    da = xr.DataArray(
        np.zeros((30, 40), np.uint8),
        dims=("y", "x"),
        coords={"y": 3_000_000.0 - 10 * (np.arange(30) + 0.5), "x": 500_000.0 + 10 * (np.arange(40) + 0.5)},
    )
    return da.rio.write_crs(crs).rio.write_transform(t)


def test_glacier_zones_extend_outlines_to_the_nearest_glacier() -> None:
    grid = _grid()
    a = shapely.box(500_050, 2_999_850, 500_100, 2_999_900)  # x 5..10, rows 10..15
    b = shapely.box(500_250, 2_999_850, 500_300, 2_999_900)  # x 25..30
    inv = gpd.GeoDataFrame({"RGIId": ["A", "B"]}, geometry=[a, b], crs="EPSG:32645")
    labels, ids = glacier_zones(inv, grid, "RGIId", max_distance_m=30.0)
    assert ids == ["A", "B"]
    ka, kb = ids.index("A") + 1, ids.index("B") + 1
    assert labels[12, 7] == ka and labels[12, 27] == kb
    assert labels[12, 12] == ka and labels[12, 23] == kb  # 25 m outside: nearest glacier
    assert labels[12, 17] == 0 and labels[0, 0] == 0  # beyond 30 m: no zone
    only_inside, _ = glacier_zones(inv, grid, "RGIId", max_distance_m=0)
    assert (only_inside > 0).sum() == 2 * 25
    with pytest.raises(GridError, match="projected"):
        pixel_area_km2(_grid("EPSG:4326"))
    assert pixel_area_km2(grid) == pytest.approx(1e-4)


def test_error_model_round_trips_and_rejects_bad_lengths() -> None:
    m = AreaErrorModel(11.5, "kernel_ridge", "validation blocks", 100, False)
    assert AreaErrorModel.from_dict(m.to_dict()) == m
    with pytest.raises(InputError, match="length_px"):
        AreaErrorModel(-1.0)
