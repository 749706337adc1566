"""Self-describing checkpoints: safetensors weights + a JSON header; no pickle is ever executed.

The header (safetensors metadata key ``"glacierlab"``) holds the variant, the config, the input
groups with band names, normalisation statistics, the inputs' units and product level (``inputs``),
the inference settings the checkpoint is meant to be run with (``options``, a
:class:`~glacierlab.contract.options.PredictOptions`), class names, the glacierlab version and extra
metadata. Weights are stored as ``model.<name>`` tensors and calibration arrays as
``calibration.<name>`` tensors in the same file. A torch ``.pt`` file with the same content
(``{"glacierlab": <json>, "tensors": {...}}``) is also accepted; it is read only with
``torch.load(weights_only=True)``, so a file holding other Python objects is refused, not run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import torch
from torch import nn

from glacierlab.contract.options import PredictOptions, training_defaults
from glacierlab.contract.record import TrainingRecord, options_from_header
from glacierlab.contract.split import SpatialSplit
from glacierlab.errors import CheckpointError, GlacierLabError, InputError
from glacierlab.files import atomic_path
from glacierlab.models.base import SegmentationModel
from glacierlab.models.config import config_to_dict
from glacierlab.models.header import (
    FORMAT,
    FORMAT_VERSION,
    input_spec,
    inputs_from_record,
    sniff_checkpoint,
    validate_header,
)
from glacierlab.vocabulary import CLASS_NAMES

DEFAULT_CLASS_NAMES = CLASS_NAMES
_MODEL, _CAL = "model.", "calibration."


@dataclass
class Checkpoint:
    """A loaded checkpoint: the rebuilt model (eval mode) and everything needed to use it."""

    model: SegmentationModel
    variant: str
    config: Any
    bands: dict[str, list[str]]
    normalisation: dict[str, dict[str, list[float]]] | None
    calibration: dict[str, np.ndarray] = field(default_factory=dict)
    class_names: list[str] = field(default_factory=lambda: list(DEFAULT_CLASS_NAMES))
    metadata: dict[str, Any] = field(default_factory=dict)
    options: PredictOptions | None = None
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    record: TrainingRecord = field(default_factory=TrainingRecord)

    @property
    def split(self) -> SpatialSplit | None:
        """The spatial train/val/test split the model was trained on (None for imported weights)."""
        return self.record.spatial_split


#: What every entry point accepts as a model: a loaded :class:`Checkpoint` or the path of one.
CheckpointLike: TypeAlias = "Checkpoint | str | os.PathLike[str]"


def as_checkpoint(checkpoint: CheckpointLike) -> Checkpoint:
    """A loaded checkpoint: ``checkpoint`` itself, or :func:`load_checkpoint` of a path."""
    if isinstance(checkpoint, str | os.PathLike):
        return load_checkpoint(Path(checkpoint))
    return checkpoint


def _list_names(names: Sequence[str], limit: int = 12) -> str:
    names = list(names)
    more = f" (+{len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def state_mismatch(
    model: nn.Module, state: Mapping[str, torch.Tensor], *, ignore_missing: Sequence[str] = ()
) -> list[str]:
    """Describe how ``state`` differs from the model's tensors (empty list when it fits exactly)."""
    own = model.state_dict()
    missing = [k for k in own if k not in state and not k.endswith(tuple(ignore_missing))]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k} {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in state
        if k in own and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    parts = []
    if missing:
        parts.append(f"missing {len(missing)} tensors: {_list_names(missing)}")
    if unexpected:
        parts.append(f"unexpected {len(unexpected)} tensors: {_list_names(unexpected)}")
    if shapes:
        parts.append(f"{len(shapes)} mis-shaped tensors: {_list_names(shapes)}")
    return parts


def assign_state(
    model: nn.Module,
    state: Mapping[str, torch.Tensor],
    *,
    source: str = "checkpoint",
    ignore_missing: Sequence[str] = (),
) -> None:
    """Copy ``state`` into ``model`` after checking names and shapes exactly.

    Args:
        model: Target model.
        state: Name -> tensor (``model.state_dict()`` names).
        source: Where the tensors come from, for the error message.
        ignore_missing: Name endings that may be absent (kept as in the model), e.g. ``num_batches_tracked``.

    Raises:
        CheckpointError: Missing, unexpected or mis-shaped tensors; every offending name is listed.
    """
    parts = state_mismatch(model, state, ignore_missing=ignore_missing)
    if parts:
        raise CheckpointError(
            f"{source} does not fit this model ({getattr(model, 'variant', type(model).__name__)}): "
            + "; ".join(parts)
            + ". Build the model from the checkpoint with load_checkpoint(), or with the same variant "
            "and input groups."
        )
    own = model.state_dict()
    with torch.no_grad():
        for k, v in state.items():
            own[k].copy_(v.to(own[k].dtype))


def _header(
    model: SegmentationModel,
    bands: Mapping[str, Sequence[str]],
    normalisation: Mapping[str, Mapping[str, Sequence[float]]] | None,
    class_names: Sequence[str],
    extra: TrainingRecord | Mapping[str, Any] | None,
    options: PredictOptions | Mapping[str, Any] | None = None,
    inputs: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    from glacierlab import __version__

    record, groups = _record(extra), model.input_groups
    if list(bands) != list(groups):
        raise InputError(
            f"bands must name exactly the model's groups in order {list(groups)}, got {list(bands)}."
        )
    for g, names in bands.items():
        if len(names) != groups[g]:
            raise InputError(
                f"bands[{g!r}] has {len(names)} names, the model's {g!r} group has {groups[g]} channels."
            )
    norm = None
    if normalisation is not None:
        norm = {}
        for g, stats in normalisation.items():
            if g not in groups:
                raise InputError(f"normalisation names unknown group {g!r}; groups: {list(groups)}.")
            norm[g] = {k: [float(x) for x in v] for k, v in stats.items()}
            if any(len(v) != groups[g] for v in norm[g].values()):
                raise InputError(f"normalisation[{g!r}] needs {groups[g]} values per statistic.")
    if len(class_names) != model.config.n_classes:
        raise InputError(f"class_names has {len(class_names)} names for {model.config.n_classes} classes.")
    if list(class_names) != list(CLASS_NAMES):
        raise InputError(
            f"class_names {list(class_names)} differ from glacierlab's classes {list(CLASS_NAMES)}; "
            "inference reads class 1 as glacier, so train with these classes in this order."
        )
    for g, stats in (norm or {}).items():
        bad = {k: v for k, v in stats.items() if not all(np.isfinite(v))}
        if bad or not {"min", "max"} <= set(stats):
            raise InputError(f"normalisation[{g!r}] needs finite 'min' and 'max' per band, got {stats}.")
        if any(hi <= lo for lo, hi in zip(stats["min"], stats["max"], strict=True)):
            raise InputError(f"normalisation[{g!r}] needs max > min per band, got {stats}.")
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "glacierlab_version": __version__,
        "variant": model.variant,
        "config": config_to_dict(model.config),
        "input_groups": [[g, c, list(bands[g])] for g, c in groups.items()],
        "normalisation": norm,
        "class_names": list(class_names),
        "inputs": input_spec(bands, inputs if inputs is not None else inputs_from_record(record, bands)),
        "options": (
            options if isinstance(options, PredictOptions)
            else training_defaults(record.training_window) if options is None
            else PredictOptions.from_dict(options)
        ).to_dict(),
        "extra": record.to_extra(),
    }


def _record(extra: TrainingRecord | Mapping[str, Any] | None) -> TrainingRecord:
    """The training record to store, checked (a fact of the wrong type is refused before writing)."""
    try:
        return extra if isinstance(extra, TrainingRecord) else TrainingRecord.from_extra(extra)
    except CheckpointError as err:
        raise InputError(f"extra: {err}") from err


def save_checkpoint(
    path: str | os.PathLike[str],
    model: SegmentationModel,
    *,
    bands: Mapping[str, Sequence[str]],
    normalisation: Mapping[str, Mapping[str, Sequence[float]]] | None = None,
    calibration: Mapping[str, Any] | None = None,
    class_names: Sequence[str] = DEFAULT_CLASS_NAMES,
    extra: TrainingRecord | Mapping[str, Any] | None = None,
    overwrite: bool = False,
    options: PredictOptions | Mapping[str, Any] | None = None,
    inputs: Mapping[str, Mapping[str, Any]] | None = None,
) -> Path:
    """Write a self-describing checkpoint (atomically).

    Args:
        path: ``.safetensors`` (recommended) or ``.pt``/``.pth`` (torch zip, tensors + JSON string only).
        model: A glacierlab model.
        bands: Group -> band names in channel order (must match ``model.input_groups``).
        normalisation: Optional group -> ``{"min": [...], "max": [...]}`` per band.
        calibration: Optional name -> numeric array (e.g. calibrator knots), stored as tensors.
        class_names: One name per class.
        extra: How the model was made (a :class:`~glacierlab.contract.record.TrainingRecord` or its dict).
        overwrite: Replace an existing file.
        options: The inference settings the checkpoint should be run with (every entry point starts
            from them). None: the record's training window with stride window/2 and ``nodata="all"``,
            else the defaults.
        inputs: Per group ``{"product_level": "toa"|"surface"|"dn8", "units": [...]}`` (units default
            to :data:`~glacierlab.vocabulary.BAND_UNITS`); None takes the record's ``inputs``, else its
            optical ``product_level`` that training records.

    Returns:
        The written path.
    """
    header = _header(model, bands, normalisation, class_names, extra, options, inputs)
    tensors = {_MODEL + k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    for name, arr in (calibration or {}).items():
        a = np.asarray(arr)
        if a.dtype.kind not in "fiu":
            raise InputError(f"calibration[{name!r}] must be a numeric array, got dtype {a.dtype}.")
        tensors[_CAL + name] = torch.from_numpy(np.array(a, order="C", copy=True))
    text = json.dumps(header)
    path = Path(path)
    with atomic_path(path, overwrite=overwrite) as tmp:
        if path.suffix in (".pt", ".pth"):
            torch.save({"glacierlab": text, "tensors": tensors}, tmp)
        else:
            from safetensors.torch import save_file

            save_file(tensors, str(tmp), metadata={"glacierlab": text})
    return path


def _read(path: Path, map_location: str | torch.device) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    head = sniff_checkpoint(path)
    if len(head) == 9 and head[8:9] == b"{":  # safetensors: 8-byte header length, then JSON
        from safetensors import SafetensorError
        from safetensors.torch import load_file, safe_open

        try:
            with safe_open(str(path), framework="pt") as sf:
                meta = sf.metadata() or {}
            tensors = load_file(str(path), device=str(map_location))
        except (SafetensorError, OSError, ValueError) as err:
            raise CheckpointError(f"{path} is not a readable safetensors file: {err}") from err
        text = meta.get("glacierlab")
    else:
        try:
            obj = torch.load(path, map_location=map_location, weights_only=True)
        except Exception as err:  # UnpicklingError, RuntimeError, EOFError...: refuse, never execute
            raise CheckpointError(
                f"refused to load {path}: it is not a weights-only torch file ({type(err).__name__}: "
                f"{str(err).splitlines()[0] if str(err) else ''}). glacierlab loads checkpoints with "
                "weights_only=True and never runs pickled code; re-save the model with save_checkpoint()."
            ) from err
        if not isinstance(obj, dict) or not isinstance(obj.get("tensors"), dict):
            raise CheckpointError(
                f"{path} is a torch file but not a glacierlab checkpoint (no 'tensors' dict)."
            )
        text, tensors = obj.get("glacierlab"), obj["tensors"]
    if not isinstance(text, str):
        raise CheckpointError(f"{path} has no glacierlab header; it is not a glacierlab checkpoint.")
    try:
        header = json.loads(text)
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path}: corrupt glacierlab header ({err}).") from err
    bad = [k for k, v in tensors.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"{path}: 'tensors' holds non-tensor entries {bad[:5]}; re-save the model.")
    return validate_header(header, path), tensors


def check_tensor_shapes(
    config: Any, variant: str, tensors: Mapping[str, torch.Tensor], path: str | os.PathLike[str]
) -> SegmentationModel:
    """Compare the stored tensors with the model the config describes, without allocating that model.

    The model is built on PyTorch's ``meta`` device (shapes only, no memory), so a tampered config
    (say ``vit.mlp_dim`` = 5e7) is refused before gigabytes are allocated. Returns that meta model: every
    one of its tensors has a stored counterpart of the same shape.

    Raises:
        CheckpointError: Missing, unexpected or mis-shaped tensors (named).
    """
    from glacierlab.models.registry import build_from_config

    try:
        skeleton = build_from_config(config, variant=variant or "custom", device="meta")
    except (TypeError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"{path}: the stored config does not describe a buildable model ({err}).") from err
    state = {k[len(_MODEL) :]: v for k, v in tensors.items() if k.startswith(_MODEL)}
    parts = state_mismatch(skeleton, state)
    if parts:
        raise CheckpointError(
            f"{path}: the header's config does not match the stored tensors: {'; '.join(parts)}. "
            "The header was edited or belongs to another file; re-save the model with save_checkpoint()."
        )
    return skeleton


def load_checkpoint(
    path: str | os.PathLike[str], map_location: str | torch.device = "cpu", *, variant: str | None = None
) -> Checkpoint:
    """Load a checkpoint and rebuild its model (in eval mode) from the stored config.

    Args:
        path: A file written by :func:`save_checkpoint` or :func:`import_keras`.
        map_location: Device for the tensors.
        variant: If given, the checkpoint must be of this variant.

    Raises:
        DataNotFoundError: The file does not exist.
        CheckpointError: Not a glacierlab checkpoint, an unsafe pickle, another variant, or tensors
            that do not fit the rebuilt model (named in the message).
    """
    path = Path(path)
    header, tensors = _read(path, map_location)
    if variant is not None and header.get("variant") != variant:
        raise CheckpointError(f"{path} holds variant {header.get('variant')!r}, expected {variant!r}.")
    config = header.pop("_config")
    skeleton = check_tensor_shapes(config, header.get("variant", "custom"), tensors, path)  # before allocating
    own = skeleton.state_dict()  # copies (aligned: oneDNN rounds unaligned data differently) become the weights
    state = {k[len(_MODEL) :]: v for k, v in tensors.items() if k.startswith(_MODEL)}
    skeleton.load_state_dict({k: v.to(map_location, own[k].dtype, copy=True) for k, v in state.items()}, assign=True)
    model = skeleton.eval()
    calibration = {k[len(_CAL) :]: v.cpu().numpy() for k, v in tensors.items() if k.startswith(_CAL)}
    try:  # checkpoints written before options travelled with them: the training window, else defaults
        opts = options_from_header(header)
    except (GlacierLabError, TypeError) as err:
        raise CheckpointError(f"{path}: the stored inference options are invalid ({err}).") from err
    try:
        record = TrainingRecord.from_extra(header.get("extra"))
    except CheckpointError as err:
        raise CheckpointError(f"{path}: {err}") from err
    return Checkpoint(
        model=model,
        variant=model.variant,
        config=config,
        bands={g: list(names) for g, _, names in header["input_groups"]},
        normalisation=header.get("normalisation"),
        calibration=calibration,
        class_names=list(header.get("class_names", DEFAULT_CLASS_NAMES)),
        metadata=header,
        options=opts,
        inputs=dict(header.get("inputs") or {}),
        record=record,
    )


def load_weights(
    model: SegmentationModel, path: str | os.PathLike[str], map_location: str | torch.device = "cpu"
) -> None:
    """Load a checkpoint's weights into an existing model, checking variant, names and shapes.

    Raises:
        CheckpointError: The checkpoint is of another variant, or tensors are missing, unexpected or
            mis-shaped (all named).
    """
    path = Path(path)
    header, tensors = _read(path, map_location)
    header.pop("_config")
    state = {k[len(_MODEL) :]: v for k, v in tensors.items() if k.startswith(_MODEL)}
    stored = header.get("variant")
    if stored != model.variant:
        parts = state_mismatch(model, state) or ["all tensor names and shapes fit"]
        raise CheckpointError(
            f"{path} holds variant {stored!r} but the model is {model.variant!r}: {'; '.join(parts)}. "
            f"Use load_checkpoint({str(path)!r}) to rebuild the stored model."
        )
    assign_state(model, state, source=str(path))
