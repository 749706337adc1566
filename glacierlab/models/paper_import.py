"""The authors' published Keras weights as self-describing glacierlab checkpoints (``glacierlab import-keras``).

:mod:`glacierlab.models.keras_import` maps the ``.h5`` tensors; this module detects what the file is
(input groups, location input, strategy), attaches what the paper's pipeline needs (band names and
units, TOA product level, min/max statistics, the authors' calibrator, the paper's inference options)
and records the weights-registry metadata for the model card.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from glacierlab.errors import CheckpointError, ConfigError, GlacierLabWarning
from glacierlab.models.config import GlaViTUConfig
from glacierlab.models.keras_import import DEFAULT_BANDS, keras_to_state_dict


def strategy_of(config: GlaViTUConfig, file_name: str) -> tuple[str, str | None]:
    """The paper strategy (GLAVITU_SPEC.md §2) of imported weights, and its region when the name says one.

    Region and coordinate encoding show in the weights (a 12- or 4-long location block); global,
    regional and fine-tuned weights have the same structure, so the published name template
    ``<model>_<strategy>[_<regions>][_<data track>]_weights.h5`` decides (default ``"global"``).
    """
    if config.location == "region":
        return "region_encoding", None
    if config.location == "coordinates":
        return "coordinate_encoding", None
    parts = Path(file_name).name.removesuffix(".h5").removesuffix("_weights").split("_")
    from glacierlab.models.location import REGION_ALIASES, REGION_CODES

    regions = [p for p in parts if p in REGION_CODES or p in REGION_ALIASES]
    for word, strategy in (("finetuning", "finetune"), ("regional", "regional")):  # the authors' file names
        if word in parts:
            return strategy, regions[0] if regions else None
    return "global", None


def import_keras(
    h5_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    bands: Mapping[str, Sequence[str]] | None = None,
    overwrite: bool = False,
    *,
    normalisation: Mapping[str, Mapping[str, Sequence[float]]] | str | None = "paper",
    calibration: str | os.PathLike[str] | None = None,
    product_level: str | None = "toa",
    entry: Any = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Convert a Keras GlaViTU ``.h5`` into a self-describing glacierlab checkpoint (``glacierlab import-keras``).

    Everything is detected from the file: the input groups (the Keras input layers), the location
    input (a 12-long region or 4-long coordinate vector) and so the strategy (region / coordinate
    encoding; otherwise global, fine-tuning or regional from the published file-name template). The
    checkpoint stores the paper's band names and units, the optical product level (top-of-atmosphere
    L1C reflectance), the paper's min/max statistics, the authors' calibrator when given, and the
    paper's inference options (:data:`~glacierlab.contract.options.PAPER_OPTIONS`), so that
    ``glacierlab predict`` reproduces the authors' ``deploy.py`` maps.

    Args:
        h5_path: The Keras weights file (training model, both heads).
        out_path: Destination ``.safetensors`` (or ``.pt``) file.
        bands: Group -> band names in channel order; default the paper's names for its groups.
        overwrite: Replace an existing ``out_path``.
        normalisation: ``"paper"`` (the training dataset's statistics, from the weights registry),
            per-group ``{"min": [...], "max": [...]}``, or None (inputs fed unscaled; not the paper's).
        calibration: The authors' KernelRidge calibration pickle (read with a restricted unpickler,
            :mod:`glacierlab.contract.sklearn_pickle`), or None.
        product_level: Optical product level the weights expect (the paper: ``"toa"``).
        entry: The :class:`~glacierlab.models.weights_registry.WeightsEntry` the file is (found by its
            file name when None); its structure is checked against the file and its metadata stored.
        extra: Optional extra metadata (JSON-serialisable).

    Returns:
        The written path.

    Raises:
        CheckpointError: Not a GlaViTU file, unmapped weights, no band names for a group, or a file
            whose groups / location input contradict ``entry``.
        CorruptFileError: A calibration pickle that is not a KernelRidge or names forbidden globals.
    """
    from glacierlab.contract.calibration import Calibrator
    from glacierlab.contract.options import PAPER_OPTIONS
    from glacierlab.models import weights_registry as reg
    from glacierlab.models.checkpoint import assign_state, save_checkpoint
    from glacierlab.models.registry import build_from_config

    group_names = list(bands) if bands is not None else None
    config, state = keras_to_state_dict(h5_path, group_names)
    strategy, region = strategy_of(config, str(h5_path))
    entry = entry if entry is not None else reg.entry_for_file(h5_path)
    if entry is not None:
        _check_entry(entry, config, strategy, h5_path)
    if bands is None:
        missing = [g for g in config.groups if g not in DEFAULT_BANDS]
        if missing:
            raise CheckpointError(
                f"no default band names for groups {missing}; pass bands={{group: [names...]}} "
                "(CLI: --bands GROUP=b1,b2)."
            )
        bands = {g: DEFAULT_BANDS[g][:c] for g, c in config.groups.items()}
    stats: Mapping[str, Mapping[str, Sequence[float]]] | None
    if normalisation == "paper":
        unknown = [g for g in config.groups if g not in reg.statistics()]
        stats = None if unknown else reg.statistics("glavitu_dataset", list(config.groups))
        if unknown:
            warnings.warn(
                f"the paper's statistics have no group {unknown}; the checkpoint stores no normalisation and "
                "will be fed unscaled values. Pass normalisation={group: {'min': [...], 'max': [...]}}.",
                GlacierLabWarning,
                stacklevel=2,
            )
    elif isinstance(normalisation, str):
        raise CheckpointError(
            f"normalisation must be 'paper', per-group statistics or None, got {normalisation!r}"
        )
    else:
        stats = normalisation
    model = build_from_config(config, variant="glavitu")
    assign_state(model, state, source=str(h5_path), ignore_missing=("num_batches_tracked",))
    cal = Calibrator.from_sklearn_pickle(calibration).to_arrays() if calibration is not None else None
    location = {"region": "unknown", "coordinates": "coordinates"}.get(config.location)
    meta: dict[str, Any] = {
        "source": f"keras:{Path(h5_path).name}",
        "strategy": strategy,
        **({"region": region} if region else {}),
        "statistics_source": reg.statistics_source() if normalisation == "paper" and stats else None,
        "calibration_source": Path(calibration).name if calibration is not None else None,
        "weights": _weights_meta(entry, strategy, region),
        **dict(extra or {}),
    }
    return save_checkpoint(
        out_path,
        model,
        bands=bands,
        normalisation=stats,
        calibration=cal,
        extra=meta,
        overwrite=overwrite,
        options=PAPER_OPTIONS.replace(location=location),
        inputs={"optical": {"product_level": product_level}} if product_level and "optical" in bands else None,
    )


def _check_entry(entry: Any, config: GlaViTUConfig, strategy: str, path: Any) -> None:
    want_groups = {g: len(b) for g, b in entry.bands.items()}
    if want_groups and dict(config.groups) != want_groups:
        raise CheckpointError(
            f"{path} has input groups {dict(config.groups)} but registry entry {entry.name!r} expects "
            f"{want_groups}; is it the right file? (`glacierlab weights info {entry.name}`)"
        )
    if config.location != entry.location:
        raise CheckpointError(
            f"{path} has location input {config.location!r} but registry entry {entry.name!r} expects "
            f"{entry.location!r} ({entry.strategy}); is it the right file?"
        )


def _weights_meta(entry: Any, strategy: str, region: str | None) -> dict[str, Any]:
    """What the model card needs, stored in the checkpoint (so it needs no registry to be rebuilt)."""
    from glacierlab.models import weights_registry as reg

    if entry is None:
        return {"name": None, "strategy": strategy, "region": region, "citation": reg.paper_citation()}
    keys = ("name", "title", "strategy", "region", "iou", "iou_source", "licence", "citation", "file")
    d = {k: getattr(entry, k) for k in keys}
    d["download"] = entry.download
    return d


def import_weights(
    name: str,
    file: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    calibration: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
) -> Path:
    """Convert the published file of entry ``name`` into a checkpoint that carries the entry's metadata.

    Args:
        name: A ``keras_h5`` registry entry (``glacierlab weights list``).
        file: The downloaded ``.h5`` (``glacierlab weights info NAME`` says where to get it).
        out: Output ``.safetensors``.
        calibration: The calibration pickle (the entry's published one is the catalog source
            ``weights_entry(name).calibrator``: ``glacierlab weights import`` fetches it), or None: none.
        overwrite: Replace ``out``.

    Raises:
        UnknownNameError: Unknown entry. ConfigError: A shipped entry (nothing to import).
        CheckpointError: The file's structure does not match the entry (groups, location input).
    """
    from glacierlab.models.weights_registry import weights_entry

    entry = weights_entry(name)
    if entry.kind != "keras_h5":
        raise ConfigError(
            f"{name!r} is shipped with glacierlab (glacierlab.weights.shipped_checkpoint_path({name!r})); "
            "there is nothing to import."
        )
    return import_keras(file, out, entry=entry, calibration=calibration, overwrite=overwrite)
