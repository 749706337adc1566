"""What a checkpoint records about how it was made, as typed fields (the header's ``extra`` object).

Training (:func:`glacierlab.training.train`, :func:`~glacierlab.training.train_scene`) and the Keras
import (:func:`glacierlab.models.paper_import.import_keras`) write these facts into the checkpoint
header's ``extra`` object; :class:`TrainingRecord` is the one place that reads that object. Everything
else asks the record (``checkpoint.record.region_id``, ``.spatial_split``, ``.training_window``...), never
the raw dict. :class:`CheckpointContract` is what ``inference``, ``reports`` and ``batch`` may rely on in
a loaded checkpoint (:class:`glacierlab.models.checkpoint.Checkpoint` has all of it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from glacierlab.contract.options import PredictOptions, training_defaults
from glacierlab.contract.split import SpatialSplit
from glacierlab.errors import CheckpointError
from glacierlab.vocabulary import PRODUCT_LEVELS

_TYPES: dict[str, tuple[type, ...]] = {
    "strategy": (str,),
    "source": (str,),
    "region_id": (str,),
    "region": (str,),
    "window": (int,),
    "product_level": (str,),
    "inputs": (dict,),
    "epoch": (int,),
    "val_iou": (int, float),
    "val_loss": (int, float),
    "weights": (dict,),
    "training": (dict,),
    "trained_without_groups": (list,),
    "heldout": (dict,),
}


@dataclass(frozen=True)
class TrainingRecord:
    """The typed facts of a checkpoint's header ``extra`` (all optional: imports record fewer than training).

    Attributes:
        strategy: Training strategy (``"global"``, ``"finetune"``... or the paper's, for imported weights).
        source: Where the weights came from (``"keras:<file>"`` for imports); None for glacierlab training.
        region_id: The catalog region trained on (glacierlab training).
        region: The paper's region code of regional / fine-tuned published weights.
        window: Training window side in pixels (``training["window"]`` wins when both are recorded).
        product_level: Optical product level of the training scene (``"toa"``, ``"surface"``, ``"dn8"``).
        inputs: Per-group input semantics recorded by older checkpoints (now the header's ``inputs``).
        spatial_split: The spatial train/val/test split of the training scene.
        epoch: The epoch the checkpoint was saved at (1-based).
        val_iou: Validation IoU at that epoch (0-1).
        val_loss: Validation loss at that epoch.
        weights: Registry metadata of published weights (name, title, IoU per region, licence...).
        training: The training configuration (:meth:`glacierlab.training.TrainConfig.to_json`).
        trained_without_groups: Input groups training blanked whole in some samples, so the model may map
            pixels without them (:func:`glacierlab.inference.checks.optional_groups`).
        heldout: The trained model scored on its test blocks next to the baselines
            (:class:`glacierlab.contract.comparison.HeldOutComparison` as a dict; read it with ``stored_comparison``).
        other: Every other recorded fact, kept as written.
    """

    strategy: str | None = None
    source: str | None = None
    region_id: str | None = None
    region: str | None = None
    window: int | None = None
    product_level: str | None = None
    inputs: dict[str, Any] | None = None
    spatial_split: SpatialSplit | None = None
    epoch: int | None = None
    val_iou: float | None = None
    val_loss: float | None = None
    weights: dict[str, Any] | None = None
    training: dict[str, Any] | None = None
    trained_without_groups: list[str] | None = None
    heldout: dict[str, Any] | None = None
    other: dict[str, Any] = field(default_factory=dict)

    @property
    def training_window(self) -> int | None:
        """The training window in pixels: the training configuration's, else the recorded ``window``."""
        configured = (self.training or {}).get("window")
        return int(configured) if configured else self.window

    @classmethod
    def from_extra(cls, extra: Mapping[str, Any] | None) -> TrainingRecord:
        """Read a header's ``extra`` object (None: an empty record).

        Raises:
            CheckpointError: A known fact of the wrong type (e.g. a non-numeric ``val_iou``), or a
                spatial split that cannot be rebuilt.
        """
        facts = dict(extra or {})
        known = {f.name for f in dataclasses.fields(cls)} - {"other", "spatial_split"}
        values: dict[str, Any] = {}
        for name in sorted(known & set(facts)):
            value = facts.pop(name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, _TYPES[name]):
                expected = " or ".join(t.__name__ for t in _TYPES[name])
                raise CheckpointError(
                    f"the checkpoint records {name}={value!r}, expected {expected}; "
                    "the header was edited by hand: re-save the model with save_checkpoint()."
                )
            values[name] = float(value) if isinstance(value, int | float) and name.startswith("val_") else value
        level = values.get("product_level")
        if level is not None and level not in PRODUCT_LEVELS:
            raise CheckpointError(f"the checkpoint records product_level {level!r}, not one of {list(PRODUCT_LEVELS)}.")
        split = facts.pop("spatial_split", None)
        if split is not None:
            if not isinstance(split, Mapping):
                raise CheckpointError(f"the checkpoint's spatial_split must be an object, got {split!r}.")
            try:
                values["spatial_split"] = SpatialSplit.from_dict(split)
            except (TypeError, ValueError) as err:
                raise CheckpointError(f"the checkpoint's spatial_split cannot be rebuilt ({err}).") from err
        return cls(**values, other=facts)

    def to_extra(self) -> dict[str, Any]:
        """The JSON-ready ``extra`` object (inverse of :meth:`from_extra`; unset facts left out)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "other" or value is None:
                continue
            out[f.name] = value.to_dict() if isinstance(value, SpatialSplit) else value
        return {**out, **self.other}


def options_from_header(header: Mapping[str, Any]) -> PredictOptions:
    """The options a checkpoint header asks for.

    Its ``options`` field when present; otherwise (checkpoints written before options travelled with
    them) the training window of ``extra.training.window`` (or ``extra.window``) with stride
    ``window // 2`` and ``nodata="all"`` for glacierlab-trained models, and the defaults for others.

    Raises:
        UnknownNameError, ConfigError: The stored options are invalid.
    """
    if isinstance(header.get("options"), Mapping):
        return PredictOptions.from_dict(header["options"])
    return training_defaults(TrainingRecord.from_extra(header.get("extra")).training_window)



class CheckpointContract(Protocol):
    """What code above ``models`` may rely on in a loaded checkpoint (``models.checkpoint.Checkpoint``).

    Attributes:
        options: The inference settings it is run with.
        record: How it was made (:class:`TrainingRecord`).
        inputs: Per input group ``{"units": [...], "product_level": ...}`` (header ``inputs``).
        bands: Group -> band names in channel order.
        normalisation: Group -> ``{"min": [...], "max": [...]}`` per band, or None.
        calibration: Stored calibrator arrays (:meth:`glacierlab.contract.calibration.Calibrator.from_arrays`).
    """

    options: PredictOptions | None
    record: TrainingRecord
    inputs: dict[str, dict[str, Any]]
    bands: dict[str, list[str]]
    normalisation: dict[str, dict[str, list[float]]] | None
    calibration: dict[str, np.ndarray]
