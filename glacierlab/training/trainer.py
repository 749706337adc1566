"""One training loop for every strategy: the paper's recipe (docs/GLAVITU_SPEC.md §4).

Adam (eps 1e-7) with per-step cosine annealing and warm restarts (cycles of 10, 20, 40, 80 epochs) or a
single cosine decay (fine-tuning); focal loss (gamma 2) + 0.5 x deep supervision; validation glacier IoU
per patch (empty patch with empty prediction = 1). Files written to ``out_dir``:

* ``<name>.safetensors``: best validation IoU (or best loss when ``monitor="loss"``), a glacierlab checkpoint;
* ``<name>_minloss.safetensors``: lowest validation loss of the final head;
* ``<name>_log.csv``: one row per epoch;
* ``<name>_state.pt``: model + optimiser + scheduler + epoch + RNG state for ``resume`` (plain tensors and
  dicts, loaded with ``torch.load(weights_only=True)``).

How these files are written and read back lives in :mod:`glacierlab.training.state`.

Every sample's randomness is a function of (seed, epoch, index) and the model is initialised after
``torch.manual_seed(seed)``, so on CPU the same seed gives the same loss curve, and a resumed run gives
the same curve as an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence, Sized
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from glacierlab.errors import CheckpointError, ConfigError
from glacierlab.metrics import ConfusionCounts, confusion_counts, per_patch_iou
from glacierlab.models.base import SegmentationModel
from glacierlab.models.device import resolve_device
from glacierlab.training.config import TrainConfig
from glacierlab.training.losses import focal_loss, total_loss
from glacierlab.training.state import load_state, save_model, save_state, write_log

#: Why an epoch's weights became ``<name>.safetensors``, in plain words (the log's ``saved`` column).
KEPT_BECAUSE = {
    "iou": "best validation IoU so far",
    "pixel_iou": "best validation pixel IoU so far",
    "loss": "lowest validation loss so far",
}


@dataclass
class TrainResult:
    """What :func:`train` produced.

    Attributes:
        model: The model with the weights of the last epoch (in eval mode).
        best_path: Checkpoint chosen by ``monitor``.
        minloss_path: Checkpoint with the lowest validation loss.
        log_path: CSV log.
        state_path: Resume state.
        history: One dict per epoch (the CSV rows).
        best_epoch: 1-based epoch of ``best_path``.
    """

    model: torch.nn.Module
    best_path: Path
    minloss_path: Path
    log_path: Path
    state_path: Path
    history: list[dict[str, Any]]
    best_epoch: int

    @property
    def best_val_iou(self) -> float:
        """Validation IoU of the best-IoU epoch."""
        return max((h["val_iou"] for h in self.history), default=float("nan"))

    @property
    def kept(self) -> dict[str, Any]:
        """The history row of the epoch kept as ``best_path`` (chosen by the config's ``monitor``)."""
        return next((h for h in self.history if h["epoch"] == self.best_epoch), {})


def _to(
    batch: Mapping[str, Any], device: torch.device
) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor | None]:
    nb = device.type == "cuda"
    inputs = {k: v.to(device, non_blocking=nb) for k, v in batch["inputs"].items()}
    loc = batch.get("location")
    return (
        inputs,
        batch["target"].to(device, non_blocking=nb),
        None if loc is None else loc.to(device, non_blocking=nb),
    )


def _masks(logits: torch.Tensor, target: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(prediction, reference, valid) boolean (N, H, W) masks from logits and soft targets."""
    pred = (logits[:, 1] > logits[:, 0]).cpu().numpy()
    ref = (target[:, 1] > target[:, 0]).cpu().numpy()
    valid = (target.sum(dim=1) > 0).cpu().numpy()
    return pred, ref, valid


def build_training_model(config: TrainConfig, input_groups: Mapping[str, int]) -> SegmentationModel:
    """The model a run starts from: the ``init_checkpoint``'s model, or a fresh ``variant``."""
    if config.init_checkpoint:
        from glacierlab.models import load_checkpoint

        model = load_checkpoint(config.init_checkpoint).model
        if dict(model.input_groups) != dict(input_groups):
            raise CheckpointError(
                f"checkpoint {config.init_checkpoint} expects input groups {dict(model.input_groups)}, "
                f"the data "
                f"give {dict(input_groups)}; fine-tune on data with the same groups and bands."
            )
        return model
    from glacierlab.models import build_model

    return build_model(
        config.variant, dict(input_groups), location=config.location, **dict(config.model_overrides)
    )


def _scheduler(
    config: TrainConfig, opt: torch.optim.Optimizer, steps: int
) -> torch.optim.lr_scheduler.LRScheduler:
    if config.schedule == "restarts":
        return torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
            opt, T_0=config.restart_epochs * steps, T_mult=config.restart_mult, eta_min=0.0
        )
    return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=config.epochs * steps, eta_min=0.0)


@torch.no_grad()
def evaluate(
    model: torch.nn.Module, loader: DataLoader, device: torch.device, *, gamma: float = 2.0, amp: bool = False
) -> tuple[float, float, ConfusionCounts]:
    """Validation loss of the final head, mean per-patch glacier IoU and summed pixel counts.

    ``amp``: bf16 autocast on the device (the trainer passes its ``amp`` / ``cpu_bf16`` choice).
    """
    model.eval()
    losses, ious, counts = [], [], ConfusionCounts()
    for batch in loader:
        inputs, target, loc = _to(batch, device)
        with _autocast(device, amp):
            out = model(inputs, loc)
        losses.append(float(focal_loss(out.logits, target, gamma)) * target.shape[0])
        pred, ref, valid = _masks(out.logits.float(), target)
        ious.extend(per_patch_iou(pred, ref, valid).tolist())
        counts = counts + confusion_counts(pred, ref, valid)
    n = max(len(ious), 1)
    return sum(losses) / n, float(np.mean(ious)) if ious else float("nan"), counts


def _autocast(device: torch.device, amp: bool) -> contextlib.AbstractContextManager[Any]:
    if amp and device.type in ("cuda", "cpu"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _check_cpu_bf16(model: torch.nn.Module, sample: Mapping[str, Any], device: torch.device) -> None:
    """Refuse CPU bf16 autocast when it does not reproduce the float32 forward pass of this model.

    torch 2.13 (CPU, oneDNN) computes bf16 convolutions with fewer than 32 input channels and a
    kernel = stride of 8 or more (a 16 px ViT patch embedding on 16 fused channels, as in
    ``glavitu_lite``) wrongly: the outputs differ from float32 by more than their own size. Such layers
    run in float32 under CPU autocast (:func:`glacierlab.accel.rewrites.autocast_safe`); this guard
    refuses any other wrong layer, since a model trained on a wrong function fails in float32.
    """
    batch = {k: torch.as_tensor(np.asarray(v))[None].to(device) for k, v in sample["inputs"].items()}
    loc = sample.get("location")
    loc_t = None if loc is None else torch.as_tensor(np.asarray(loc))[None].to(device)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        ref = model(batch, loc_t).logits.float()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model(batch, loc_t).logits.float()
    model.train(was_training)
    rel = float((low - ref).abs().mean() / (ref.abs().mean() + 1e-12))
    if not rel < 0.05:
        raise ConfigError(
            f"CPU bf16 autocast changes this model's output by {100 * rel:.0f} % of its size (torch "
            f"{torch.__version__}'s CPU bf16 convolutions are wrong for some layer shapes, e.g. < 32 input "
            "channels with kernel = stride >= 8); train it in float32 (cpu_bf16=False)."
        )


def _use_amp(config: TrainConfig, device: torch.device) -> bool:
    """bf16 autocast: ``amp`` on CUDA, ``cpu_bf16`` on CPU."""
    return config.amp if device.type == "cuda" else config.cpu_bf16 and device.type == "cpu"


def train(
    config: TrainConfig,
    train_data: Dataset,
    val_data: Dataset,
    *,
    bands: Mapping[str, Sequence[str]] | None = None,
    normalisation: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    resume: bool | str | Path = False,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Train (or fine-tune, or resume) a model.

    Args:
        config: Hyper-parameters.
        train_data: Dataset of samples (``inputs``, ``target``, optional ``location``); if it has
            ``set_epoch(epoch)``, it is called before every epoch.
        val_data: Validation samples (not augmented).
        bands: Band names per group stored in the checkpoints (default ``train_data.bands``).
        normalisation: Min/max statistics stored in the checkpoints (default ``train_data.normalisation``).
        extra: JSON-ready metadata stored in the checkpoints (e.g. the spatial split).
        resume: False; True (``<out_dir>/<name>_state.pt``) or a state path: continue an interrupted run.
        on_epoch: Called with each epoch's history row once it is logged (e.g. a notebook's live table).

    Returns:
        The :class:`TrainResult`.

    Raises:
        CheckpointError: The resume state does not belong to this configuration.
    """
    threads = torch.get_num_threads()
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    try:
        return _train(config, train_data, val_data, bands, normalisation, extra, resume, on_epoch)
    finally:
        torch.set_num_threads(threads)


def _train(
    config: TrainConfig,
    train_data: Dataset,
    val_data: Dataset,
    bands: Mapping[str, Sequence[str]] | None,
    normalisation: Mapping[str, Any] | None,
    extra: Mapping[str, Any] | None,
    resume: bool | str | Path,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> TrainResult:
    device = torch.device(resolve_device(config.device))
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        k: out / f"{config.name}{s}"
        for k, s in (
            ("best", ".safetensors"),
            ("minloss", "_minloss.safetensors"),
            ("log", "_log.csv"),
            ("state", "_state.pt"),
        )
    }
    bands = bands if bands is not None else getattr(train_data, "bands", None)
    normalisation = normalisation if normalisation is not None else getattr(train_data, "normalisation", None)
    meta = {"training": json.loads(config.to_json()), **dict(extra or {})}

    first = train_data[0]
    groups = {g: int(a.shape[0]) for g, a in first["inputs"].items()}
    torch.manual_seed(config.seed)
    from glacierlab.accel.rewrites import autocast_safe, subpixel_upsampling

    # the same parameters: validation (no autograd) runs the up-convolutions as transposed convolutions
    model = subpixel_upsampling(build_training_model(config, groups)).to(device)
    amp = _use_amp(config, device)
    if amp and device.type == "cpu":
        model = autocast_safe(model).to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        _check_cpu_bf16(model, first, device)
    pin = device.type == "cuda"
    loader = DataLoader(
        train_data,
        batch_size=config.batch_size,
        shuffle=False,
        drop_last=True,
        num_workers=config.num_workers,
        pin_memory=pin,
    )
    val_loader = DataLoader(
        val_data, batch_size=config.batch_size, shuffle=False, num_workers=config.num_workers, pin_memory=pin
    )
    if len(loader) == 0:
        raise ConfigError(
            f"{len(cast(Sized, train_data))} training samples make no full batch of {config.batch_size}."
        )
    steps = min(len(loader), config.max_steps_per_epoch or len(loader))
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, betas=(0.9, 0.999), eps=config.adam_eps)
    sched = _scheduler(config, opt, steps)
    history: list[dict[str, Any]] = []
    # "monitored": best value of the monitored score (val IoU, or -val loss when monitor="loss")
    best = {"monitored": -math.inf, "loss": math.inf, "epoch": 0}
    start = 0
    if resume:
        state_path = paths["state"] if resume is True else Path(resume)
        start, history, best = load_state(state_path, config, model, opt, sched)
    ema = _ema(model, config.ema_decay)

    for epoch in range(start, config.epochs):
        t0 = time.perf_counter()
        if hasattr(train_data, "set_epoch"):
            train_data.set_epoch(epoch)
        model.train()
        loss_sum, iou_sum, n = 0.0, 0.0, 0
        bar = _progress(loader, steps, f"epoch {epoch + 1}/{config.epochs}", config.progress)
        for step, batch in enumerate(bar):
            if step >= steps:
                break
            inputs, target, loc = _to(batch, device)
            with _autocast(device, amp):
                out_ = model(inputs, loc)
            loss = total_loss(
                out_.logits, out_.aux_logits, target, gamma=config.focal_gamma, aux_weight=config.aux_weight
            )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if ema is not None:
                ema.update_parameters(model)
            with torch.no_grad():
                iou = float(per_patch_iou(*_masks(out_.logits.detach().float(), target)).mean())
            loss_sum, iou_sum, n = loss_sum + float(loss.detach()), iou_sum + iou, n + 1
            if config.progress:
                bar.set_postfix(loss=f"{loss_sum / n:.4f}", iou=f"{iou_sum / n:.3f}")
        if config.progress:
            bar.close()
        scored = model if ema is None else cast(SegmentationModel, ema.module)
        val_loss, val_iou, counts = evaluate(
            scored, val_loader, device, gamma=config.focal_gamma, amp=amp
        )
        row: dict[str, Any] = {
            "epoch": epoch + 1,
            "lr": sched.get_last_lr()[0],
            "train_loss": loss_sum / n,
            "train_iou": iou_sum / n,
            "val_loss": val_loss,
            "val_iou": val_iou,
            "val_pixel_iou": counts.iou,
            "val_precision": counts.precision,
            "val_recall": counts.recall,
            "val_f1": counts.f1,
        }
        saved = []
        row_meta = meta | {
            "epoch": epoch + 1,
            "val_iou": val_iou,
            "val_pixel_iou": counts.iou,
            "val_loss": val_loss,
        }
        if val_loss < best["loss"]:
            best["loss"] = val_loss
            save_model(paths["minloss"], scored, bands, normalisation, row_meta)
            saved.append("lowest-loss copy")
        monitored = {"iou": val_iou, "pixel_iou": counts.iou, "loss": -val_loss}[config.monitor]
        if monitored > best["monitored"]:
            best["monitored"], best["epoch"] = monitored, epoch + 1
            save_model(paths["best"], scored, bands, normalisation, row_meta)
            saved = [f"kept as the model ({KEPT_BECAUSE[config.monitor]})"]
        row["saved"] = saved[-1] if saved else ""
        row["seconds"] = round(time.perf_counter() - t0, 3)
        history.append(row)
        write_log(paths["log"], history)
        save_state(paths["state"], config, model, opt, sched, epoch + 1, history, best)
        if on_epoch is not None:
            on_epoch(dict(row))
    if ema is not None:
        model.load_state_dict(ema.module.state_dict())
    model.eval()
    return TrainResult(
        model, paths["best"], paths["minloss"], paths["log"], paths["state"], history, int(best["epoch"])
    )


def _ema(model: torch.nn.Module, decay: float | None) -> torch.optim.swa_utils.AveragedModel | None:
    """An exponential moving average of ``model``'s parameters and buffers, or None."""
    if decay is None:
        return None
    from torch.optim.swa_utils import AveragedModel

    def avg_fn(averaged: torch.Tensor, current: torch.Tensor, n: torch.Tensor | int) -> torch.Tensor:
        # warm-up: the first updates weigh the current weights more, so the average soon forgets
        # the random initialisation (decay_t = min(decay, (1 + n) / (10 + n)))
        d = min(float(decay), (1.0 + float(n)) / (10.0 + float(n)))
        return averaged + (current - averaged) * (1.0 - d)

    return AveragedModel(model, avg_fn=avg_fn, use_buffers=True)


def _progress(loader: DataLoader, steps: int, desc: str, enabled: bool) -> Any:
    if not enabled:
        return loader
    from tqdm.auto import tqdm

    return tqdm(loader, total=steps, desc=desc, leave=False)
