"""Training: the paper's recipe (docs/GLAVITU_SPEC.md §2-§4), five strategies, datasets, baselines.

Loaded lazily: importing ``glacierlab.training`` imports no torch; each name loads its module (and
torch) on first use.

* :func:`train` with a :class:`TrainConfig` runs one training (resumable, logged, reproducible);
* :func:`make_strategy` / :func:`train_scene` give the five strategies over one catalog scene;
* :class:`ScenePatches` (spatial block split) and :class:`BenchmarkPatches` (released HDF5 files)
  are the datasets;
* :mod:`~glacierlab.training.baselines` has the random-forest and band-ratio baselines;
* :func:`train_main` is the ``glacierlab train`` command.

Pixel scores (confusion counts, IoU) live in :mod:`glacierlab.metrics` (numpy only).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from glacierlab import lazy_exports

if TYPE_CHECKING:
    from glacierlab.contract.split import SpatialSplit, make_spatial_split
    from glacierlab.training.augment import AugmentConfig, augment_sample
    from glacierlab.training.benchmark_h5 import BenchmarkPatches, filter_tiles, read_tiles
    from glacierlab.training.config import TrainConfig
    from glacierlab.training.losses import focal_loss, total_loss
    from glacierlab.training.scene_dataset import ScenePatches, TrainingScene, scene_from_stack
    from glacierlab.training.strategies import (
        Strategy,
        make_strategy,
        run_strategy,
        train_main,
        train_scene,
    )
    from glacierlab.training.trainer import TrainResult, train
    from glacierlab.vocabulary import STRATEGIES

_EXPORTS = {
    "AugmentConfig": "augment",
    "augment_sample": "augment",
    "BenchmarkPatches": "benchmark_h5",
    "filter_tiles": "benchmark_h5",
    "read_tiles": "benchmark_h5",
    "focal_loss": "losses",
    "total_loss": "losses",
    "TrainingScene": "scene_dataset",
    "ScenePatches": "scene_dataset",
    "SpatialSplit": "glacierlab.contract.split",
    "make_spatial_split": "glacierlab.contract.split",
    "scene_from_stack": "scene_dataset",
    "STRATEGIES": "glacierlab.vocabulary",
    "Strategy": "strategies",
    "make_strategy": "strategies",
    "run_strategy": "strategies",
    "train_main": "strategies",
    "train_scene": "strategies",
    "TrainConfig": "config",
    "TrainResult": "trainer",
    "train": "trainer",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
