"""Exception hierarchy: every error glacierlab raises on bad input is a :class:`GlacierLabError`.

Each subclass also inherits the matching builtin (``KeyError``, ``ValueError``, ``FileNotFoundError``...)
so callers that catch builtins keep working. Messages say what was wrong (with the value), what was
expected, and how to fix it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class GlacierLabError(Exception):
    """Base class of all glacierlab errors."""

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return str(self.args[0]) if self.args else ""


class CatalogError(GlacierLabError, ValueError):
    """The data catalog (YAML) is invalid; the message lists every bad key with its path."""


class UnknownNameError(GlacierLabError, KeyError):
    """A name (region, source, band, variant, group...) is not one of the valid ones."""


class DataNotFoundError(GlacierLabError, FileNotFoundError):
    """A data file is missing locally and could not be fetched."""


class HashMismatchError(GlacierLabError, ValueError):
    """A file's sha256 differs from the one the catalog names."""


class CorruptFileError(GlacierLabError, ValueError):
    """A file exists but cannot be read (truncated, not the expected format)."""


class GridError(GlacierLabError, ValueError):
    """Rasters do not overlap, lack a CRS, or are on mismatched grids."""


class NoDataError(GlacierLabError, ValueError):
    """A window, scene or input contains no valid pixels."""


class InputError(GlacierLabError, ValueError):
    """Model inputs are wrong: missing groups, wrong band count, NaNs..."""


class CheckpointError(GlacierLabError, ValueError):
    """A checkpoint does not match the model it is loaded into, or is not a glacierlab checkpoint."""


class OutputExistsError(GlacierLabError, FileExistsError):
    """An output file exists and ``overwrite=True`` was not given."""


class WriteError(GlacierLabError, OSError):
    """An output cannot be written: the folder is read-only, the disk or quota is full, or it is not a folder.

    Nothing is left half-written (outputs go through :func:`glacierlab.files.atomic_path`).
    """


class StacError(GlacierLabError, ConnectionError):
    """A STAC API could not be reached or answered badly; the message names the endpoint and local options."""


class DeviceMemoryError(GlacierLabError, MemoryError):
    """The accelerator ran out of memory even for the smallest possible batch."""


class ConfigError(GlacierLabError, ValueError):
    """A configuration value is out of range or inconsistent."""


class GlacierLabWarning(UserWarning):
    """Something is probably wrong with the inputs or the result, but a map was still made.

    Raised as a warning (``warnings.warn``) so batch runs keep going; the message says what and how to fix.
    """


def plural(kind: str) -> str:
    """The plural of a kind of name, formed on its head noun (before any ``" ("`` or ``" of "``).

    ``"region"`` -> ``"regions"``, ``"weights"`` -> ``"weights"``, ``"strategy"`` -> ``"strategies"``,
    ``"band of input group 'dem'"`` -> ``"bands of input group 'dem'"``.
    """
    cut = min((i for i in (kind.find(" ("), kind.find(" of ")) if i >= 0), default=len(kind))
    head, rest = kind[:cut], kind[cut:]
    if head.endswith("s"):
        return kind
    if head.endswith("y") and head[-2:-1] not in ("a", "e", "i", "o", "u"):
        return f"{head[:-1]}ies{rest}"
    return f"{head}s{rest}"


def unknown_name(kind: str, name: object, valid: Iterable[str], hint: str = "") -> UnknownNameError:
    """Build an :class:`UnknownNameError` that lists the valid names and suggests the closest ones.

    Args:
        kind: What the name is, e.g. ``"region"``.
        name: The name that was given.
        valid: The valid names.
        hint: Optional sentence on how to fix it.

    Returns:
        The error, ready to raise.
    """
    valid = sorted(valid)
    close = difflib.get_close_matches(str(name), valid, n=3, cutoff=0.5)
    msg = f"unknown {kind} {name!r}; valid {plural(kind)}: {', '.join(valid)}."
    if close:
        msg += f" Did you mean {' or '.join(repr(c) for c in close)}?"
    if hint:
        msg += f" {hint}"
    return UnknownNameError(msg)
