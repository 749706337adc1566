"""Each strategy: a short run on tiny data lowers the loss.

"Loss" here is the training objective on a fixed set of validation windows, computed with BatchNorm on
batch statistics: with the paper's Keras momentum (running statistics move 1 % per step), a dozen
steps leave the running statistics near their initial values, so eval-mode losses of such short runs
say nothing about whether the weights learned.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from glacierlab.contract.split import make_spatial_split
from glacierlab.errors import CheckpointError, ConfigError, UnknownNameError
from glacierlab.models import load_checkpoint
from glacierlab.models.vit import ViTEncoder
from glacierlab.training import BenchmarkPatches, make_strategy, run_strategy, train_scene
from glacierlab.training.losses import total_loss
from glacierlab.training.scene_dataset import scene_from_stack
from glacierlab.training.strategies import UnknownRegionCopies, scene_datasets
from glacierlab.training.trainer import build_training_model

FAST = {"variant": "glavitu_tiny", "batch_size": 4, "lr": 3e-3, "progress": False, "device": "cpu"}
SCENE = {"window": 32, "block_size": 64, "buffer": 32, "samples_per_epoch": 16}


def _initial_model(strategy, val_ds):
    groups = {g: a.shape[0] for g, a in val_ds[0]["inputs"].items()}
    torch.manual_seed(strategy.config.seed)
    return build_training_model(strategy.config, groups)


@torch.no_grad()
def _batch_loss(model, val_ds) -> float:
    """Objective on the first 8 validation windows, BatchNorm on batch statistics."""
    batch = next(iter(DataLoader(val_ds, batch_size=8)))
    model.train()
    out = model(batch["inputs"], batch.get("location"))
    return float(total_loss(out.logits, out.aux_logits, batch["target"]))


def _lowered(strategy, result, val_ds) -> None:
    before = _batch_loss(_initial_model(strategy, val_ds), val_ds)
    after = _batch_loss(result.model, val_ds)
    assert after < 0.8 * before, (before, after)
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]


def _scene_run(stack, tmp_path, name: str, **kw):
    strat = make_strategy(name, epochs=3, out_dir=str(tmp_path), name=name, **FAST, **kw)
    split = make_spatial_split(stack["reference"].shape, 64, 32)
    scene = scene_from_stack(stack, stats_mask=split.mask("train"), region="HMA")
    val = scene_datasets(strat, scene, split, 32, 16)[1]
    result = train_scene("synthetic", strat, stack=stack, region_code="HMA", **SCENE)
    return strat, val, result


def test_global_strategy_lowers_loss_and_writes_outputs(stack, tmp_path) -> None:
    strat, val, result = _scene_run(stack, tmp_path, "global")
    assert strat.config.lr == 3e-3 and strat.config.location == "none"
    rows = list(csv.DictReader(result.log_path.read_text().splitlines()))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3] and float(rows[-1]["val_iou"]) >= 0
    ckpt = load_checkpoint(result.best_path)
    assert ckpt.bands["optical"] == ["nir", "red", "green", "blue"]
    assert ckpt.metadata["extra"]["spatial_split"]["block_size"] == 64
    assert (tmp_path / "global_split.json").exists() and result.minloss_path.exists()
    _lowered(strat, result, val)


def test_coordinate_encoding_strategy_lowers_loss(stack, tmp_path) -> None:
    strat, val, result = _scene_run(stack, tmp_path, "coordinate_encoding")
    assert strat.config.location == "coordinates"
    assert result.model.location_dim == 4
    _lowered(strat, result, val)


def test_region_encoding_strategy_lowers_loss_and_validates_twice(benchmark_file, tmp_path) -> None:
    strat = make_strategy("region_encoding", epochs=3, out_dir=str(tmp_path), **FAST)
    assert strat.augment.unknown_region_p == 0.1 and strat.validate_unknown
    tr = BenchmarkPatches(benchmark_file, window=32, n_samples=16, location="region")
    va = BenchmarkPatches(benchmark_file, window=32, mode="consecutive", location="region")
    doubled = UnknownRegionCopies(va)
    assert len(doubled) == 2 * len(va) and np.argmax(doubled[len(va)]["location"]) == 11
    result = run_strategy(strat, tr, va)
    assert result.model.location_dim == 12
    _lowered(strat, result, doubled)


def test_regional_strategy_filters_and_lowers_loss(benchmark_file, tmp_path) -> None:
    strat = make_strategy("regional", regions=["HMA"], epochs=3, out_dir=str(tmp_path), **FAST)
    tr = BenchmarkPatches(benchmark_file, window=32, n_samples=16, regions=strat.regions)
    va = BenchmarkPatches(benchmark_file, window=32, mode="consecutive", regions=strat.regions)
    assert {t.region for t in tr.tiles} == {"HMA"} and len(va) == 8
    result = run_strategy(strat, tr, va)
    _lowered(strat, result, va)
    with pytest.raises(ConfigError):
        make_strategy("regional")
    with pytest.raises(UnknownNameError):
        make_strategy("globl")


def test_finetune_strategy_starts_from_checkpoint_and_lowers_loss(stack, tmp_path) -> None:
    _, _, base = _scene_run(stack, tmp_path / "base", "global")  # the "global" checkpoint to start from
    strat = make_strategy(
        "finetune",
        checkpoint=base.best_path,
        epochs=3,
        out_dir=str(tmp_path),
        name="ft",
        **(FAST | {"lr": 1e-3}),
    )
    assert strat.config.schedule == "cosine" and strat.config.monitor == "loss"
    assert make_strategy("finetune", checkpoint="x").config.lr == 5e-5
    split = make_spatial_split(stack["reference"].shape, 64, 32)
    scene = scene_from_stack(stack, stats_mask=split.mask("train"), region="HMA")
    val = scene_datasets(strat, scene, split, 32, 16)[1]
    start = load_checkpoint(base.best_path).model
    result = train_scene("synthetic", strat, stack=stack, **SCENE)
    assert _batch_loss(result.model, val) < _batch_loss(start, val)
    assert load_checkpoint(result.best_path).metadata["extra"]["strategy"] == "finetune"


def test_resume_gives_the_same_curve_as_an_uninterrupted_run(stack, tmp_path) -> None:
    full = train_scene(
        "s", make_strategy("global", epochs=2, out_dir=str(tmp_path / "a"), **FAST), stack=stack, **SCENE
    )
    again = train_scene(
        "s", make_strategy("global", epochs=2, out_dir=str(tmp_path / "b"), **FAST), stack=stack, **SCENE
    )
    assert [h["train_loss"] for h in full.history] == [h["train_loss"] for h in again.history]  # reproducible
    cut = make_strategy("global", epochs=1, out_dir=str(tmp_path / "c"), **FAST)
    train_scene("s", cut, stack=stack, **SCENE)
    resumed = train_scene(
        "s",
        make_strategy("global", epochs=2, out_dir=str(tmp_path / "c"), **FAST),
        stack=stack,
        resume=True,
        **SCENE,
    )
    for key in ("train_loss", "val_loss", "val_iou"):
        assert [h[key] for h in resumed.history] == [h[key] for h in full.history]
    assert len(list(csv.DictReader(resumed.log_path.read_text().splitlines()))) == 2
    with pytest.raises(CheckpointError):
        train_scene(
            "s",
            make_strategy("global", epochs=3, seed=5, out_dir=str(tmp_path / "c"), **FAST),
            stack=stack,
            resume=True,
            **SCENE,
        )


def test_ema_weights_pixel_iou_monitor_and_cpu_bf16(stack, tmp_path) -> None:
    strat = make_strategy(
        "global",
        epochs=2,
        out_dir=str(tmp_path),
        name="ema",
        ema_decay=0.9,
        monitor="pixel_iou",
        cpu_bf16=True,
        **(FAST | {"model_overrides": {"fusion_filters": 32}}),
    )
    result = train_scene("synthetic", strat, stack=stack, **SCENE)
    assert all(p.dtype == torch.float32 for p in result.model.parameters())  # autocast, not a bf16 model
    assert np.isfinite([float(r["train_loss"]) for r in result.history]).all()
    rows = list(csv.DictReader(result.log_path.read_text().splitlines()))
    best = max(rows, key=lambda r: float(r["val_pixel_iou"]))
    extra = load_checkpoint(result.best_path).metadata["extra"]
    assert extra["epoch"] == int(best["epoch"]) == result.best_epoch
    assert extra["val_pixel_iou"] == pytest.approx(float(best["val_pixel_iou"]))
    with pytest.raises(ConfigError, match="ema_decay"):
        make_strategy("global", ema_decay=1.5)


def test_cpu_bf16_trains_glavitu_tiny_and_is_refused_where_it_changes_the_model(
    stack, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # glavitu_tiny: 8 fused channels into an 8 px, stride-8 patch embedding, wrong in bf16 on CPU (torch
    # 2.13); the ViT runs it in float32 under autocast, so bf16 training is allowed ...
    strat = make_strategy("global", epochs=1, out_dir=str(tmp_path), name="bf16", cpu_bf16=True, **FAST)
    result = train_scene("synthetic", strat, stack=stack, **SCENE)
    assert np.isfinite([float(r["train_loss"]) for r in result.history]).all()
    # ... and refused when that layer runs in bf16 after all
    conv, x = torch.nn.Conv2d(8, 16, 8, stride=8), torch.randn(2, 8, 32, 32)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        low = conv(x).float()
    with torch.no_grad():
        ref = conv(x)
    if float((low - ref).abs().mean() / ref.abs().mean()) < 0.05:
        pytest.skip(f"torch {torch.__version__} computes these bf16 convolutions correctly on this CPU")
    monkeypatch.setattr(ViTEncoder, "embed", lambda self, x: self.patch_embedding(x))
    strat = make_strategy("global", epochs=1, out_dir=str(tmp_path / "raw"), name="bf16", cpu_bf16=True, **FAST)
    with pytest.raises(ConfigError, match="bf16"):
        train_scene("synthetic", strat, stack=stack, **SCENE)
