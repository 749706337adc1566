"""The shipped Everest model: it loads, and re-predicting the scene gives the card's figures.

The first tests check, on small synthetic inputs, the pieces of :mod:`glacierlab.analysis.evaluate` that the
benchmark and this test rely on. The figures come from
``glacierlab/weights/glavitu_lite_everest_metrics.json`` (written by ``benchmarks/everest_model.py
--ship``). Here the whole 800 x 655 frame is predicted once with the stored window, stride and TTA
setting (a few seconds of model time on 2 cores), and the test-block IoU, the test-block ECE of the
stored calibrator and the per-glacier clean-band share are re-computed from it and compared with the
stated figures. Issue 15's targets (IoU >= forest + 0.05, >= 35 % of glaciers in the clean-ice band,
ECE <= 0.02) are not reached by any variant tried (``benchmarks/everest_variants.json``):
``test_issue15_targets`` records that as a strict xfail, so it turns red the day a shipped model meets them
and the marker has to go.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from glacierlab.errors import InputError, UnknownNameError


def _tiny_checkpoint(tmp_path: Path) -> object:
    import torch

    from glacierlab.models import build_model, load_checkpoint, save_checkpoint

    torch.manual_seed(0)
    model = build_model("glavitu_tiny", {"optical": 2, "dem": 1})
    path = save_checkpoint(
        tmp_path / "tiny.safetensors",
        model,
        bands={"optical": ["red", "nir"], "dem": ["elevation"]},
        normalisation={"optical": {"min": [0, 0], "max": [1, 1]}, "dem": {"min": [0], "max": [1]}},
    )
    return load_checkpoint(path)


def _tiny_inputs(h: int, w: int) -> dict:
    import rioxarray  # noqa: F401  (registers .rio)
    import xarray as xr
    from affine import Affine

    rng = np.random.default_rng(1)
    coords = {"y": 3108000 - 30 * (np.arange(h) + 0.5), "x": 478000 + 30 * (np.arange(w) + 0.5)}
    out = {}
    for g, names in (("optical", ["red", "nir"]), ("dem", ["elevation"])):
        da = xr.DataArray(
            rng.random((len(names), h, w)).astype(np.float32), dims=("band", "y", "x"), coords=coords
        ).assign_coords(band=names)
        out[g] = da.rio.write_crs(32645).rio.write_transform(Affine(30, 0, 478000, 0, -30, 3108000))
    return out


def test_heldout_counts_skip_no_data_and_pixels_outside_the_area() -> None:
    from glacierlab.metrics import heldout_counts

    ref = np.array([[1, 1, 0, 0], [1, 0, 255, 0]], np.uint8)
    prob = np.array([[0.9, 0.2, 0.7, 0.1], [np.nan, 0.6, 0.9, 0.3]], np.float32)
    area = np.array([[1, 1, 1, 1], [1, 1, 1, 0]], bool)
    c = heldout_counts(prob, ref, area)  # counted: (0,0) TP, (0,1) FN, (0,2) FP, (0,3) TN, (1,1) FP
    assert (c.tp, c.fn, c.fp, c.tn) == (1, 1, 2, 1)
    mask = np.where(np.isnan(prob), 255, prob > 0.5).astype(np.uint8)
    assert heldout_counts(mask, ref, area) == c
    s = c.scores()
    assert s["iou"] == pytest.approx(0.25) and s["background_iou"] == pytest.approx(0.25)
    assert s["pixels"] == 5
    with pytest.raises(InputError, match="one shape"):
        heldout_counts(prob[:, :3], ref, area)


def test_predict_area_equals_whole_scene_prediction(tmp_path: Path) -> None:
    from glacierlab.analysis.evaluate import predict_area
    from glacierlab.inference.predict import predict_scene

    ckpt = _tiny_checkpoint(tmp_path)
    inputs = _tiny_inputs(100, 131)
    area = np.zeros((100, 131), bool)
    area[40:57, 30:50] = True  # interior block
    area[70:, 118:] = True  # block on the scene's bottom-right edges (clamped last windows)
    kw = {"window": 32, "stride": 16}
    part = predict_area(ckpt, inputs, area, **kw)
    whole = predict_scene(ckpt, inputs, calibration=None, nodata="all", progress=False, device="cpu", **kw)
    full = np.asarray(whole["probability"].values)
    assert np.isnan(part[~area]).all()
    np.testing.assert_allclose(part[area], full[area], atol=1e-5)


def test_calibration_is_fitted_on_one_area_and_scored_on_another() -> None:
    from glacierlab.analysis.evaluate import calibration_arrays, calibration_ece

    rng = np.random.default_rng(0)
    h, w = 200, 200
    ref = (rng.random((h, w)) < 0.5).astype(np.uint8)
    # Over-confident by construction: right only 80 % of the time whatever p says.
    right = rng.random((h, w)) < 0.8
    truth_p = np.where(ref == 1, 0.99, 0.01)
    prob = np.where(right, truth_p, 1 - truth_p).astype(np.float32)
    fit = np.zeros((h, w), bool)
    fit[:100] = True
    report = calibration_ece(prob, ref, fit, ~fit)
    assert report.ece_raw["maxprob"] == pytest.approx(0.19, abs=0.02)
    for method, ece in report.ece_calibrated.items():
        assert ece < 0.02, method
    assert report.pixels_fit == report.pixels_eval == 20_000
    assert {k.split("/")[0] for k in calibration_arrays(report.calibrators)} == {
        "kernel_ridge",
        "isotonic",
        "temperature",
    }
    with pytest.raises(InputError, match="share"):
        calibration_ece(prob, ref, fit, np.ones((h, w), bool))


@pytest.fixture(scope="module")
def shipped() -> tuple[object, dict, Path]:
    from glacierlab.models import load_checkpoint
    from glacierlab.weights import shipped_checkpoint_path, shipped_metrics_path

    path = shipped_checkpoint_path()
    return load_checkpoint(path), json.loads(shipped_metrics_path().read_text()), path


def test_unknown_shipped_name_lists_the_valid_ones() -> None:
    from glacierlab.weights import shipped_checkpoint_path

    with pytest.raises(UnknownNameError, match="glavitu_lite_everest"):
        shipped_checkpoint_path("glavitu_lite_everst")


def test_shipped_checkpoint_is_self_describing(shipped: tuple) -> None:
    from glacierlab.contract.split import SpatialSplit

    ckpt, metrics, path = shipped
    extra = ckpt.metadata["extra"]
    assert path.stat().st_size < 20_000_000  # "a few MB" inside the package
    assert ckpt.variant.startswith("glavitu")
    assert ckpt.bands == {"optical": ["blue", "green", "red", "nir"], "dem": ["elevation", "slope"]}
    assert set(ckpt.normalisation) == {"optical", "dem"}
    split = SpatialSplit.from_dict(extra["spatial_split"])
    assert (split.blocks == 2).any() and (split.blocks == 1).any()
    # the calibrator stored is the one chosen on the validation blocks, so calibration="auto" applies it
    chosen = metrics["calibration"]["chosen"]["method"]
    assert {k.split("/")[0] for k in ckpt.calibration} == {chosen} == {extra["calibration"]["default"]}
    # the inference settings of the figures travel with the weights
    assert metrics["window"] == extra["window"] == extra["training"]["window"]
    assert metrics["stride"] == extra["stride"] and bool(metrics["tta"]) == extra["tta"]


def test_same_test_blocks_as_the_first_shipped_model(shipped: tuple) -> None:
    """Issue 15: every Everest model is scored on the test blocks of the first shipped split."""
    from glacierlab.contract.split import SpatialSplit

    split = SpatialSplit.from_dict(shipped[0].metadata["extra"]["spatial_split"])
    assert (split.shape, split.block_size, split.buffer) == ((655, 800), 160, 32)
    first = [[1, 0, 0, 0, 2], [0, 2, 0, 1, 2], [0, 2, 0, 0, 2], [0, 1, 0, 0, 0], [1, 0, 0, 0, 1]]
    np.testing.assert_array_equal(split.blocks, first)


def test_shipped_calibrator_loads_and_maps_into_0_1(shipped: tuple) -> None:
    from glacierlab.contract.calibration import Calibrator

    out = Calibrator.from_arrays(shipped[0].calibration)(np.linspace(0.0, 1.0, 11))
    assert np.all((out >= 0) & (out <= 1))


def test_model_card_states_the_metrics_file_figures(shipped: tuple) -> None:
    _, metrics, path = shipped
    card = (path.parent / "MODEL_CARD.md").read_text()
    block = card.split("<!-- figures:start -->")[1].split("<!-- figures:end -->")[0]
    row = re.search(r"^\| model \| ([0-9.]+) \| ([0-9.]+) \| ([0-9.]+) \|", block, re.M)
    assert row, "MODEL_CARD.md has no '| model | IoU | ...' row between the figures markers"
    assert float(row.group(1)) == pytest.approx(metrics["test"]["model"]["iou"], abs=5e-4)
    assert float(row.group(2)) == pytest.approx(metrics["test"]["model"]["precision"], abs=5e-4)
    assert f"test ECE {metrics['calibration']['ece_chosen']:.4f}" in block
    band = 100 * metrics["glaciers"]["model"]["clean_band"]
    assert f"inside the clean-ice band (±5 % area) {band:.1f} %" in block
    assert (path.parent / "split_map.png").exists()


@pytest.fixture(scope="module")
def scene_prediction(shipped: tuple, shared_data: Path) -> dict:
    """The shipped model's whole-frame probability with the stored settings (a few seconds on 2 cores)."""
    from glacierlab.contract.split import SpatialSplit
    from glacierlab.data.stack import stack_region
    from glacierlab.inference.compat import model_inputs
    from glacierlab.inference.predict import predict_scene

    ckpt, metrics, _ = shipped
    extra = ckpt.metadata["extra"]
    stack = stack_region(extra["region_id"], groups=tuple(ckpt.bands))
    inputs, _ = model_inputs(stack, ckpt.bands)
    out = predict_scene(
        ckpt,
        inputs,
        window=metrics["window"],
        stride=metrics["stride"],
        tta=bool(metrics["tta"]),
        batch_size=8,
        device="cpu",
        calibration=None,
        nodata="all",
        progress=False,
    )
    return {
        "prob": np.asarray(out["probability"].values),
        "stack": stack,
        "split": SpatialSplit.from_dict(extra["spatial_split"]),
    }


def test_shipped_model_reproduces_the_held_out_iou(shipped: tuple, scene_prediction: dict) -> None:
    from glacierlab.metrics import heldout_counts

    metrics = shipped[1]
    ref = np.asarray(scene_prediction["stack"]["reference"].values)
    test = scene_prediction["split"].mask("test")
    s = heldout_counts(scene_prediction["prob"], ref, test).scores()
    stated = metrics["test"]["model"]
    assert s["pixels"] == stated["pixels"]
    for k in ("iou", "precision", "recall", "mean_iou"):
        assert s[k] == pytest.approx(stated[k], abs=0.01), k


def test_shipped_calibration_reproduces_the_test_ece(shipped: tuple, scene_prediction: dict) -> None:
    """The stored calibrator (fitted on validation blocks) gives the stated ECE on the test blocks."""
    from glacierlab.contract.calibration import Calibrator, ReliabilityTable
    from glacierlab.contract.confidence import confidence

    ckpt, metrics, _ = shipped
    ref = np.asarray(scene_prediction["stack"]["reference"].values)
    test = scene_prediction["split"].mask("test")
    p = scene_prediction["prob"]
    keep = test & np.isfinite(p) & (ref != 255)
    cal = Calibrator.from_arrays(ckpt.calibration)
    table = ReliabilityTable()
    table.update(cal(confidence(p[keep], cal.convention)), (p[keep] > 0.5) == (ref[keep] == 1))
    assert table.ece() == pytest.approx(metrics["calibration"]["ece_chosen"], abs=0.003)


def test_shipped_per_glacier_clean_band_fraction(shipped: tuple, scene_prediction: dict, shared_data: Path) -> None:
    """Share of RGI glaciers within ±5 % area, re-computed from the whole-frame mask."""
    import geopandas as gpd
    import xarray as xr

    from glacierlab.analysis.regional import judge_glaciers

    metrics = shipped[1]
    like = scene_prediction["stack"]["reference"]
    mask = xr.DataArray((scene_prediction["prob"] > 0.5).astype(np.uint8), coords=like.coords, dims=like.dims)
    mask = mask.rio.write_crs(like.rio.crs).rio.write_transform(like.rio.transform())
    rgi = gpd.read_file(shared_data / "everest_landsat7_exploradores_aster/15_rgi60_glacier_outlines.gpkg")
    table = judge_glaciers(mask, rgi)
    stated = metrics["glaciers"]["model"]
    assert len(table) == stated["glaciers"] == 86
    # a pixel flipping at the edge can move a glacier across the ±5 % line: allow two glaciers
    assert abs(float(table["inside_band"].mean()) - stated["clean_band"]) <= 2 / 86 + 1e-9


@pytest.mark.xfail(
    strict=True,
    reason="issue 15 not reached: best variant (chosen on validation blocks) IoU 0.697 vs forest 0.730, "
    "clean band 13 % vs 28 %, ECE 0.048; every variant tried is in benchmarks/everest_variants.json",
)
def test_issue15_targets(shipped: tuple) -> None:
    """The stated (and above re-computed) figures against the issue's three targets."""
    m = shipped[1]
    model, forest = m["test"]["model"], m["test"]["random_forest"]
    assert model["iou"] >= forest["iou"] + 0.05 and model["mean_iou"] >= forest["mean_iou"]
    band, forest_band = m["glaciers"]["model"]["clean_band"], m["glaciers"]["random_forest"]["clean_band"]
    assert band >= 0.35 and band > forest_band
    assert m["calibration"]["ece_chosen"] <= 0.02
