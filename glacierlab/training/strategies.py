"""The five training strategies of docs/GLAVITU_SPEC.md §2 as small configurations over one :func:`train`.

| strategy | what changes |
|---|---|
| ``global`` | nothing: all regions pooled, the paper's recipe |
| ``regional`` | data filtered to a region or a cluster of regions (or subregions) |
| ``finetune`` | start from a checkpoint; Adam 5e-5, one cosine decay over 80 epochs, checkpoint on val loss |
| ``region_encoding`` | 12-long region one-hot as location input; "unknown" with p 0.1 in training;
  validation seen twice (true region and "unknown") |
| ``coordinate_encoding`` | [sin lat, cos lat, sin lon, cos lon] (radians) of the window centre |

:func:`train_scene` is the function the notebook and ``glacierlab train`` call: it stacks a catalog
region, splits it spatially, trains and stores the split with the model.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from glacierlab.contract.split import SpatialSplit, make_spatial_split
from glacierlab.errors import ConfigError, InputError, unknown_name
from glacierlab.files import atomic_path
from glacierlab.training.augment import AugmentConfig, unknown_region_vector
from glacierlab.training.config import TRAIN_WINDOW
from glacierlab.training.scene_dataset import ScenePatches, TrainingScene, scene_from_stack
from glacierlab.training.trainer import TrainConfig, TrainResult, train
from glacierlab.vocabulary import STRATEGIES


@dataclass(frozen=True)
class Strategy:
    """A strategy: the training config plus what it changes in the data.

    Attributes:
        name: One of :data:`STRATEGIES`.
        config: Hyper-parameters of :func:`train`.
        regions: Region codes to keep (regional / finetune on benchmark files), None = all.
        subregions: Subregion codes to keep, None = all.
        augment: Training augmentations.
        validate_unknown: Duplicate every validation window with the "unknown" region (region encoding).
    """

    name: str
    config: TrainConfig
    regions: tuple[str, ...] | None = None
    subregions: tuple[str, ...] | None = None
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    validate_unknown: bool = False


def global_strategy(**config: Any) -> Strategy:
    """All regions pooled (the reference strategy); ``config`` are :class:`TrainConfig` fields."""
    return Strategy("global", TrainConfig(**config))


def regional_strategy(
    regions: Sequence[str] | None = None, subregions: Sequence[str] | None = None, **config: Any
) -> Strategy:
    """One model per region or cluster of regions (e.g. ``("AWA", "ALP", "LL")``) or subregions."""
    if not regions and not subregions:
        raise ConfigError("the regional strategy needs regions=(...) or subregions=(...) to filter the data.")
    return Strategy(
        "regional",
        TrainConfig(**config),
        tuple(regions) if regions else None,
        tuple(subregions) if subregions else None,
    )


def finetune_strategy(
    checkpoint: str | Path, regions: Sequence[str] | None = None, **config: Any
) -> Strategy:
    """Continue a checkpoint (on one region): Adam 5e-5, one cosine decay over 80 epochs, min val loss."""
    defaults: dict[str, Any] = {"lr": 5e-5, "epochs": 80, "schedule": "cosine", "monitor": "loss"}
    return Strategy(
        "finetune",
        TrainConfig(**(defaults | config | {"init_checkpoint": str(checkpoint)})),
        tuple(regions) if regions else None,
    )


def region_encoding_strategy(unknown_p: float = 0.1, **config: Any) -> Strategy:
    """Global model conditioned on the region one-hot (unknown with ``unknown_p`` in training)."""
    return Strategy(
        "region_encoding",
        TrainConfig(**(config | {"location": "region"})),
        augment=AugmentConfig(unknown_region_p=unknown_p),
        validate_unknown=True,
    )


def coordinate_encoding_strategy(**config: Any) -> Strategy:
    """Global model conditioned on the sin/cos of the window centre's latitude and longitude."""
    return Strategy("coordinate_encoding", TrainConfig(**(config | {"location": "coordinates"})))


def make_strategy(
    strategy: str,
    /,
    *,
    regions: Sequence[str] | None = None,
    checkpoint: str | Path | None = None,
    **config: Any,
) -> Strategy:
    """Build a strategy by name (CLI and notebook entry).

    Args:
        strategy: One of :data:`STRATEGIES`.
        regions: Region codes for ``regional`` / ``finetune``.
        checkpoint: Starting checkpoint for ``finetune``.
        **config: :class:`TrainConfig` fields.

    Raises:
        UnknownNameError: ``strategy`` is not one of :data:`STRATEGIES`.
        ConfigError: ``finetune`` without ``checkpoint`` or ``regional`` without ``regions``.
    """
    name = strategy
    if name == "global":
        return global_strategy(**config)
    if name == "regional":
        return regional_strategy(regions, **config)
    if name == "finetune":
        if checkpoint is None:
            raise ConfigError(
                "the finetune strategy needs checkpoint=... (CLI: --checkpoint PATH) to start from."
            )
        return finetune_strategy(checkpoint, regions, **config)
    if name == "region_encoding":
        return region_encoding_strategy(**config)
    if name == "coordinate_encoding":
        return coordinate_encoding_strategy(**config)
    raise unknown_name("strategy", name, STRATEGIES)


class UnknownRegionCopies(Dataset):
    """Validation for region encoding: every sample twice, with its true region and with "unknown"."""

    def __init__(self, base: Dataset) -> None:
        self.base = base

    def __len__(self) -> int:
        return 2 * len(self.base)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> dict[str, Any]:
        n = len(self.base)  # type: ignore[arg-type]
        sample = self.base[index % n]
        if index >= n:
            sample = dict(sample, location=unknown_region_vector(len(sample["location"])))
        return sample


def run_strategy(strategy: Strategy, train_data: Dataset, val_data: Dataset, **kwargs: Any) -> TrainResult:
    """Train ``strategy`` on prepared datasets (``kwargs`` go to :func:`train`: bands, extra, resume...)."""
    if hasattr(train_data, "augment"):
        train_data.augment = strategy.augment
    if strategy.validate_unknown:
        val_data = UnknownRegionCopies(val_data)
    extra = {"strategy": strategy.name, **dict(kwargs.pop("extra", None) or {})}
    aug = strategy.augment
    if aug.drop_groups and aug.drop_group_p > 0:  # the no-data rule of prediction reads it (checks.optional_groups)
        extra["trained_without_groups"] = sorted({*extra.get("trained_without_groups", ()), *aug.drop_groups})
    return train(strategy.config, train_data, val_data, extra=extra, **kwargs)


def scene_datasets(
    strategy: Strategy, scene: TrainingScene, split: SpatialSplit, window: int, n_samples: int
) -> tuple[ScenePatches, ScenePatches]:
    """Training (random, augmented) and validation (grid) windows of one scene for a strategy."""
    if strategy.regions and scene.region not in strategy.regions:
        raise InputError(
            f"scene region {scene.region!r} is not among the strategy's regions {list(strategy.regions)}."
        )
    cfg = strategy.config
    tr = ScenePatches(
        scene,
        split,
        "train",
        window,
        mode="random",
        n_samples=n_samples,
        seed=cfg.seed,
        augment=strategy.augment,
        location=cfg.location,
    )
    va = ScenePatches(scene, split, "val", window, mode="grid", location=cfg.location)
    return tr, va


def train_scene(
    region_id: str,
    strategy: str | Strategy = "global",
    *,
    window: int = TRAIN_WINDOW,
    block_size: int = 160,
    buffer: int | None = None,
    fractions: Sequence[float] = (0.6, 0.2, 0.2),
    split_seed: int = 0,
    samples_per_epoch: int = 256,
    region_code: str | None = None,
    groups: Sequence[str] = ("optical", "dem"),
    resume: bool = False,
    stack: Any = None,
    on_epoch: Any = None,
    **config: Any,
) -> TrainResult:
    """Train a model on one catalog region with a spatial block split (the notebook's training call).

    Args:
        region_id: Catalog region (e.g. ``"everest"``), stacked with :func:`glacierlab.data.stack.stack_region`.
        strategy: Strategy name or a :class:`Strategy` (then ``config`` is ignored).
        window: Training window side in pixels (a multiple of the model's size multiple).
        block_size: Split block side in pixels (>= window).
        buffer: Gap between splits in pixels (default: ``window``).
        fractions: Shares of blocks for train, val, test.
        split_seed: Seed of the block assignment (independent of the training seed).
        samples_per_epoch: Random training windows per epoch.
        region_code: Region code for region encoding (e.g. ``"HMA"``; default
            the stack's ``region_code`` attribute).
        groups: Input groups of the stack to use.
        resume: Continue an interrupted run in the same ``out_dir``/``name``.
        stack: A ready xr.Dataset instead of stacking ``region_id`` (tests, user GeoTIFFs).
        on_epoch: Called with each epoch's history row (``glacierlab.training.train``'s hook).
        **config: :class:`TrainConfig` fields (and ``checkpoint=`` / ``regions=`` for :func:`make_strategy`).

    Returns:
        The :class:`TrainResult`; the checkpoints' metadata hold the split (``spatial_split``) and the
        split is also written to ``<out_dir>/<name>_split.json``.
    """
    if stack is None:
        from glacierlab.data.stack import stack_region

        stack = stack_region(region_id, groups=tuple(groups))
    strat = strategy if isinstance(strategy, Strategy) else make_strategy(strategy, **config)
    cfg = strat.config
    shape = tuple(int(s) for s in stack["reference"].shape)
    split = make_spatial_split(shape, block_size, window if buffer is None else buffer, fractions, split_seed)  # type: ignore[arg-type]
    norm = None
    if cfg.init_checkpoint:  # fine-tuning must feed inputs scaled as the checkpoint was trained
        from glacierlab.models import load_checkpoint

        norm = load_checkpoint(cfg.init_checkpoint).normalisation or None
    code = region_code or stack.attrs.get("region_code")
    if cfg.location == "region" and not code:
        raise ConfigError("region encoding needs region_code=... (CLI: --region-code, e.g. HMA for Everest).")
    scene = scene_from_stack(stack, groups, norm, stats_mask=split.mask("train"), region=code)
    train_ds, val_ds = scene_datasets(strat, scene, split, window, samples_per_epoch)
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / f"{cfg.name}_split.json", overwrite=True) as tmp:
        tmp.write_text(json.dumps(split.to_dict()))
    extra = {
        "region_id": region_id,
        "region_code": code,
        "window": window,
        "spatial_split": split.to_dict(),
        "split_fractions": list(fractions),
        "split_seed": split_seed,
        "product_level": stack.attrs.get("product_level"),  # checked against scenes at prediction
    }
    without = groups_missing_in(stack, groups, split.mask("train"))
    if without:  # labelled training pixels without these groups: the model learnt to map without them
        extra["trained_without_groups"] = without
    return run_strategy(strat, train_ds, val_ds, extra=extra, resume=resume, on_epoch=on_epoch)


def groups_missing_in(stack: Any, groups: Sequence[str], area: np.ndarray, share: float = 0.01) -> list[str]:
    """Groups with no value at all on at least ``share`` of the labelled pixels of ``area`` (training pixels).

    A model trained there learnt to map without them; prediction's no-data rule reads the record
    (:func:`glacierlab.inference.checks.optional_groups`).
    """
    labelled = area & (np.asarray(stack["reference"].values) != 255)
    n = int(labelled.sum())
    out = []
    for g in groups:
        a = np.asarray(stack[g].values, dtype=np.float32)
        gone = np.isnan(a).all(0) if a.ndim == 3 else np.isnan(a)
        if n and (gone & labelled).sum() >= share * n:
            out.append(str(g))
    return out


def _parser() -> Any:
    import argparse

    p = argparse.ArgumentParser(
        prog="glacierlab train",
        description="Train a glacier-mapping model on a catalog "
        "region with glacierlab's spatial block split (strategies docs/GLAVITU_SPEC.md §2, recipe §4; "
        "the paper's split is random per subregion, §3.2).",
    )
    p.add_argument(
        "--strategy", default="global", choices=STRATEGIES, help="training strategy (default global)"
    )
    p.add_argument("--region", default="everest", help="catalog region id (default everest)")
    p.add_argument("--region-code", default=None, help="paper region code for region encoding, e.g. HMA")
    p.add_argument(
        "--regions", nargs="+", default=None, help="region codes kept by the regional/finetune strategies"
    )
    p.add_argument("--checkpoint", default=None, help="checkpoint to fine-tune (finetune strategy)")
    p.add_argument("--variant", default="glavitu_lite", help="model variant (default glavitu_lite)")
    p.add_argument("--epochs", type=int, default=150, help="epochs (default 150 = restarts after 10/30/70)")
    p.add_argument("--window", type=int, default=TRAIN_WINDOW, help=f"window side in pixels (default {TRAIN_WINDOW})")
    p.add_argument("--batch-size", type=int, default=8, help="windows per step (default 8)")
    p.add_argument("--samples-per-epoch", type=int, default=256, help="random training windows per epoch")
    p.add_argument("--lr", type=float, default=None, help="start learning rate (default 5e-4; finetune 5e-5)")
    p.add_argument("--block-size", type=int, default=160, help="split block side in pixels (default 160)")
    p.add_argument("--buffer", type=int, default=None, help="gap between splits in pixels (default: window)")
    p.add_argument("--split-seed", type=int, default=0, help="seed of the block assignment (default 0)")
    p.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    p.add_argument("--out", default="runs/train", help="output folder (default runs/train)")
    p.add_argument("--name", default=None, help="output file stem (default <variant>_<strategy>_<region>)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes (default 0)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --out with --name")
    p.add_argument("--no-progress", action="store_true", help="no tqdm progress bar")
    return p


def train_main(argv: Sequence[str] | None = None) -> int:
    """``glacierlab train ...``: parse ``argv``, train, print where the checkpoint is; returns 0."""
    a = _parser().parse_args(list(argv) if argv is not None else None)
    config: dict[str, Any] = {
        "variant": a.variant,
        "epochs": a.epochs,
        "batch_size": a.batch_size,
        "seed": a.seed,
        "out_dir": a.out,
        "name": a.name or f"{a.variant}_{a.strategy}_{a.region}",
        "device": a.device,
        "num_workers": a.workers,
        "num_threads": a.threads,
        "progress": not a.no_progress,
    }
    if a.lr is not None:
        config["lr"] = a.lr
    strat = make_strategy(a.strategy, regions=a.regions, checkpoint=a.checkpoint, **config)
    result = train_scene(
        a.region,
        strat,
        window=a.window,
        block_size=a.block_size,
        buffer=a.buffer,
        split_seed=a.split_seed,
        samples_per_epoch=a.samples_per_epoch,
        region_code=a.region_code,
        resume=a.resume,
    )
    last = result.history[-1] if result.history else {}
    print(
        f"best checkpoint {result.best_path} (epoch {result.best_epoch}); last epoch: "
        f"train loss {last.get('train_loss', float('nan')):.4f}, "
        f"val IoU {last.get('val_iou', float('nan')):.3f}; "
        f"log {result.log_path}"
    )
    return 0
