"""Read weights from an untrusted HDF5 file: only plain datasets stored in the file, sizes checked first.

An HDF5 dataset can keep its bytes *outside* the file: an *external* dataset names a raw file on disk
(any file the user can read), a *virtual* dataset maps other files' datasets, and soft / external links
point at other paths or files. A weights file passed on by someone else must not be able to copy a
local file into a checkpoint that is then shared, so :func:`weight_dataset` refuses all of these, and
any non-numeric dtype. :func:`declared` gives a dataset's shape and byte size from its header alone, so
the caller can check shapes and the memory budget (:func:`glacierlab.settings.check_budget`) before a
single byte is read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from glacierlab.errors import CheckpointError

#: HDF5's built-in filters (deflate, shuffle, fletcher32, szip, scale-offset, n-bit) and h5py's LZF.
_FILTERS = {1, 2, 3, 4, 5, 6, 32000}


def _refuse(path: Path, where: str, why: str) -> CheckpointError:
    return CheckpointError(
        f"{path}: {where} {why}. glacierlab reads weights only from plain datasets stored inside the .h5 "
        "file (no external or virtual storage, no soft or external links, no filter plugins), so that a "
        "weights file cannot pull other files into a checkpoint. Use the authors' published file, or re-save "
        "the weights with Keras (model.save_weights) to store them inside the file."
    )


def member(group: Any, name: str, path: Path) -> Any:
    """``group[name]`` after checking that every step of ``name`` is a hard link inside the file.

    Raises:
        CheckpointError: ``name`` does not exist, or a step is a soft or external link.
    """
    import h5py

    node = group
    parts = [s for s in name.split("/") if s]
    for i, part in enumerate(parts):
        where = f"{group.name.rstrip('/')}/{'/'.join(parts[: i + 1])}"
        if not isinstance(node, h5py.Group):
            raise CheckpointError(f"{path}: {where} is inside a dataset, not a group; the file is malformed.")
        link = node.get(part, getlink=True)
        if link is None:
            raise CheckpointError(
                f"{path}: the file names {where!r} but holds no such layer or weight; the file is malformed "
                "or truncated. Use the authors' published '*_weights.h5' file."
            )
        if not isinstance(link, h5py.HardLink):
            raise _refuse(path, where, f"is a {type(link).__name__} (a link to another path or file)")
        node = node[part]
    return node


def weight_dataset(group: Any, name: str, path: Path) -> Any:
    """The h5py dataset ``group[name]``, refused unless it is a plain numeric dataset stored in the file.

    Raises:
        CheckpointError: A missing path, a link, a group, external or virtual storage, or a
            non-numeric dtype (named in the message).
    """
    import h5py

    ds = member(group, name, path)
    where = ds.name
    if not isinstance(ds, h5py.Dataset):
        raise CheckpointError(f"{path}: weight {where} is a group, expected a dataset.")
    if ds.is_virtual:
        raise _refuse(path, where, "is a virtual dataset (its bytes come from other files)")
    if ds.external:
        raise _refuse(path, where, f"is an external dataset (its bytes are read from {ds.external[0][0]!r})")
    plist = ds.id.get_create_plist()
    filters = [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]
    unknown = [f for f in filters if f not in _FILTERS]
    if unknown:
        raise _refuse(path, where, f"uses HDF5 filter(s) {unknown} (a plugin HDF5 would load from disk)")
    if ds.dtype.kind not in "fiu" or ds.dtype.itemsize > 8:
        raise CheckpointError(f"{path}: weight {where} has dtype {ds.dtype}, expected float or integer numbers.")
    if ds.shape is None:
        raise CheckpointError(f"{path}: weight {where} has no shape (an empty dataspace).")
    return ds


def declared(ds: Any) -> tuple[tuple[int, ...], int]:
    """Shape and float32 byte size of a dataset, from its header (nothing is read)."""
    shape = tuple(int(n) for n in ds.shape)
    return shape, int(np.prod(shape, dtype=np.float64)) * 4


def placeholder(shape: tuple[int, ...]) -> np.ndarray:
    """A read-only float32 array of ``shape`` that takes no memory (every element aliases one zero)."""
    return np.lib.stride_tricks.as_strided(np.zeros(1, np.float32), shape, (0,) * len(shape), writeable=False)


def is_placeholder(a: np.ndarray) -> bool:
    """True for arrays made by :func:`placeholder` (or views of them)."""
    return a.size > 1 and all(s == 0 for s in a.strides)
