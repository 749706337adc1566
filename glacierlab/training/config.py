"""Training hyper-parameters: :class:`TrainConfig` (defaults: the paper's global model, docs/GLAVITU_SPEC.md §4)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from glacierlab.errors import ConfigError, unknown_name
from glacierlab.files import safe_name

#: Training window side in pixels when none is given (``train_scene``, ``glacierlab train``, ``fit_split``):
#: the shipped model's; a multiple of every variant's size multiple.
TRAIN_WINDOW = 96
SCHEDULES = ("restarts", "cosine")
MONITORS = ("iou", "pixel_iou", "loss")


@dataclass(frozen=True)
class TrainConfig:
    """Training hyper-parameters (defaults: the paper's global model).

    Attributes:
        variant: Model name for :func:`glacierlab.models.build_model`.
        model_overrides: Extra config fields for the model (e.g. ``{"dropout_in_training": True}``).
        location: Location encoding: ``"none"``, ``"region"`` or ``"coordinates"``.
        epochs: Total epochs (paper 150 = 10 + 20 + 40 + 80).
        batch_size: Windows per step (paper 8).
        lr: Start learning rate of Adam (paper 5e-4; fine-tuning 5e-5).
        adam_eps: Adam epsilon (Keras 1e-7).
        schedule: ``"restarts"`` (cosine with warm restarts) or ``"cosine"`` (one decay over all epochs).
        restart_epochs: First cycle length in epochs (T_0; paper 10).
        restart_mult: Cycle length multiplier (T_mult; paper 2).
        focal_gamma: Focal-loss exponent (paper 2).
        aux_weight: Weight of the deep-supervision loss (paper 0.5).
        monitor: What ``<name>.safetensors`` tracks: best validation ``"iou"`` (mean per patch, the
            paper's), best ``"pixel_iou"`` (IoU of the summed validation pixels) or lowest ``"loss"``.
        max_steps_per_epoch: Cap on steps per epoch (None: the whole training dataset).
        init_checkpoint: Checkpoint to start from (fine-tuning); its model replaces ``variant``.
        seed: Seed of model initialisation, sampling and augmentation.
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``...
        amp: bf16 autocast on CUDA (ignored on CPU).
        cpu_bf16: bf16 autocast and channels-last memory on CPU (about 2x faster where the CPU has
            AMX / AVX512-BF16; losses differ slightly from float32 runs). Off by default. The ViT patch
            embedding runs in float32 under it (torch 2.13's CPU bf16 convolutions are wrong for < 32
            input channels with kernel = stride >= 8); refused when bf16 still does not reproduce the
            float32 forward pass.
        num_workers: DataLoader worker processes.
        num_threads: Torch intra-op CPU threads during the run (None: torch's default); restored after.
        out_dir: Output folder.
        name: File-name stem of the outputs.
        progress: Show a tqdm bar with loss and IoU.
        ema_decay: If set (e.g. 0.999), an exponential moving average of the weights (and BatchNorm
            statistics; with a warm-up) is kept after every step; validation and the saved checkpoints
            use it. Not in the paper. A resumed run restarts the average from the resumed weights.
    """

    variant: str = "glavitu_lite"
    model_overrides: Mapping[str, Any] = field(default_factory=dict)
    location: str = "none"
    epochs: int = 150
    batch_size: int = 8
    lr: float = 5e-4
    adam_eps: float = 1e-7
    schedule: str = "restarts"
    restart_epochs: int = 10
    restart_mult: int = 2
    focal_gamma: float = 2.0
    aux_weight: float = 0.5
    monitor: str = "iou"
    max_steps_per_epoch: int | None = None
    init_checkpoint: str | None = None
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    cpu_bf16: bool = False
    num_workers: int = 0
    num_threads: int | None = None
    out_dir: str = "runs/train"
    name: str = "model"
    progress: bool = True
    ema_decay: float | None = None

    def __post_init__(self) -> None:
        safe_name(self.name, "run name")  # output files are <out_dir>/<name>*: never outside out_dir
        for name in ("epochs", "batch_size", "restart_epochs", "restart_mult"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)!r}.")
        if not (self.lr > 0 and self.adam_eps > 0 and self.focal_gamma >= 0 and self.aux_weight >= 0):
            raise ConfigError("lr and adam_eps must be > 0, focal_gamma and aux_weight >= 0.")
        if self.schedule not in SCHEDULES:
            raise unknown_name("schedule", self.schedule, SCHEDULES)
        if self.monitor not in MONITORS:
            raise unknown_name("monitor", self.monitor, MONITORS)
        if self.location not in ("none", "region", "coordinates"):
            raise unknown_name("location encoding", self.location, ("none", "region", "coordinates"))
        if self.ema_decay is not None and not 0.0 < self.ema_decay < 1.0:
            raise ConfigError(f"ema_decay must be None or in (0, 1), got {self.ema_decay!r}.")
        if self.num_workers < 0 or (self.max_steps_per_epoch is not None and self.max_steps_per_epoch < 1):
            raise ConfigError("num_workers must be >= 0 and max_steps_per_epoch None or >= 1.")

    def to_json(self) -> str:
        """The config as JSON (stored in checkpoints and the resume state)."""
        return json.dumps(
            dataclasses.asdict(self) | {"model_overrides": dict(self.model_overrides)}, default=str
        )
