"""Done-markers: ``_done.json`` written last into a task's folder, listing every output with its size and sha256.

A rerun skips a task whose marker checks out (files present, sizes and hashes equal) and redoes the others.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from glacierlab.errors import ConfigError, InputError
from glacierlab.files import file_sha256, inside, write_json

MARKER = "_done.json"
"""Name of the done-marker file written last into each task's output folder."""


def _json_default(obj: Any) -> str:
    return str(obj) if isinstance(obj, os.PathLike) else f"<{type(obj).__name__}>"


def write_done_marker(
    folder: str | os.PathLike[str],
    files: Sequence[str | os.PathLike[str]],
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Record ``files`` (inside ``folder``) with their sizes and sha256 in ``folder/_done.json``.

    Write it last: its presence says the task finished. The marker replaces an older one.

    Args:
        folder: The task's output folder.
        files: Output files; each must exist inside ``folder``.
        extra: JSON-serialisable metadata to keep with the record (parameters, shapes...).

    Returns:
        Path of the marker.
    """
    folder = Path(folder)
    record: dict[str, Any] = {"files": {}, "extra": dict(extra or {}), "written": time.time()}
    for f in map(Path, files):
        if not f.is_file():
            raise ConfigError(
                f"cannot mark {f} as done: it is not a file. Write every output before the marker."
            )
        if f.name.startswith(".") or f.name == MARKER:
            raise ConfigError(
                f"cannot mark {f} as done: hidden files are temporaries of unfinished writes, not outputs."
            )
        if not f.resolve().is_relative_to(folder.resolve()):
            raise ConfigError(f"cannot mark {f} as done: it lies outside the task folder {folder}.")
        record["files"][f.resolve().relative_to(folder.resolve()).as_posix()] = {
            "bytes": f.stat().st_size,
            "sha256": file_sha256(f),
        }
    return write_json(folder / MARKER, record, overwrite=True, default=_json_default)


def incomplete_reason(folder: str | os.PathLike[str]) -> str | None:
    """Why the outputs in ``folder`` are not complete, or None when they are.

    Complete means: ``_done.json`` exists and parses, and every file it lists exists with the recorded
    size and sha256 (a truncated or rewritten file is detected).
    """
    marker = Path(folder) / MARKER
    if not marker.is_file():
        return f"no {MARKER} in {folder}"
    try:
        files = json.loads(marker.read_text())["files"]
    except (ValueError, KeyError, TypeError) as exc:
        return f"{marker} is unreadable ({exc})"
    if not files:
        return f"{marker} lists no files"
    if not isinstance(files, dict):
        return f"{marker} is unreadable (its 'files' is not a mapping)"
    for name, rec in files.items():
        try:
            path = inside(folder, name, f"file listed in {marker}")
            size, digest = rec["bytes"], rec["sha256"]
        except (InputError, KeyError, TypeError) as exc:
            return f"{marker} is unreadable ({exc})"
        if path.name.startswith("."):
            return f"{marker} lists the hidden temporary {path}, not an output"
        if not path.is_file():
            return f"{path} is missing"
        if path.stat().st_size != size:
            return f"{path} has {path.stat().st_size} bytes, expected {size}"
        if file_sha256(path) != digest:
            return f"{path} changed since it was written (sha256 differs)"
    return None


def marked_outputs(folder: str | os.PathLike[str]) -> dict[str, str]:
    """Output name (file stem, or file name where stems repeat) -> path, for files in ``folder``'s marker."""
    files = json.loads((Path(folder) / MARKER).read_text())["files"]
    stems = Counter(Path(name).stem for name in files)
    return {(Path(n).stem if stems[Path(n).stem] == 1 else n): str(Path(folder) / n) for n in files}


def clear_marker(folder: str | os.PathLike[str]) -> None:
    """Remove ``folder``'s done-marker before its outputs are rewritten."""
    (Path(folder) / MARKER).unlink(missing_ok=True)
