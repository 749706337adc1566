"""Training: the paper's recipe (docs/GLAVITU_SPEC.md §2-§4), five strategies, datasets, baselines.

Loaded lazily: importing ``glacierlab.training`` imports no torch; each name loads its module (and
torch) on first use.

* :func:`train` with a :class:`TrainConfig` runs one training (resumable, logged, reproducible);
* :func:`make_strategy` / :func:`train_scene` give the five strategies over one catalog scene;
* :class:`ScenePatches` (spatial block split) and :class:`BenchmarkPatches` (released HDF5 files)
  are the datasets;
* :mod:`~glacierlab.training.baselines` has the random-forest and band-ratio baselines;
* :func:`train_main` is the ``glacierlab train`` command.

Pixel scores (confusion counts, IoU) live in :mod:`glacierlab.metrics` (numpy only); the spatial split in
:mod:`glacierlab.contract.split`. The face exports what callers outside the package use; the rest is
imported from its module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from glacierlab import lazy_exports

if TYPE_CHECKING:
    from glacierlab.training.augment import AugmentConfig
    from glacierlab.training.benchmark_h5 import BenchmarkPatches
    from glacierlab.training.config import TrainConfig
    from glacierlab.training.scene_dataset import ScenePatches, scene_from_stack
    from glacierlab.training.strategies import make_strategy, run_strategy, train_main, train_scene
    from glacierlab.training.trainer import train

_EXPORTS = {
    "AugmentConfig": "augment",
    "BenchmarkPatches": "benchmark_h5",
    "ScenePatches": "scene_dataset",
    "scene_from_stack": "scene_dataset",
    "make_strategy": "strategies",
    "run_strategy": "strategies",
    "train_main": "strategies",
    "train_scene": "strategies",
    "TrainConfig": "config",
    "train": "trainer",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
