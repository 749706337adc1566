"""Fetch catalog files: seed folder (sha256-checked) first, then the user cache, then pooch downloads.

Environment:
    ``GLACIERLAB_CACHE_DIR``: the download cache (default ``pooch.os_cache("glacierlab")``).
    ``GLACIERLAB_SEED_DIR``: a folder laid out like ``../shared/data``; a source whose files all lie
    there (``seed_path``) with the right sha256 is used in place, without copying.
    ``GLACIERLAB_OFFLINE=1``: never try to download.

Hashes of files already checked are remembered in ``<cache>/.sha256-memo.json`` keyed by path, size
and modification time, so repeated loads do not re-hash.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
from pathlib import Path

import pooch

from glacierlab.data.catalog import FileEntry, Source, load_catalog
from glacierlab.errors import DataNotFoundError, HashMismatchError, WriteError
from glacierlab.files import atomic_path, file_sha256, inside, write_error
from glacierlab.settings import cache_dir, offline, seed_dir

log = logging.getLogger(__name__)

_MEMO_NAME = ".sha256-memo.json"
_LOCK = threading.Lock()
_MEMO: dict[str, dict[str, list[object]]] = {}


def _memo(cache: Path) -> dict[str, list[object]]:
    key = str(cache)
    if key not in _MEMO:
        try:
            _MEMO[key] = json.loads((cache / _MEMO_NAME).read_text())
        except (OSError, ValueError):
            _MEMO[key] = {}
    return _MEMO[key]


def sha256_of(path: Path) -> str:
    """The sha256 (hex) of a file, remembered per (path, size, mtime) in the cache folder's memo.

    Args:
        path: The file.

    Returns:
        64 lower-case hex digits.
    """
    st = path.stat()
    stamp = [st.st_size, st.st_mtime_ns]
    cache = cache_dir()
    with _LOCK:
        memo = _memo(cache)
        hit = memo.get(str(path.resolve()))
        if hit and hit[:2] == stamp:
            return str(hit[2])
    digest = file_sha256(path)
    with _LOCK:
        memo[str(path.resolve())] = [*stamp, digest]
        try:
            with atomic_path(cache / _MEMO_NAME, overwrite=True) as tmp:
                tmp.write_text(json.dumps(memo))
        except OSError:
            pass  # a read-only cache only loses the speed-up
    return digest


def _entries(src: Source) -> list[FileEntry]:
    if src.seed_path is None or src.sha256 is None or src.size is None:
        raise DataNotFoundError(
            f"source {src.id!r} (kind {src.kind!r}) has no file to fetch; "
            "STAC sources are searched with glacierlab.data.stac, not fetched."
        )
    main = FileEntry(seed_path=src.seed_path, url=src.url, sha256=src.sha256, size=src.size)
    return [main, *src.companions]


def _check(path: Path, entry: FileEntry, src_id: str, where: str) -> None:
    got = sha256_of(path)
    if got != entry.sha256:
        raise HashMismatchError(
            f"{where} file {path} of source {src_id!r} has sha256 {got} "
            f"but the catalog expects {entry.sha256} "
            f"(size {path.stat().st_size} bytes, expected {entry.size}). The file is corrupt, truncated or a "
            f"different version: delete it and fetch again"
            + (f" from {entry.url}" if entry.url else "")
            + ", or correct the catalog entry if the data were updated on purpose."
        )


def _download(entry: FileEntry, target: Path, src_id: str, seed: Path | None) -> None:
    looked = f"cache {target}" + (
        f", seed {seed / entry.seed_path}" if seed else " (GLACIERLAB_SEED_DIR unset)"
    )
    how = f"Set GLACIERLAB_SEED_DIR to a folder holding {entry.seed_path} (e.g. a copy of ../shared/data)" + (
        f", or download {entry.url} manually to {target}." if entry.url else "."
    )
    if entry.url is None:
        raise DataNotFoundError(
            f"file {entry.seed_path} of source {src_id!r} has no public download URL "
            f"(derived or unstable origin); looked in {looked}. {how}"
        )
    if offline():
        raise DataNotFoundError(
            f"file {entry.seed_path} of source {src_id!r} is missing and "
            f"GLACIERLAB_OFFLINE is set; looked in {looked}. {how}"
        )
    try:
        pooch.retrieve(
            entry.url,
            known_hash=f"sha256:{entry.sha256}",
            fname=target.name,
            path=target.parent,
            progressbar=False,
        )
    except ValueError as exc:
        if "hash" in str(exc).lower():
            raise HashMismatchError(
                f"download of {entry.url} for source {src_id!r} does not match the catalog "
                f"sha256 {entry.sha256}: {exc}. The upstream file changed; report it or "
                f"provide the original bytes at {target}."
            ) from exc
        raise DataNotFoundError(
            f"could not download {entry.url} for source {src_id!r}: {exc}; looked in {looked}. {how}"
        ) from exc
    except Exception as exc:  # noqa: BLE001 - any transport error means "not available offline"
        unwritable = write_error(exc, target)
        if unwritable is not None:  # the cache folder, not the network, is the problem
            raise unwritable from exc
        raise DataNotFoundError(
            f"could not download file {entry.seed_path} of source {src_id!r} from {entry.url} "
            f"({type(exc).__name__}: {exc}); looked in {looked}. {how}"
        ) from exc


def fetch(source: str | Source) -> Path:
    """Make a source's files available locally and return the path of its main file.

    Order: the seed folder (all files of the source present there, each sha256-checked; used in
    place), else the cache (missing files copied from the seed folder when there, else downloaded
    with pooch and checked against the catalog sha256). Companion files (``.shx``, ``.dbf``...) end up
    next to the main file.

    Args:
        source: A catalog source id or :class:`~glacierlab.data.catalog.Source`.

    Returns:
        Path of the main file (``seed_path``).

    Raises:
        UnknownNameError: Unknown source id.
        HashMismatchError: A seeded, cached or downloaded file has another sha256 than the catalog's.
        DataNotFoundError: A file is missing and cannot be downloaded (offline, no URL): the message
            names the file, where it was looked for and how to provide it.
        WriteError: The cache folder cannot be written (read-only, full, a file in the way).
    """
    src = source if isinstance(source, Source) else load_catalog().source(source)
    entries = _entries(src)
    seed = seed_dir()
    seeded = {e.seed_path: inside(seed, e.seed_path, "seed_path") for e in entries} if seed else {}
    if seeded and all(p.is_file() for p in seeded.values()):
        for e in entries:
            _check(seeded[e.seed_path], e, src.id, "seed")
        return seeded[entries[0].seed_path]
    cache = cache_dir()
    for e in entries:
        target = inside(cache, e.seed_path, "seed_path")
        if target.is_file():
            got = sha256_of(target)
            if got == e.sha256:
                continue
            log.warning(
                "cached file %s of source %r has sha256 %s, expected %s: deleting it and fetching it again",
                target, src.id, got, e.sha256,
            )
            try:
                target.unlink(missing_ok=True)  # stale or corrupt (another process may have removed it too)
            except OSError as exc:
                raise WriteError(
                    f"cached file {target} of source {src.id!r} is corrupt or stale (sha256 {got}, expected "
                    f"{e.sha256}) and cannot be deleted ({exc.strerror or exc}): the cache folder is read-only. "
                    f"Delete the file yourself, or set GLACIERLAB_CACHE_DIR to a writable folder, or set "
                    f"GLACIERLAB_SEED_DIR to a folder holding a good copy of {e.seed_path}."
                ) from exc
        seed_file = seeded.get(e.seed_path)
        if seed_file is not None and seed_file.is_file():
            _check(seed_file, e, src.id, "seed")
            with atomic_path(target, overwrite=True) as tmp:
                shutil.copyfile(seed_file, tmp)
            continue
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise write_error(exc, target) or exc from exc
        _download(e, target, src.id, seed)
    return inside(cache, entries[0].seed_path, "seed_path")
