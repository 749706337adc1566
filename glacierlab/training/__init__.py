"""Training: the paper's recipe (GLAVITU_SPEC.md §2-§4), five strategies, datasets, baselines (imports torch).

* :func:`train` with a :class:`TrainConfig` runs one training (resumable, logged, reproducible);
* :func:`make_strategy` / :func:`train_scene` give the five strategies over one catalog scene;
* :class:`ScenePatches` (spatial block split) and :class:`BenchmarkPatches` (released HDF5 files)
  are the datasets;
* :mod:`~glacierlab.training.baselines` has the random-forest and band-ratio baselines;
* :func:`train_main` is the ``glacierlab train`` command.
"""

from glacierlab.training.augment import AugmentConfig, augment_sample
from glacierlab.training.benchmark_h5 import BenchmarkPatches, filter_tiles, read_tiles
from glacierlab.training.losses import focal_loss, total_loss
from glacierlab.training.metrics import ConfusionCounts, confusion_counts, per_patch_iou
from glacierlab.training.scene_dataset import (
    Scene,
    ScenePatches,
    SpatialSplit,
    make_spatial_split,
    scene_from_stack,
)
from glacierlab.training.strategies import (
    STRATEGIES,
    Strategy,
    make_strategy,
    run_strategy,
    train_main,
    train_scene,
)
from glacierlab.training.trainer import TrainConfig, TrainResult, train

__all__ = [
    "STRATEGIES",
    "AugmentConfig",
    "BenchmarkPatches",
    "ConfusionCounts",
    "Scene",
    "ScenePatches",
    "SpatialSplit",
    "Strategy",
    "TrainConfig",
    "TrainResult",
    "augment_sample",
    "confusion_counts",
    "filter_tiles",
    "focal_loss",
    "make_spatial_split",
    "make_strategy",
    "per_patch_iou",
    "read_tiles",
    "run_strategy",
    "scene_from_stack",
    "total_loss",
    "train",
    "train_main",
    "train_scene",
]
