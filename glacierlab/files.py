"""Safe file handling: atomic non-clobbering writes, paths kept inside their folder, safe ids, file hashes.

Every output of glacierlab goes through :func:`atomic_path`; every path built from data (a catalog's
``seed_path``, a region id, a scene name) goes through :func:`inside` or :func:`safe_name` before
anything is written or deleted; :func:`inside` resolves the symlinks of every component, so a folder
under the output that is a symlink to elsewhere is refused, not written through. Every JSON file goes
through :func:`strict_json` (no bare ``NaN``/``Infinity``); every YAML file through :func:`safe_yaml`.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from glacierlab.errors import GlacierLabError, InputError, OutputExistsError, WriteError

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
            f"Rename it, e.g. {re.sub(r'[^A-Za-z0-9_-]+', '_', text).strip('_') or kind.split()[0] + '1'!r}."
        )
    return text


def inside(base: str | os.PathLike[str], relative: str | os.PathLike[str], kind: str = "path") -> Path:
    """``base / relative``, checked to resolve inside ``base`` (the symlinks of every component and ``..`` resolved).

    A component of ``relative`` that is a symlink to a place outside ``base`` (``<out>/<region>/export ->
    /elsewhere``) is refused: nothing is then read, written or deleted through it.

    Args:
        base: The folder the result must stay in (a cache, a seed folder, an output folder).
        relative: A relative path built from data.
        kind: What the path is, for the message.

    Raises:
        InputError: ``relative`` is absolute or escapes ``base`` (by ``..`` or through a symlink).
    """
    rel = Path(relative)
    root = Path(base).resolve()
    target = (root / rel).resolve()
    if rel.is_absolute() or (target != root and root not in target.parents):
        link = next((p for p in _prefixes(root, rel) if p.is_symlink()), None)
        how = (
            f"through the symlink {link} -> {os.readlink(link)}: remove the link or choose another output folder"
            if link is not None
            else "expected a relative path inside it (no leading '/', no '..'). Fix the entry that produced it"
        )
        raise InputError(f"{kind} {str(relative)!r} leaves its folder {root} ({target}) {how}.")
    return root / rel


def _prefixes(root: Path, rel: Path) -> Iterator[Path]:
    """``root/a``, ``root/a/b``... for ``rel = a/b/...`` (absolute ``rel``: nothing)."""
    if rel.is_absolute():
        return
    here = root
    for part in rel.parts:
        here = here / part
        yield here


def _finite(obj: Any) -> Any:
    """``obj`` with NaN/±inf floats as None, numpy scalars/arrays as Python values, tuples as lists."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    if type(obj).__module__ == "numpy" and hasattr(obj, "tolist"):  # numpy scalar or array
        return _finite(obj.tolist())
    return obj


def strict_json(obj: Any, *, default: Callable[[Any], Any] | None = None, **kwargs: Any) -> str:
    """JSON text every parser reads: non-finite floats (``NaN``, ``Infinity``) written as ``null``.

    Python's ``json`` writes bare ``NaN``, which is not JSON (RFC 8259); this converts them first and then
    dumps with ``allow_nan=False``, so none can slip through.

    Args:
        obj: Dicts, lists, numbers, strings, numpy values.
        default: Called for objects ``json`` cannot write (as in :func:`json.dumps`); its result is
            cleaned too.
        **kwargs: Passed to :func:`json.dumps` (``indent``, ``sort_keys``...).
    """
    clean = (lambda o: _finite(default(o))) if default is not None else None
    return json.dumps(_finite(obj), allow_nan=False, default=clean, **kwargs)


def write_json(
    path: str | os.PathLike[str], obj: Any, *, overwrite: bool = False, default: Callable[[Any], Any] | None = None
) -> Path:
    """Write ``obj`` as strict JSON (:func:`strict_json`, indent 1, UTF-8) to ``path`` atomically."""
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_text(strict_json(obj, default=default, indent=1) + "\n", encoding="utf-8")
    return Path(path)


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


#: errno values that mean "this output cannot be written here" (not a bug): full disk or quota, read-only or
#: forbidden folder, a file where a folder is expected.
_WRITE_ERRNOS = {
    errno.ENOSPC: "the disk is full; free some space or choose an output folder on another disk",
    errno.EDQUOT: "the disk quota is exceeded; free some space or choose another output folder",
    errno.EFBIG: "the file is too large for this file system; choose an output folder on another disk",
    errno.EROFS: "the file system is read-only; choose a writable output folder",
    errno.EACCES: "permission denied; choose a writable output folder or fix its permissions",
    errno.EPERM: "operation not permitted; choose a writable output folder or fix its permissions",
    errno.ENOTDIR: "a part of the path is a file, not a folder; choose another output folder",
    errno.EEXIST: "a part of the path is a file, not a folder; choose another output folder",
    errno.EISDIR: "a folder exists where the output file should go; remove it or choose another path",
}


def write_error(exc: BaseException, path: str | os.PathLike[str]) -> WriteError | None:
    """The :class:`WriteError` for an ``OSError`` that means ``path`` cannot be written, else None.

    Args:
        exc: An exception raised while writing ``path``. GDAL errors carry no errno: their text is used,
            and the file system is asked whether it is read-only or full.
        path: The output being written.
    """
    io_error = isinstance(exc, OSError) or type(exc).__module__.startswith("rasterio")  # GDAL: no errno
    if not io_error or isinstance(exc, GlacierLabError):
        return None
    # GDAL's CPLE_* errors have an `errno` too, but it is a GDAL error class, not a system errno
    code = exc.errno if isinstance(exc, OSError) else None
    why = _WRITE_ERRNOS.get(code) if isinstance(code, int) else None
    text = str(exc)
    if why is None:
        for needle, code in (
            ("No space left", errno.ENOSPC),
            ("Disk quota", errno.EDQUOT),
            ("Read-only file system", errno.EROFS),
            ("Permission denied", errno.EACCES),
        ):
            if needle in text:
                why = _WRITE_ERRNOS[code]
                break
    if why is None:
        why = _folder_problem(Path(path).parent)
    gdal = type(exc).__module__.startswith("rasterio")
    gdal_write = gdal and any(w in text.lower() for w in ("write failed", "write error"))
    if why is None and gdal_write:
        why = (  # GDAL's own words, no errno: checked by the writer while the disk is still full
            "GDAL could not write the file: most often the disk is full or its quota exceeded, else the folder is "
            "unwritable or the disk failing; free some space or choose an output folder on another disk"
        )
    if why is None:
        return None
    reason = (exc.strerror if isinstance(exc, OSError) else None) or text
    return WriteError(
        f"cannot write {path}: {reason} - {why}. Nothing was left half-written (the partial temporary "
        "file was removed)."
    )


def _folder_problem(folder: Path) -> str | None:
    """Whether the file system of ``folder`` is read-only or (nearly) full; GDAL reports neither by errno."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        st = os.statvfs(folder)
    except (OSError, AttributeError):  # no statvfs on Windows
        return None
    if st.f_flag & os.ST_RDONLY:
        return _WRITE_ERRNOS[errno.EROFS]
    if st.f_bavail * st.f_frsize < 1 << 20:  # under 1 MiB left after the failed write
        return _WRITE_ERRNOS[errno.ENOSPC]
    return None


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success move it onto ``path``, on error delete it.

    The temporary file lives in the same folder, so the final move is atomic: readers see either the
    old file or the complete new one, never a partial file. Without ``overwrite`` the move is a hard
    link, which fails when ``path`` exists: of two processes writing the same output one wins, the other
    gets :class:`OutputExistsError` (file systems without hard links fall back to check-then-rename).

    Args:
        path: Final destination.
        overwrite: Replace an existing file. Default False raises :class:`OutputExistsError`.

    Yields:
        The temporary path to write to (it has the same suffix as ``path``).

    Raises:
        OutputExistsError: ``path`` exists (before or after the write) and ``overwrite`` is False.
        WriteError: The folder is read-only, the disk is full, or the path is not a folder.
    """
    final = check_writable(path, overwrite)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{final.name}.", suffix=f".tmp{final.suffix}", dir=final.parent
        )
        os.close(fd)
    except OSError as exc:
        err = write_error(exc, final)
        if err is None:
            raise
        raise err from exc
    tmp = Path(tmp_name)
    try:
        yield tmp
        if tmp.exists():  # mkstemp makes 0600 files; give the result the usual permissions (umask)
            umask = os.umask(0)
            os.umask(umask)
            tmp.chmod(0o666 & ~umask)
        _publish(tmp, final, overwrite)
    except Exception as exc:
        err = write_error(exc, final)
        if err is None:
            raise
        raise err from exc
    finally:
        if tmp.exists():
            tmp.unlink()


def _publish(tmp: Path, final: Path, overwrite: bool) -> None:
    """Move ``tmp`` onto ``final``; without ``overwrite`` never replace a file that appeared meanwhile."""
    if overwrite:
        os.replace(tmp, final)
        return
    appeared = OutputExistsError(
        f"{final} appeared while this output was being written (another process or run wrote it); "
        "it was kept. Pass overwrite=True (CLI: --overwrite) to replace it, or choose another path."
    )
    try:
        os.link(tmp, final)  # atomic and non-clobbering: fails when final exists
    except FileExistsError:
        raise appeared from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        if final.exists():  # no hard links on this file system: check, then rename
            raise appeared from None
        os.replace(tmp, final)


def safe_yaml(source: str | IO[str]) -> Any:
    """``yaml.safe_load`` of ``source`` (text or an open text file), with libyaml's parser when present.

    Same rules as ``safe_load`` (plain data only, never Python objects); libyaml's ``CSafeLoader`` parses
    the 2,000-line catalog in about 0.1 s instead of 1.4 s, which every new kernel and CLI process pays.

    Raises:
        yaml.YAMLError: ``source`` is not valid YAML.
    """
    import yaml

    return yaml.load(source, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 (a safe loader)
