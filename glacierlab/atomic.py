"""Atomic, non-clobbering file output: write to a temporary sibling, then rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from glacierlab.errors import OutputExistsError


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
