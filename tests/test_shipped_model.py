"""The shipped Everest model: it loads, and re-predicting its held-out test blocks gives the card's IoU.

The first tests check, on small synthetic inputs, the pieces of :mod:`glacierlab.reports.evaluate` that the
benchmark and this test rely on. The figures come from
``glacierlab/weights/glavitu_lite_everest_metrics.json`` (written by ``benchmarks/everest_model.py
--ship``, which predicts the whole scene); here only the windows that touch the test blocks are
predicted (``glacierlab.reports.evaluate.predict_area``, same window grid), which keeps the test to a few
seconds of model time on 2 cores.
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
    from glacierlab.reports.evaluate import heldout_counts, scores

    ref = np.array([[1, 1, 0, 0], [1, 0, 255, 0]], np.uint8)
    prob = np.array([[0.9, 0.2, 0.7, 0.1], [np.nan, 0.6, 0.9, 0.3]], np.float32)
    area = np.array([[1, 1, 1, 1], [1, 1, 1, 0]], bool)
    c = heldout_counts(prob, ref, area)  # counted: (0,0) TP, (0,1) FN, (0,2) FP, (0,3) TN, (1,1) FP
    assert (c.tp, c.fn, c.fp, c.tn) == (1, 1, 2, 1)
    mask = np.where(np.isnan(prob), 255, prob > 0.5).astype(np.uint8)
    assert heldout_counts(mask, ref, area) == c
    s = scores(c)
    assert s["iou"] == pytest.approx(0.25) and s["background_iou"] == pytest.approx(0.25)
    assert s["pixels"] == 5
    with pytest.raises(InputError, match="one shape"):
        heldout_counts(prob[:, :3], ref, area)


def test_predict_area_equals_whole_scene_prediction(tmp_path: Path) -> None:
    from glacierlab.inference.predict import predict_scene
    from glacierlab.reports.evaluate import predict_area

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
    from glacierlab.reports.evaluate import calibration_arrays, calibration_ece

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
    from glacierlab.training.scene_dataset import SpatialSplit

    ckpt, metrics, path = shipped
    assert path.stat().st_size < 20_000_000  # "a few MB" inside the package
    assert ckpt.variant == "glavitu_lite"
    assert ckpt.bands == {"optical": ["blue", "green", "red", "nir"], "dem": ["elevation", "slope"]}
    assert set(ckpt.normalisation) == {"optical", "dem"}
    split = SpatialSplit.from_dict(ckpt.metadata["extra"]["spatial_split"])
    assert (split.blocks == 2).any() and (split.blocks == 1).any()
    assert {k.split("/")[0] for k in ckpt.calibration} == {"kernel_ridge", "isotonic", "temperature"}
    assert metrics["window"] == ckpt.metadata["extra"]["window"]


def test_shipped_calibrators_load_and_map_into_0_1(shipped: tuple) -> None:
    from glacierlab.inference.calibration import Calibrator

    ckpt = shipped[0]
    for method in ("kernel_ridge", "isotonic", "temperature"):
        out = Calibrator.from_arrays(ckpt.calibration, method)(np.linspace(0.0, 1.0, 11))
        assert np.all((out >= 0) & (out <= 1))


def test_model_card_states_the_metrics_file_figures(shipped: tuple) -> None:
    _, metrics, path = shipped
    card = (path.parent / "MODEL_CARD.md").read_text()
    block = card.split("<!-- figures:start -->")[1].split("<!-- figures:end -->")[0]
    row = re.search(r"^\| model \| ([0-9.]+) \| ([0-9.]+) \| ([0-9.]+) \|", block, re.M)
    assert row, "MODEL_CARD.md has no '| model | IoU | ...' row between the figures markers"
    assert float(row.group(1)) == pytest.approx(metrics["test"]["model"]["iou"], abs=5e-4)
    assert float(row.group(2)) == pytest.approx(metrics["test"]["model"]["precision"], abs=5e-4)
    assert (path.parent / "split_map.png").exists()


def test_shipped_model_reproduces_the_held_out_iou(shipped: tuple, shared_data: Path) -> None:
    from glacierlab.data.stack import stack_region
    from glacierlab.reports.evaluate import heldout_counts, model_inputs, predict_area
    from glacierlab.training.scene_dataset import SpatialSplit

    ckpt, metrics, _ = shipped
    extra = ckpt.metadata["extra"]
    split = SpatialSplit.from_dict(extra["spatial_split"])
    stack = stack_region(extra["region_id"], groups=tuple(ckpt.bands))
    ref = np.asarray(stack["reference"].values)
    test = split.mask("test")
    inputs, _ = model_inputs(stack, ckpt.bands)
    prob = predict_area(ckpt, inputs, test, window=metrics["window"], stride=metrics["stride"])
    assert np.isfinite(prob[test]).all() and np.isnan(prob[~test]).all()
    counts = heldout_counts(prob, ref, test)
    assert counts.total == int(metrics["test"]["model"]["pixels"])
    assert counts.iou == pytest.approx(metrics["test"]["model"]["iou"], abs=0.01)
    assert counts.precision == pytest.approx(metrics["test"]["model"]["precision"], abs=0.01)
    assert counts.recall == pytest.approx(metrics["test"]["model"]["recall"], abs=0.01)
