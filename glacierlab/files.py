"""Safe file handling: atomic non-clobbering writes, paths kept inside their folder, safe ids, file hashes.

Every output of glacierlab goes through :func:`atomic_path`; every path built from data (a catalog's
``seed_path``, a region id, a scene name) goes through :func:`inside` or :func:`safe_name` before
anything is written or deleted.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

from glacierlab.errors import InputError, OutputExistsError

#: A safe id: starts with a letter or digit; letters, digits, ``_``, ``-`` and ``.`` after that; at most
#: 100 characters; never ``.`` or ``..`` (so it is always a plain name inside its folder).
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def safe_name(name: object, kind: str = "name") -> str:
    """Return ``name`` if it is safe as a single folder or file name, else raise.

    Args:
        name: A region id, scene name, task key... (becomes a folder under the output folder).
        kind: What the name is, for the message (``"region id"``, ``"scene name"``).

    Raises:
        InputError: ``name`` is empty, absolute, contains a path separator, is ``.``/``..`` or has
            characters outside ``[A-Za-z0-9_.-]``.
    """
    text = str(name)
    if not SAFE_NAME.match(text) or ".." in text:
        raise InputError(
            f"{kind} {text!r} cannot be used as a folder name: expected letters, digits, '_', '-' or '.' "
            f"(starting with a letter or digit, at most 100 characters, no path separators or '..'). "
            f"Rename it, e.g. {re.sub(r'[^A-Za-z0-9_-]+', '_', text).strip('_') or 'scene1'!r}."
        )
    return text


def inside(base: str | os.PathLike[str], relative: str | os.PathLike[str], kind: str = "path") -> Path:
    """``base / relative``, checked to resolve inside ``base`` (symlinks and ``..`` resolved).

    Args:
        base: The folder the result must stay in (a cache, a seed folder, an output folder).
        relative: A relative path built from data.
        kind: What the path is, for the message.

    Raises:
        InputError: ``relative`` is absolute or escapes ``base``.
    """
    rel = Path(relative)
    root = Path(base).resolve()
    target = (root / rel).resolve()
    if rel.is_absolute() or (target != root and root not in target.parents):
        raise InputError(
            f"{kind} {str(relative)!r} leaves its folder {root}: expected a relative path inside it "
            "(no leading '/', no '..'). Fix the entry that produced it."
        )
    return root / rel


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The sha256 of a file as 64 lower-case hex digits (pooch's ``file_hash``)."""
    import pooch

    return str(pooch.file_hash(str(path), alg="sha256"))


def check_writable(path: str | os.PathLike[str], overwrite: bool) -> Path:
    """Return ``path`` as a Path, raising if it exists and ``overwrite`` is False.

    Raises:
        OutputExistsError: ``path`` exists and ``overwrite`` is False.
    """
    p = Path(path)
    if p.exists() and not overwrite:
        raise OutputExistsError(
            f"{p} exists; pass overwrite=True (CLI: --overwrite) to replace it, or choose another path."
        )
    return p


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it onto ``path``, on error delete it.

    The temporary file lives in the same folder, so the final ``os.replace`` is atomic: readers see
    either the old file or the complete new one, never a partial file.

    Args:
        path: Final destination.
        overwrite: Replace an existing file. Default False raises :class:`OutputExistsError`.

    Yields:
        The temporary path to write to (it has the same suffix as ``path``).
    """
    final = check_writable(path, overwrite)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=f".tmp{final.suffix}", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if not overwrite and final.exists():  # created by someone else meanwhile
            raise OutputExistsError(f"{final} appeared while writing; pass overwrite=True to replace it.")
        if tmp.exists():  # mkstemp makes 0600 files; give the result the usual permissions (umask)
            umask = os.umask(0)
            os.umask(umask)
            tmp.chmod(0o666 & ~umask)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()
