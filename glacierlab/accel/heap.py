"""Keep freed tensor memory in the process heap during CPU inference (glibc only).

glibc hands every block above its mmap threshold (at most 32 MiB by default) straight back to the
operating system when it is freed, so each new full-resolution activation (38 MiB for 64 channels of
a 384 x 384 window) is mmapped again and its pages are faulted in and zeroed by the kernel: on a
2-core machine that cost 11 ms of CPU time per tensor, about 20 % of a GlaViTU forward pass
(``benchmarks/bench_model.py --profile`` shows it as slow ``add``/``leaky_relu``/``cat`` calls).
Raising the mmap and trim thresholds lets freed blocks be reused instead; the context manager
restores glibc's steady-state thresholds and returns the free memory to the system on exit.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import sys
import threading
from collections.abc import Iterator

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_HIGH = 1 << 30  # 1 GiB: blocks up to this size come from (and return to) the heap
_FALLBACK = 32 << 20  # glibc versions that refuse more than DEFAULT_MMAP_THRESHOLD_MAX (32 MiB)
_RESTORE_MMAP = 32 << 20  # what glibc's dynamic threshold reaches after freeing a large block
_RESTORE_TRIM = 64 << 20  # and its trim threshold then (twice the mmap threshold)

_depth = 0
_lock = threading.Lock()


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt  # noqa: B018 - glibc (or a compatible libc) exposes mallopt
        libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError):
        return None
    try:
        gnu = ctypes.CDLL(None).gnu_get_libc_version
    except AttributeError:  # musl and others: different allocator, leave it alone
        return None
    gnu.restype = ctypes.c_char_p
    return libc


@contextlib.contextmanager
def reuse_freed_memory() -> Iterator[bool]:
    """Within the block, freed tensors up to 1 GiB stay in the heap for reuse (glibc/Linux).

    Yields True when the setting is active (glibc found), False elsewhere (then nothing changes).
    Nested and concurrent use (threads) is fine; the outermost exit restores glibc's steady-state
    thresholds (mmap 32 MiB, trim 64 MiB) and calls ``malloc_trim(0)`` so that the process's
    resident memory shrinks again.
    """
    global _depth
    libc = _libc()
    if libc is None:
        yield False
        return
    with _lock:
        if _depth == 0:
            if not libc.mallopt(_M_MMAP_THRESHOLD, _HIGH):
                libc.mallopt(_M_MMAP_THRESHOLD, _FALLBACK)
            libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1)
        _depth += 1
    try:
        yield True
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                libc.mallopt(_M_MMAP_THRESHOLD, _RESTORE_MMAP)
                libc.mallopt(_M_TRIM_THRESHOLD, _RESTORE_TRIM)
                libc.malloc_trim(0)
