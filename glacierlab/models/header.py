"""Checkpoint headers checked before use: the file type is sniffed, every header field validated.

A checkpoint's JSON header (see :mod:`glacierlab.models.checkpoint`) comes from a file: it is checked
field by field here before a model is built from it, so a damaged or hand-edited header gives a
:class:`~glacierlab.errors.CheckpointError` naming the file, the field and the fix, never an
``AttributeError``/``KeyError`` from deep inside.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from glacierlab.errors import CheckpointError, DataNotFoundError, InputError
from glacierlab.models.config import config_from_dict
from glacierlab.vocabulary import BAND_UNITS, CLASS_NAMES, PRODUCT_LEVEL_UNITS, known_product_level

if TYPE_CHECKING:
    from glacierlab.contract.record import TrainingRecord

FORMAT = "glacierlab-checkpoint"
FORMAT_VERSION = 1


#: Leading bytes of files people pass as checkpoints by mistake -> what they are and what to do.
_NOT_CHECKPOINTS = (
    (b"II*\x00", "a GeoTIFF (TIFF) raster", "pass it as an input raster, and the .safetensors file as checkpoint"),
    (b"MM\x00*", "a GeoTIFF (TIFF) raster", "pass it as an input raster, and the .safetensors file as checkpoint"),
    (b"\x89PNG", "a PNG image", "pass the .safetensors checkpoint file"),
    (b"\x89HDF", "an HDF5 file (Keras .h5 weights?)", "convert Keras weights with `glacierlab import-keras`"),
)


def sniff_checkpoint(path: Path) -> bytes:
    """The first bytes of ``path``, after refusing folders, empty files and known non-checkpoint formats."""
    if not path.exists():
        raise DataNotFoundError(
            f"checkpoint {path} not found; pass the path of a glacierlab .safetensors checkpoint."
        )
    if path.is_dir():
        raise CheckpointError(
            f"checkpoint {path} is a folder, not a file; pass the path of a glacierlab .safetensors file "
            "(e.g. the one save_checkpoint() or `glacierlab train` wrote)."
        )
    with open(path, "rb") as f:
        head = f.read(9)
    if not head:
        raise CheckpointError(
            f"checkpoint {path} is empty (0 bytes): an interrupted copy or download? Copy or save it again."
        )
    for magic, what, fix in _NOT_CHECKPOINTS:
        if head.startswith(magic):
            raise CheckpointError(f"{path} is {what}, not a glacierlab checkpoint; {fix}.")
    return head


def _fail(path: Path, what: str) -> CheckpointError:
    return CheckpointError(
        f"{path}: invalid glacierlab header: {what}. The file is damaged or was edited by hand; "
        "re-save the model with save_checkpoint() (or re-download it)."
    )


def _finite_numbers(value: Any, n: int) -> bool:
    return (
        isinstance(value, list)
        and len(value) == n
        and all(isinstance(x, int | float) and not isinstance(x, bool) and np.isfinite(x) for x in value)
    )


def validate_header(header: Any, path: str | os.PathLike[str]) -> dict[str, Any]:
    """Check a checkpoint header's structure and values before anything is built from it.

    Args:
        header: The parsed JSON header.
        path: The checkpoint file, for messages.

    Returns:
        ``header``, with ``"config"`` replaced by the rebuilt config object under ``"_config"``.

    Raises:
        CheckpointError: Not a JSON object, another format or a newer format version, a config that
            cannot be rebuilt, malformed ``input_groups`` (or ones that differ from the config's),
            normalisation statistics that are not finite per-band numbers with max > min, or class
            names other than glacierlab's (the model's class 1 must be glacier).
    """
    p = Path(path)
    if not isinstance(header, dict):
        raise _fail(p, f"expected a JSON object, got a JSON {type(header).__name__}")
    if header.get("format") != FORMAT:
        raise CheckpointError(
            f"{p}: header format {header.get('format')!r}, expected {FORMAT!r}; it is not a glacierlab "
            "checkpoint (convert Keras weights with `glacierlab import-keras`)."
        )
    version = header.get("format_version", FORMAT_VERSION)
    if not isinstance(version, int) or isinstance(version, bool) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"{p}: checkpoint format version {version!r}, this glacierlab reads up to {FORMAT_VERSION}; "
            "upgrade glacierlab (pip install -U glacierlab)."
        )
    if not isinstance(header.get("variant", ""), str):
        raise _fail(p, f"'variant' must be a string, got {header.get('variant')!r}")
    if not isinstance(header.get("config"), dict):
        raise _fail(p, "'config' is missing or not an object")
    try:
        config = config_from_dict(header["config"])
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"{p}: the stored config cannot be rebuilt ({err}).") from err
    groups = header.get("input_groups")
    if not isinstance(groups, list) or not groups:
        raise _fail(p, f"'input_groups' must be a non-empty list of [group, channels, band names], got {groups!r}")
    for g in groups:
        if not (
            isinstance(g, list)
            and len(g) == 3
            and isinstance(g[0], str)
            and isinstance(g[1], int)
            and not isinstance(g[1], bool)
            and isinstance(g[2], list)
            and len(g[2]) == g[1]
            and all(isinstance(b, str) and b for b in g[2])
            and len(set(g[2])) == len(g[2])
        ):
            raise _fail(
                p, f"input group {g!r} is not [name, channels, [one unique band name per channel]]"
            )
    pairs = [(g[0], g[1]) for g in groups]
    if pairs != [tuple(x) for x in config.input_groups]:
        raise _fail(p, f"input_groups {pairs} differ from the config's {list(config.input_groups)}")
    norm = header.get("normalisation")
    if norm is not None:
        if not isinstance(norm, dict):
            raise _fail(p, f"'normalisation' must be an object group -> {{min, max}}, got {norm!r}")
        channels = dict(pairs)
        for g, stats in norm.items():
            if g not in channels:
                raise _fail(p, f"normalisation names unknown group {g!r}; groups: {list(channels)}")
            if not isinstance(stats, dict) or not {"min", "max"} <= set(stats):
                raise _fail(p, f"normalisation[{g!r}] must hold 'min' and 'max' lists")
            for k, v in stats.items():
                if not _finite_numbers(v, channels[g]):
                    raise _fail(
                        p, f"normalisation[{g!r}][{k!r}] = {v!r} must be {channels[g]} finite numbers"
                    )
            if any(hi <= lo for lo, hi in zip(stats["min"], stats["max"], strict=True)):
                raise _fail(p, f"normalisation[{g!r}] has max <= min: min {stats['min']}, max {stats['max']}")
    names = header.get("class_names", list(CLASS_NAMES))
    if names != list(CLASS_NAMES) or config.n_classes != len(CLASS_NAMES):
        raise CheckpointError(
            f"{p}: class names {names!r} ({config.n_classes} model classes) do not match glacierlab's "
            f"classes {list(CLASS_NAMES)} (0 = {CLASS_NAMES[0]}, 1 = {CLASS_NAMES[1]}); predictions would "
            "map the wrong class as glacier. Use a checkpoint trained for these classes in this order."
        )
    if not isinstance(header.get("extra", {}), dict):
        raise _fail(p, "'extra' must be an object")
    from glacierlab.contract.record import TrainingRecord

    try:
        TrainingRecord.from_extra(header.get("extra"))
    except CheckpointError as err:
        raise CheckpointError(f"{p}: {err}") from err
    _check_options_and_inputs(header, p, dict(pairs))
    return {**header, "_config": config}


def _check_options_and_inputs(header: dict[str, Any], p: Path, channels: dict[str, int]) -> None:
    """The stored inference options and input semantics (units, product level), if present."""
    from glacierlab.contract.options import PredictOptions
    from glacierlab.errors import GlacierLabError
    from glacierlab.vocabulary import PRODUCT_LEVELS

    if "options" in header:
        if not isinstance(header["options"], dict):
            raise _fail(p, f"'options' must be an object of prediction options, got {header['options']!r}")
        try:
            PredictOptions.from_dict(header["options"])
        except (GlacierLabError, TypeError) as err:
            raise CheckpointError(f"{p}: the stored inference options are invalid ({err}).") from err
    inputs = header.get("inputs", {})
    if not isinstance(inputs, dict):
        raise _fail(p, f"'inputs' must be an object group -> {{units, product_level}}, got {inputs!r}")
    for g, spec in inputs.items():
        if g not in channels or not isinstance(spec, dict):
            raise _fail(p, f"inputs[{g!r}] names no input group of {list(channels)} or is not an object")
        units = spec.get("units", [""] * channels[g])
        if not isinstance(units, list) or len(units) != channels[g]:
            raise _fail(p, f"inputs[{g!r}]['units'] must list {channels[g]} units, got {units!r}")
        level = spec.get("product_level")
        if level is not None and level not in PRODUCT_LEVELS:
            raise _fail(p, f"inputs[{g!r}]['product_level'] {level!r} is not one of {list(PRODUCT_LEVELS)}")


def check_checkpoint_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Check that ``path`` is a glacierlab checkpoint with a valid header, cheaply (no model, no torch).

    For ``.safetensors`` files only the JSON header is read; other files are only sniffed (their
    header is checked when :func:`glacierlab.models.checkpoint.load_checkpoint` reads them).

    Returns:
        The validated header (empty for non-safetensors files).

    Raises:
        DataNotFoundError: The file does not exist.
        CheckpointError: A folder, an empty file, another format, or an invalid header.
    """
    import json

    p = Path(path)
    head = sniff_checkpoint(p)
    if head[8:9] != b"{":
        return {}
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(p), framework="numpy") as sf:
            text = (sf.metadata() or {}).get("glacierlab")
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{p} is not a readable safetensors file: {err}") from err
    if not isinstance(text, str):
        raise CheckpointError(f"{p} has no glacierlab header; it is not a glacierlab checkpoint.")
    try:
        return validate_header(json.loads(text), p)
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{p}: corrupt glacierlab header ({err}).") from err


def inputs_from_record(record: TrainingRecord, bands: Mapping[str, Any]) -> dict[str, Any] | None:
    """The record's ``inputs``, else the training scene's ``product_level`` for the optical group."""
    if record.inputs:
        return dict(record.inputs)
    level = record.product_level
    return {"optical": {"product_level": level}} if level and "optical" in bands else None


def input_spec(
    bands: Mapping[str, Sequence[str]], inputs: Mapping[str, Mapping[str, Any]] | None = None
) -> dict[str, dict[str, Any]]:
    """The header's ``inputs``: per group the ``units`` per band and, when known, the ``product_level``.

    Units default to :data:`~glacierlab.vocabulary.BAND_UNITS`; ``inputs`` adds or overrides entries.

    Raises:
        InputError: A group that is not an input, a units list of the wrong length, a bad product level.
    """
    spec: dict[str, dict[str, Any]] = {
        g: {"units": [BAND_UNITS.get(b, "unknown") for b in names]} for g, names in bands.items()
    }
    for g, entry in (inputs or {}).items():
        if g not in spec:
            raise InputError(f"inputs names unknown group {g!r}; groups: {list(bands)}.")
        entry = dict(entry)
        if "units" in entry and len(entry["units"]) != len(bands[g]):
            raise InputError(f"inputs[{g!r}]['units'] needs {len(bands[g])} entries, got {entry['units']}.")
        if entry.get("product_level") is not None:
            level = known_product_level(str(entry["product_level"]))
            if "units" not in entry:  # optical DN or reflectance, as the level says
                entry["units"] = [
                    PRODUCT_LEVEL_UNITS[level] if BAND_UNITS.get(b) == "reflectance" else u
                    for b, u in zip(bands[g], spec[g]["units"], strict=True)
                ]
        spec[g].update({k: (list(v) if isinstance(v, list | tuple) else v) for k, v in entry.items()})
    return spec


def header_of(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The validated JSON header of a checkpoint, read without building its model (model cards, widgets).

    ``.safetensors``: only the header is read; other files are read with ``torch.load(weights_only=True)``.

    Raises:
        DataNotFoundError: No such file. CheckpointError: Not a glacierlab checkpoint, invalid header.
    """
    import json

    header = check_checkpoint_file(path)
    if not header:  # a torch .pt checkpoint: tensors + JSON string, read weights-only (never runs code)
        import torch

        p = Path(path)
        try:
            obj = torch.load(p, map_location="cpu", weights_only=True)
            text = obj.get("glacierlab") if isinstance(obj, dict) else None
            header = validate_header(json.loads(text), p) if isinstance(text, str) else {}
        except CheckpointError:
            raise
        except json.JSONDecodeError as err:
            raise CheckpointError(f"{p}: corrupt glacierlab header ({err}).") from err
        except Exception as err:  # UnpicklingError, RuntimeError...: refuse, never execute
            raise CheckpointError(f"refused to read {p}: not a weights-only glacierlab checkpoint ({err}).") from err
        if not header:
            raise CheckpointError(f"{p} has no glacierlab header; it is not a glacierlab checkpoint.")
    return {k: v for k, v in header.items() if k != "_config"}
