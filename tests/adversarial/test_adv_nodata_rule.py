"""The no-data rule per checkpoint: a pixel without any value of an input group is no data (mask 255),
unless the checkpoint's training record says it was trained to map without that group; then the outputs
(COG tags, Dataset attrs) and the CLI status line count the pixels mapped without it.

The shipped model stores ``nodata="all"`` and no such record: where its optical image is missing (NaN,
or an undeclared -3.4e38 sentinel) but the DEM is valid, it must not map glacier / ice-free.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from adv_helpers import DEM, OPTICAL, retag_checkpoint, write_tif

from glacierlab.errors import GlacierLabWarning
from glacierlab.inference.predict import predict_scene
from glacierlab.vocabulary import NODATA
from glacierlab.weights import shipped_checkpoint_path

KW = {"window": 96, "stride": 48, "batch_size": 2, "device": "cpu", "progress": False}
HOLE = (slice(20, 60), slice(30, 80))  # 40 x 50 px without optical image
N_HOLE = 40 * 50


def _scene(sandbox, fill: float) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    opt = rng.integers(40, 255, (4, 100, 120)).astype(np.float32)
    opt[:, HOLE[0], HOLE[1]] = fill
    dem = np.stack([rng.uniform(4800, 6000, (100, 120)), rng.uniform(0, 60, (100, 120))]).astype(np.float32)
    paths = {
        "optical": write_tif(sandbox.inputs / "optical.tif", opt, names=OPTICAL),
        "dem": write_tif(sandbox.inputs / "dem.tif", dem, names=DEM),
    }
    sandbox.allow()
    return paths


@pytest.mark.parametrize("fill", [float("nan"), np.float32(-3.4028235e38)], ids=["nan", "sentinel"])
def test_shipped_model_does_not_map_pixels_without_the_image_from_the_dem_alone(sandbox, fill: float) -> None:
    inputs = _scene(sandbox, fill)
    ckpt = shipped_checkpoint_path()
    if np.isnan(fill):
        out = predict_scene(ckpt, inputs, out_dir=sandbox.out, product_level="dn8", **KW)
    else:
        with pytest.warns(GlacierLabWarning, match=rf"{N_HOLE} pixels.*-3\.4e38.*{N_HOLE} of these pixels are no data"):
            out = predict_scene(ckpt, inputs, out_dir=sandbox.out, product_level="dn8", **KW)
    mask = out["mask"].values
    assert (mask[HOLE] == NODATA).all(), "pixels without the optical image were mapped from the DEM alone"
    assert np.isnan(out["probability"].values[HOLE]).all()
    assert (mask != NODATA).sum() == 100 * 120 - N_HOLE
    assert out.attrs["pixels_nodata_input"] == N_HOLE
    assert out.attrs["pixels_without_dem"] == 0  # trained without the DEM on 44 % of its pixels: recorded


def test_shipped_model_maps_without_the_dem_as_trained_and_counts_it(sandbox) -> None:
    """Its training record says 44 % of its labelled pixels had no DEM: there it maps, and says so."""
    inputs = _scene(sandbox, 100.0)
    with rasterio.open(inputs["dem"], "r+") as f:
        dem = f.read()
        dem[:, HOLE[0], HOLE[1]] = np.nan
        f.write(dem)
    sandbox.allow()
    out = predict_scene(shipped_checkpoint_path(), inputs, out_dir=sandbox.out, product_level="dn8", **KW)
    assert (out["mask"].values != NODATA).all()
    assert out.attrs["pixels_without_dem"] == N_HOLE and out.attrs["pixels_nodata_input"] == 0
    with rasterio.open(sandbox.out / "mask.tif") as f:
        assert f.tags()["pixels_without_dem"] == str(N_HOLE)


def _trained_without_optical(header: dict) -> dict:
    header.setdefault("extra", {})["trained_without_groups"] = ["optical", "dem"]
    return header


def test_a_checkpoint_trained_without_the_image_maps_there_and_says_how_many(sandbox, capsys) -> None:
    from glacierlab.cli import main

    ckpt = retag_checkpoint(shipped_checkpoint_path(), sandbox.inputs / "dropout.safetensors", _trained_without_optical)
    inputs = _scene(sandbox, float("nan"))
    out = predict_scene(ckpt, inputs, out_dir=sandbox.out / "py", product_level="dn8", **KW)
    mask = out["mask"].values
    assert (mask[HOLE] != NODATA).all() and (mask != NODATA).all()
    assert out.attrs["pixels_without_optical"] == N_HOLE and out.attrs["pixels_nodata_input"] == 0
    with rasterio.open(sandbox.out / "py" / "mask.tif") as f:
        assert f.tags()["pixels_without_optical"] == str(N_HOLE)
    argv = ["predict", str(ckpt), "--optical", str(inputs["optical"]), "--dem", str(inputs["dem"])]
    assert main([*argv, "--out", str(sandbox.out / "cli"), "--product-level", "dn8", "--quiet"]) == 0
    assert f"{N_HOLE} mapped without optical (the checkpoint was trained to)" in capsys.readouterr().out


def test_training_records_the_groups_it_blanked_whole(monkeypatch) -> None:
    import dataclasses

    from glacierlab.training import strategies
    from glacierlab.training.augment import AugmentConfig

    seen: dict = {}
    monkeypatch.setattr(strategies, "train", lambda config, tr, va, extra, **kw: seen.update(extra))
    strat = strategies.global_strategy()
    dropping = dataclasses.replace(strat, augment=AugmentConfig(drop_groups=("dem",), drop_group_p=0.2))
    strategies.run_strategy(dropping, [], [])
    assert seen["trained_without_groups"] == ["dem"]
    seen.clear()
    strategies.run_strategy(strat, [], [])
    assert "trained_without_groups" not in seen
    assert json.dumps(seen)  # the record stays JSON for the checkpoint header
