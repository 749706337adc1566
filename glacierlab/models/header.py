"""Read a checkpoint's JSON header without building its model (model cards, registry info, widgets)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from glacierlab.errors import CheckpointError, DataNotFoundError


def header_of(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON header of a checkpoint file, read without building the model (safetensors: no tensors read).

    Raises:
        DataNotFoundError: No such file. CheckpointError: Not a glacierlab checkpoint.
    """
    p = Path(path)
    if not p.is_file():
        raise DataNotFoundError(f"checkpoint {p} not found.")
    if p.suffix == ".safetensors":
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(p), framework="numpy") as sf:
                text = (sf.metadata() or {}).get("glacierlab")
        except (SafetensorError, OSError, ValueError) as err:
            raise CheckpointError(f"{p} is not a readable safetensors file: {err}") from err
        if not isinstance(text, str):
            raise CheckpointError(f"{p} has no glacierlab header; it is not a glacierlab checkpoint.")
        try:
            return dict(json.loads(text))
        except json.JSONDecodeError as err:
            raise CheckpointError(f"{p}: corrupt glacierlab header ({err}).") from err
    from glacierlab.models.checkpoint import _read

    return _read(p, "cpu")[0]
