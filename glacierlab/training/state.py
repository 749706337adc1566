"""What a training run writes to disk: model checkpoints, the resume state and the CSV log.

* :func:`save_model`: a glacierlab checkpoint (:func:`glacierlab.models.save_checkpoint`) of the model
  with its band names, normalisation and run metadata;
* :func:`save_state` / :func:`load_state`: model + optimiser + scheduler + epoch + RNG state + history,
  written atomically with ``torch.save`` (plain tensors and dicts only) and read back with
  ``torch.load(weights_only=True)``, so a state file can never run pickled code. A state only resumes
  the configuration that wrote it (the fields of :data:`RESUME_KEYS` must match; ``epochs`` may change).
* :func:`write_log`: one CSV row per epoch with the columns of :data:`LOG_FIELDS`.
"""

from __future__ import annotations

import csv
import json
import pickle
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from glacierlab.errors import CheckpointError
from glacierlab.files import atomic_path

if TYPE_CHECKING:
    from glacierlab.models.base import SegmentationModel

from glacierlab.training.config import TrainConfig

STATE_FORMAT = "glacierlab-train-state-1"
LOG_FIELDS = (
    "epoch",
    "lr",
    "train_loss",
    "train_iou",
    "val_loss",
    "val_iou",
    "val_pixel_iou",
    "val_precision",
    "val_recall",
    "val_f1",
    "seconds",
    "saved",
)
# TrainConfig fields that must be equal for a state to be resumed (epochs may grow, threads may change...).
RESUME_KEYS = (
    "variant",
    "model_overrides",
    "location",
    "batch_size",
    "lr",
    "schedule",
    "restart_epochs",
    "restart_mult",
    "seed",
    "init_checkpoint",
)


def write_log(path: Path, history: Sequence[Mapping[str, Any]]) -> None:
    """Write the per-epoch rows as CSV (columns :data:`LOG_FIELDS`; missing values left empty), atomically."""
    with atomic_path(path, overwrite=True) as tmp, tmp.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=LOG_FIELDS)
        writer.writeheader()
        for row in history:
            writer.writerow({k: row.get(k, "") for k in LOG_FIELDS})


def save_model(
    path: Path,
    model: SegmentationModel,
    bands: Mapping[str, Sequence[str]] | None,
    normalisation: Mapping[str, Any] | None,
    extra: Mapping[str, Any],
) -> None:
    """Write (replace) a self-describing checkpoint of ``model``.

    Args:
        path: ``.safetensors`` output file.
        model: A glacierlab model.
        bands: Group -> band names in channel order; None names them ``<group>_<i>``.
        normalisation: Group -> ``{"min": [...], "max": [...]}`` used for the inputs, or None.
        extra: JSON-ready run metadata (training config, spatial split, epoch, validation scores).
    """
    from glacierlab.models import save_checkpoint

    bands = bands or {g: [f"{g}_{i}" for i in range(c)] for g, c in model.input_groups.items()}
    save_checkpoint(
        path,
        model,
        bands={g: list(b) for g, b in bands.items()},
        normalisation=normalisation,
        extra=dict(extra),
        overwrite=True,
    )


def save_state(
    path: Path,
    config: TrainConfig,
    model: torch.nn.Module,
    opt: torch.optim.Optimizer,
    sched: Any,
    epoch: int,
    history: list[dict[str, Any]],
    best: dict[str, Any],
) -> None:
    """Write everything :func:`load_state` needs to continue after ``epoch`` (1-based epochs done).

    Args:
        path: Output file (``<name>_state.pt``), replaced atomically.
        config: The run's configuration (stored as JSON to refuse resuming another configuration).
        model: Model whose ``state_dict`` is saved.
        opt: Optimiser (Adam moments).
        sched: Learning-rate scheduler.
        epoch: Number of finished epochs.
        history: Log rows so far.
        best: Best monitored value, lowest validation loss and best epoch.
    """
    state = {
        "format": STATE_FORMAT,
        "config": config.to_json(),
        "epoch": epoch,
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "history": json.dumps(history),
        "best": {k: float(v) for k, v in best.items()},
    }
    with atomic_path(path, overwrite=True) as tmp:
        torch.save(state, tmp)


def load_state(
    path: Path, config: TrainConfig, model: torch.nn.Module, opt: torch.optim.Optimizer, sched: Any
) -> tuple[int, list[dict[str, Any]], dict[str, Any]]:
    """Restore a state written by :func:`save_state` into ``model``, ``opt`` and ``sched`` (in place).

    Returns:
        (finished epochs, log rows, best dict) to continue the loop from.

    Raises:
        CheckpointError: The file is missing, is not a glacierlab training state, or was written with a
            different configuration (the differing fields are named).
    """
    if not path.exists():
        raise CheckpointError(f"resume state {path} not found; train once without --resume to create it.")
    fix = "delete it (or choose another out_dir/name) and train without --resume to start a new run"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as err:
        raise CheckpointError(
            f"refused to read resume state {path}: {type(err).__name__}: {str(err).splitlines()[0][:300]}. "
            f"It is damaged or not a glacierlab training state (it was read with weights_only=True, so "
            f"nothing in it ran); {fix}."
        ) from err
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise CheckpointError(
            f"{path} is not a glacierlab training state (written by glacierlab.training.train); {fix}."
        )
    try:
        return _restore(path, state, config, model, opt, sched)
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as err:
        if isinstance(err, CheckpointError):
            raise
        raise CheckpointError(
            f"resume state {path} is malformed ({type(err).__name__}: {str(err)[:300]}); {fix}."
        ) from err


def _restore(
    path: Path, state: dict[str, Any], config: TrainConfig, model: torch.nn.Module, opt: Any, sched: Any
) -> tuple[int, list[dict[str, Any]], dict[str, Any]]:
    saved, now = json.loads(state["config"]), json.loads(config.to_json())
    diff = [k for k in RESUME_KEYS if saved.get(k) != now.get(k)]
    if diff:
        raise CheckpointError(
            f"resume state {path} was trained with different {diff}: {[saved.get(k) for k in diff]}; "
            "use the same settings (only epochs may change) or start a new run."
        )
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"])
    if state["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    best = {k: (int(v) if k == "epoch" else float(v)) for k, v in state["best"].items()}
    if "iou" in best:  # states written before 0.2 called the monitored score "iou" even for monitor="loss"
        best["monitored"] = best.pop("iou")
    return int(state["epoch"]), json.loads(state["history"]), best
