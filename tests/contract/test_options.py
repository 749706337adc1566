"""PredictOptions: validation, overrides, JSON round trip, and how checkpoints carry them."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from glacierlab.contract.options import (
    OPTION_NAMES,
    PAPER_OPTIONS,
    PredictOptions,
    options_for,
    resolve_options,
)
from glacierlab.contract.record import TrainingRecord, options_from_header
from glacierlab.errors import CheckpointError, ConfigError, UnknownNameError


def test_defaults_and_validation() -> None:
    o = PredictOptions()
    assert (o.window, o.stride, o.tiling, o.nodata, o.calibration) == (384, 192, "edge", "any", "auto")
    with pytest.raises(ConfigError, match="stride"):
        PredictOptions(window=64, stride=65)
    with pytest.raises(ConfigError, match="odd"):
        PredictOptions(smoothing=2)
    with pytest.raises(UnknownNameError, match="'paper'"):
        PredictOptions(tiling="papper")
    with pytest.raises(ConfigError, match="integer"):
        PredictOptions(window=96.0)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="location"):
        PredictOptions(location=[1, "x"])  # type: ignore[arg-type]
    assert PredictOptions(location=[0, 1]).location == (0.0, 1.0)


def test_replace_keeps_none_and_refuses_unknown_names() -> None:
    o = PAPER_OPTIONS.replace(window=None, tta=True)
    assert o.window == 384 and o.tta and o.tiling == "paper"
    assert PAPER_OPTIONS.replace(calibration=None).calibration == "none"  # None = raw confidence
    with pytest.raises(UnknownNameError, match="'stride'"):
        PAPER_OPTIONS.replace(strides=8)


def test_json_round_trip() -> None:
    o = PredictOptions(window=96, stride=48, location=(0.0,) * 11 + (1.0,), smoothing=3)
    again = PredictOptions.from_dict(json.loads(json.dumps(o.to_dict())))
    assert again == o and set(o.to_dict()) == set(OPTION_NAMES)
    with pytest.raises(UnknownNameError):
        PredictOptions.from_dict({"windw": 96})


def test_options_for_old_and_new_checkpoints() -> None:
    assert options_for(None) == PredictOptions()
    trained = SimpleNamespace(options=None, record=TrainingRecord.from_extra({"training": {"window": 96}}))
    assert options_for(trained) == PredictOptions(window=96, stride=48, nodata="all")
    assert options_from_header({"extra": {"training": {"window": 96}}}) == options_for(trained)
    stored = SimpleNamespace(options=PredictOptions(window=128, stride=64), record=TrainingRecord())
    assert options_for(stored).window == 128
    assert options_from_header({"extra": {"window": 64}}).stride == 32
    assert resolve_options(stored, None, tta=True).tta and resolve_options(stored, {"stride": 32}).stride == 32
    assert resolve_options(stored, PAPER_OPTIONS) == PAPER_OPTIONS


def test_save_checkpoint_stores_options_and_training_defaults(tmp_path: Path) -> None:
    from glacierlab.models import build_model, load_checkpoint, save_checkpoint

    model = build_model("glavitu_tiny", input_groups={"optical": 4})
    bands = {"optical": ["blue", "green", "red", "nir"]}
    a = save_checkpoint(tmp_path / "a.safetensors", model, bands=bands, extra={"training": {"window": 64}})
    assert load_checkpoint(a).options == PredictOptions(window=64, stride=32, nodata="all")
    b = save_checkpoint(tmp_path / "b.safetensors", model, bands=bands, options=PAPER_OPTIONS)
    ck = load_checkpoint(b)
    assert ck.options == PAPER_OPTIONS and ck.metadata["options"]["tiling"] == "paper"
    assert ck.inputs["optical"]["units"] == ["reflectance"] * 4
    c = save_checkpoint(
        tmp_path / "c.safetensors", model, bands=bands, inputs={"optical": {"product_level": "dn8"}}
    )
    assert load_checkpoint(c).inputs["optical"] == {"units": ["DN"] * 4, "product_level": "dn8"}


def test_invalid_stored_options_are_a_checkpoint_error(tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    from glacierlab.models import build_model, load_checkpoint, save_checkpoint

    model = build_model("glavitu_tiny", input_groups={"optical": 4})
    path = save_checkpoint(tmp_path / "a.safetensors", model, bands={"optical": ["blue", "green", "red", "nir"]})
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        header = json.loads(f.metadata()["glacierlab"])
    header["options"]["stride"] = 10_000
    save_file(load_file(str(path)), str(path), metadata={"glacierlab": json.dumps(header)})
    with pytest.raises(CheckpointError, match="options"):
        load_checkpoint(path)


def test_shipped_checkpoint_carries_its_window_and_nodata_policy() -> None:
    """The shipped model runs with the window and stride its held-out figures were measured with."""
    from glacierlab.models import load_checkpoint
    from glacierlab.weights import shipped_checkpoint_path, shipped_metrics_path

    ck = load_checkpoint(shipped_checkpoint_path())
    metrics = json.loads(shipped_metrics_path().read_text())
    assert "options" in ck.metadata  # stored, not derived
    assert (ck.options.window, ck.options.stride) == (metrics["window"], metrics["stride"])
    assert ck.options.nodata == "all"  # DEM gaps filled with 0, as in training
    assert ck.inputs["optical"]["product_level"] == "dn8"  # 8-bit stretched Landsat


def test_paper_options_fill_missing_values_before_scaling(tmp_path: Path) -> None:
    """The authors' compile_features sets missing optical values to 0 *before* min-max scaling."""
    import numpy as np
    import rioxarray  # noqa: F401  (registers .rio)
    import torch
    import xarray as xr

    from glacierlab.inference import predict_scene
    from glacierlab.models import build_model, save_checkpoint

    assert PAPER_OPTIONS.fill_missing == "before_scaling"
    torch.manual_seed(0)
    model = build_model("glavitu_tiny", input_groups={"optical": 2, "dem": 1})
    stats = {"optical": {"min": [-0.5, -0.2], "max": [1.5, 1.8]}, "dem": {"min": [0.0], "max": [5000.0]}}
    ckpt = save_checkpoint(
        tmp_path / "m.safetensors", model, bands={"optical": ["red", "nir"], "dem": ["elevation"]},
        normalisation=stats,
    )
    rng = np.random.default_rng(0)
    opt = rng.uniform(0, 1, (2, 40, 48)).astype(np.float32)
    dem = rng.uniform(3000, 5000, (1, 40, 48)).astype(np.float32)
    holed = opt.copy()
    holed[0, 10:20, 5:30] = np.nan  # one band: a group missing whole is no data for this checkpoint
    zeros = np.nan_to_num(holed, nan=0.0)

    def run(optical: np.ndarray, fill: str) -> np.ndarray:
        coords = {"y": np.arange(40)[::-1] * 30.0, "x": np.arange(48) * 30.0}
        inputs = {
            "optical": xr.DataArray(optical, dims=("band", "y", "x"), coords={"band": ["red", "nir"], **coords}),
            "dem": xr.DataArray(dem, dims=("band", "y", "x"), coords={"band": ["elevation"], **coords}),
        }
        for k, v in inputs.items():
            inputs[k] = v.rio.write_crs("EPSG:32645")
        o = PAPER_OPTIONS.replace(window=32, stride=16, fill_missing=fill, calibration="none")
        return np.asarray(predict_scene(ckpt, inputs, options=o, progress=False)["probability"].values)

    before = run(holed, "before_scaling")
    np.testing.assert_allclose(before, run(zeros, "before_scaling"), atol=1e-6)  # NaN == a raw 0
    after = run(holed, "after_scaling")
    assert np.abs(after - before)[10:20, 5:30].max() > 1e-4  # the two conventions really differ there
    # rows 36+ lie only in windows that do not reach the hole (scene rows 20-51 of the padded grid)
    np.testing.assert_allclose(after[36:], before[36:], atol=1e-6)
