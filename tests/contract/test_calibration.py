from __future__ import annotations

import numpy as np
import pytest

from glacierlab.contract.calibration import (
    METHODS,
    Calibrator,
    ReliabilityTable,
    expected_calibration_error,
    fit_calibrator,
    laplacian_predict,
)
from glacierlab.contract.confidence import confidence
from glacierlab.errors import CheckpointError, InputError, UnknownNameError


def _sample(n: int, seed: int, sharpen: float) -> tuple[np.ndarray, np.ndarray]:
    """Glacier probabilities whose true P(glacier) is p; the model reports p sharpened (>1 over-confident)."""
    rng = np.random.default_rng(seed)
    p_true = rng.beta(0.6, 0.6, n)
    label = rng.random(n) < p_true
    z = np.log(p_true + 1e-9) - np.log1p(-p_true + 1e-9)
    p_model = 1 / (1 + np.exp(-sharpen * z))
    return p_model, label


def _conf_correct(p: np.ndarray, label: np.ndarray, convention: str) -> tuple[np.ndarray, np.ndarray]:
    return confidence(p, convention), (p > 0.5) == label


def test_perfectly_calibrated_sample_has_ece_near_zero() -> None:
    p, label = _sample(400_000, 0, 1.0)
    conf, correct = _conf_correct(p, label, "maxprob")
    assert expected_calibration_error(conf, correct) < 0.01


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("sharpen", "convention"), [(3.0, "maxprob"), (0.4, "maxprob"), (1.0, "entropy")])
def test_each_calibrator_reduces_ece_on_held_out_data(method: str, sharpen: float, convention: str) -> None:
    fit_c, fit_k = _conf_correct(*_sample(200_000, 1, sharpen), convention)
    test_c, test_k = _conf_correct(*_sample(200_000, 2, sharpen), convention)
    before = expected_calibration_error(test_c, test_k)
    cal = fit_calibrator(fit_c, fit_k, method, convention=convention)
    after = expected_calibration_error(cal(test_c), test_k)
    assert before > 0.1
    assert after < before / 4
    # Residual error comes from fitting on a 100-bin table (mixed accuracies inside the crowded top bin)
    # and, for kernel ridge, from the paper's (0, 0) anchor while accuracy at confidence 0 is 0.5.
    assert after < 0.03


def test_temperature_recovers_the_sharpening() -> None:
    c, k = _conf_correct(*_sample(300_000, 3, 2.0), "maxprob")
    cal = fit_calibrator(c, k, "temperature", convention="maxprob")
    assert float(cal.arrays["temperature"]) == pytest.approx(2.0, rel=0.05)


def test_arrays_round_trip_and_several_methods_in_one_dict() -> None:
    c, k = _conf_correct(*_sample(50_000, 4, 1.0), "entropy")
    stored: dict[str, np.ndarray] = {}
    cals = {m: fit_calibrator(c, k, m) for m in METHODS}
    for cal in cals.values():
        arrays = cal.to_arrays()
        assert all(isinstance(v, np.ndarray) and v.dtype == np.float64 for v in arrays.values())
        stored.update(arrays)
    x = np.linspace(0, 1, 101)
    for m, cal in cals.items():
        again = Calibrator.from_arrays(stored, method=m)
        assert again.convention == "entropy"
        np.testing.assert_array_equal(again(x), cal(x))
        assert np.all((again(x) >= 0) & (again(x) <= 1))
    assert Calibrator.from_arrays(stored).method == "kernel_ridge"  # the paper's, when several are stored
    assert Calibrator.from_arrays(cals["isotonic"].to_arrays()).method == "isotonic"
    with pytest.raises(UnknownNameError):
        Calibrator.from_arrays(cals["isotonic"].to_arrays(), method="temperature")
    with pytest.raises(CheckpointError):
        Calibrator.from_arrays({})


def test_kernel_ridge_follows_the_paper_recipe() -> None:
    c, k = _conf_correct(*_sample(50_000, 5, 1.0), "entropy")
    cal = fit_calibrator(c, k, "kernel_ridge")
    t = ReliabilityTable()
    t.update(c, k)
    n = int((t.count > 0).sum())
    assert cal.arrays["x"].shape == (n + 2,)  # bins plus anchors (0, 0) and (1, 1)
    w = (t.count[t.count > 0] / t.count.max()) ** 0.1
    np.testing.assert_allclose(cal.arrays["alpha"], np.r_[0.0, (1 - w) * 0.1, 0.0])
    assert cal(np.array([0.0]))[0] == pytest.approx(0.0, abs=1e-6)  # anchors with zero penalty interpolate
    assert cal(np.array([1.0]))[0] == pytest.approx(1.0, abs=1e-6)


def test_kernel_ridge_solver_matches_sklearn_for_a_constant_penalty() -> None:
    from sklearn.kernel_ridge import KernelRidge

    from glacierlab.contract.calibration import _fit_kernel_ridge

    rng = np.random.default_rng(6)
    x = np.sort(rng.random(40))
    y = np.sqrt(x) + rng.normal(0, 0.05, 40)
    ref = KernelRidge(alpha=0.3, kernel="laplacian", gamma=1.0).fit(x[:, None], y)
    # our solver with all bin weights equal to 1 => zero penalty; use explicit system instead:
    kmat = np.exp(-np.abs(x[:, None] - x[None])) + 0.3 * np.eye(40)
    coef = np.linalg.solve(kmat, y)
    q = rng.random(200)
    np.testing.assert_allclose(laplacian_predict(q, x, coef, 1.0), ref.predict(q[:, None]), atol=1e-9)
    assert _fit_kernel_ridge  # imported: the paper fit uses the same system with per-point penalties


def test_laplacian_predict_is_exact() -> None:
    rng = np.random.default_rng(7)
    centres, coef, x = rng.random(102), rng.normal(size=102), rng.random(1000)
    direct = (coef * np.exp(-np.abs(x[:, None] - centres))).sum(1)
    np.testing.assert_allclose(laplacian_predict(x, centres, coef, 1.0), direct, atol=1e-10)
    np.testing.assert_allclose(
        laplacian_predict(x, centres, coef, 400.0),
        (coef * np.exp(-400 * np.abs(x[:, None] - centres))).sum(1),
        atol=1e-10,
    )


def test_streaming_table_equals_one_shot_and_counts_one_in_last_bin() -> None:
    rng = np.random.default_rng(8)
    c, k = rng.random(10_000), rng.random(10_000) < 0.7
    c[:5] = 1.0
    one = ReliabilityTable()
    one.update(c, k)
    parts = ReliabilityTable()
    for i in range(0, 10_000, 2500):
        t = ReliabilityTable()
        t.update(c[i : i + 2500], k[i : i + 2500])
        parts.merge(t)
    np.testing.assert_allclose(parts.count, one.count)
    assert one.total == 10_000  # confidence 1.0 counted (last bin), unlike the reference's half-open bins
    assert one.ece() == pytest.approx(parts.ece())
    coarse = one.rebin(10)
    assert coarse.total == 10_000 and coarse.n_bins == 10
    again = ReliabilityTable.from_arrays(one.to_arrays())
    assert again.ece() == one.ece()


def test_table_skips_nodata_and_rejects_bad_values() -> None:
    t = ReliabilityTable()
    t.update_from_prediction(np.array([0.9, 0.2, np.nan, 0.7]), np.array([1, 1, 1, 255]))
    assert t.total == 2 and t.sum_correct.sum() == 1
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        t.update(np.array([1.5]), np.array([True]))
    with pytest.raises(InputError, match="shape"):
        t.update(np.array([0.5, 0.5]), np.array([True]))
    with pytest.raises(InputError, match="empty"):
        ReliabilityTable().ece()
    with pytest.raises(UnknownNameError):
        fit_calibrator(np.array([0.5]), np.array([True]), "platt")


def test_reliability_diagram_has_ece_in_title() -> None:
    from glacierlab.reports.plot_reliability import reliability_diagram

    c, k = _conf_correct(*_sample(20_000, 9, 1.0), "entropy")
    t = ReliabilityTable()
    t.update(c, k)
    fig = reliability_diagram(t, title="test")
    title = fig.axes[0].get_title()
    assert f"ECE over 10 bins = {t.rebin(10).ece():.4f}" in title  # the bins drawn, not the table's 100
    assert len(fig.axes) == 2
    assert len(fig.axes[0].patches) >= 10  # accuracy bars (+ gap bars)
