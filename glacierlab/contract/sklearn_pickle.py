"""Read the authors' scikit-learn ``KernelRidge`` calibration pickles without running any pickled code.

The published calibrators (``confidence_calibration_model_glavitu_*_softmax.pickle``, GLAVITU_SPEC.md
§6) are pickled ``sklearn.kernel_ridge.KernelRidge`` objects. ``pickle.load`` would import and call
whatever the file names, so a tampered file could run code. :class:`RestrictedUnpickler` admits only:

* the numpy array reconstructors (``numpy.core.multiarray._reconstruct`` / ``scalar``, ``numpy.ndarray``,
  ``numpy.dtype``), which build arrays from bytes;
* ``sklearn.kernel_ridge.KernelRidge``, mapped to a plain record (:class:`_KernelRidgeState`) that only
  stores the pickled attributes — scikit-learn is never imported or called.

Anything else (``os.system``, ``builtins.eval``, ``subprocess``...) is refused before it is looked up.
The recorded state is checked (Laplacian kernel, 1-D fitted points, finite coefficients) and becomes a
glacierlab :class:`~glacierlab.contract.calibration.Calibrator` (plain arrays, stored in checkpoints).
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from glacierlab.errors import CorruptFileError, DataNotFoundError


def _numpy_globals() -> dict[tuple[str, str], Any]:
    """The allowed numpy reconstructors, under their numpy 1 (``numpy.core``) and 2 (``numpy._core``) names."""
    try:
        from numpy._core import multiarray as ma
    except ImportError:  # numpy < 2
        from numpy.core import multiarray as ma  # type: ignore[no-redef]
    allowed: dict[tuple[str, str], Any] = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(module, "_reconstruct")] = ma._reconstruct
        allowed[(module, "scalar")] = ma.scalar
    return allowed


_NUMPY = _numpy_globals()
_MAX_BYTES = 1_000_000  # the published files are 2,857 bytes; refuse anything far larger


class _KernelRidgeState:
    """Stand-in for ``sklearn.kernel_ridge.KernelRidge``: records the pickled attributes, nothing else."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.state: dict[str, Any] = {}

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict):
            raise pickle.UnpicklingError(f"KernelRidge state must be a dict, got {type(state).__name__}")
        self.state = dict(state)


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only numpy array reconstructors and the KernelRidge record.

    Arrays are bounded too: an array whose pickle declares more bytes than the memory budget
    (:func:`glacierlab.settings.check_budget`, counted over the whole file) is refused before it is
    allocated, and so is a non-numeric (object) dtype.
    """

    def __init__(self, file: Any) -> None:
        super().__init__(file)
        self.declared = 0  # bytes of the arrays built so far

    def _count(self, shape: Any, dtype: Any) -> None:
        try:
            dt = np.dtype(dtype)
            n = int(np.prod([int(s) for s in np.atleast_1d(shape)], dtype=np.float64))
        except (TypeError, ValueError) as err:
            raise pickle.UnpicklingError(f"array with shape {shape!r}, dtype {dtype!r}: {err}") from err
        if dt.kind not in "biuf":
            raise pickle.UnpicklingError(f"array dtype {dt} refused: calibration arrays hold numbers")
        self.declared += n * dt.itemsize
        _check_size(self.declared, "the arrays this pickle declares")

    def _ndarray(self, shape: Any, dtype: Any = float, *args: Any, **kwargs: Any) -> np.ndarray:
        self._count(shape, dtype)
        return np.ndarray(shape, dtype, *args, **kwargs)

    def _reconstruct(self, subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
        if subtype not in (np.ndarray, self._ndarray):
            raise pickle.UnpicklingError(f"array subtype {subtype!r} refused")
        self._count(shape, np.uint8)
        return np.ndarray(shape, np.uint8)

    def find_class(self, module: str, name: str) -> Any:
        """Return an allowed class or function; refuse every other global."""
        if (module, name) == ("numpy", "ndarray"):
            return self._ndarray
        if (module, name) == ("numpy", "dtype"):
            return _numeric_dtype
        if name == "_reconstruct" and (module, name) in _NUMPY:
            return self._reconstruct
        if (module, name) in _NUMPY:
            return _NUMPY[(module, name)]
        if (module, name) == ("sklearn.kernel_ridge", "KernelRidge"):
            return _KernelRidgeState
        raise pickle.UnpicklingError(
            f"refused to load global {module}.{name}: only numpy arrays and a scikit-learn KernelRidge "
            "are allowed in a calibration pickle"
        )


def _numeric_dtype(*args: Any) -> np.dtype[Any]:
    dt: np.dtype[Any] = np.dtype(*args)
    if dt.kind not in "biuf":
        raise pickle.UnpicklingError(f"array dtype {dt} refused: calibration arrays hold numbers")
    return dt


def _check_size(nbytes: float, what: str) -> None:
    from glacierlab.errors import InputError
    from glacierlab.settings import check_budget

    try:
        check_budget(nbytes, what, "use the authors' published calibrator (a few kB of numbers)")
    except InputError as err:
        raise pickle.UnpicklingError(str(err)) from err


def _elements(obj: Any) -> int:
    """Numbers a nest of lists/tuples expands to (shared references counted each time).

    A pickle can reference one list many times (memo), so a few kB can expand to gigabytes in
    ``np.asarray``; this counts without building anything (each distinct list is walked once, so the
    work is bounded by the file's size) and refuses reference cycles.
    """
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def walk(o: Any) -> int:
        if not isinstance(o, list | tuple):
            return o.size if isinstance(o, np.ndarray) else 1
        if id(o) in sizes:
            return sizes[id(o)]
        if id(o) in active:
            raise pickle.UnpicklingError("a list that contains itself (a reference cycle)")
        active.add(id(o))
        n = 0
        for item in o:
            n += walk(item)
        active.discard(id(o))
        sizes[id(o)] = n
        return n

    return walk(obj)


def read_kernel_ridge(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Read a KernelRidge calibration pickle into plain arrays, executing nothing from it.

    Args:
        path: The ``.pickle`` file.

    Returns:
        ``{"x": fitted confidences (n,), "dual_coef": (n,), "gamma": (), "alpha": (n,) or ()}`` (float64):
        the prediction is ``Σ_i dual_coef_i · exp(−γ |c − x_i|)``, clipped to [0, 1] by the caller.

    Raises:
        DataNotFoundError: The file does not exist.
        CorruptFileError: The file is not such a pickle, names a global outside the allow-list (a
            possibly malicious file; nothing of it was run), or holds an unexpected state.
    """
    p = Path(path)
    if not p.is_file():
        raise DataNotFoundError(f"calibration pickle {p} not found.")
    data = p.read_bytes()
    if len(data) > _MAX_BYTES:
        raise CorruptFileError(f"{p} is {len(data)} bytes; a KernelRidge calibration pickle is a few kB.")
    try:
        obj = RestrictedUnpickler(io.BytesIO(data)).load()
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError, TypeError, ValueError) as err:
        raise CorruptFileError(
            f"refused to read {p}: {err}. glacierlab reads calibration pickles with a restricted "
            "unpickler (numpy arrays and the KernelRidge state only) and never runs pickled code; "
            "use the authors' published files (glacierlab weights info <name> lists them)."
        ) from err
    if not isinstance(obj, _KernelRidgeState):
        raise CorruptFileError(f"{p} holds a {type(obj).__name__}, expected a scikit-learn KernelRidge.")
    return _arrays(obj.state, p)


def _arrays(state: dict[str, Any], p: Path) -> dict[str, np.ndarray]:
    kernel = state.get("kernel")
    if kernel != "laplacian":
        raise CorruptFileError(f"{p}: kernel {kernel!r}, expected 'laplacian' (the paper's calibrator).")
    try:
        for key in ("X_fit_", "dual_coef_", "alpha"):
            _check_size(_elements(state.get(key)) * 8.0, f"the KernelRidge {key}")
    except (pickle.UnpicklingError, RecursionError) as err:
        raise CorruptFileError(f"refused to read {p}: {err}") from err
    try:
        x = np.asarray(state["X_fit_"], dtype=np.float64)
        coef = np.asarray(state["dual_coef_"], dtype=np.float64).reshape(-1)
    except (KeyError, TypeError, ValueError) as err:
        raise CorruptFileError(f"{p}: the KernelRidge is not fitted or malformed ({err}).") from err
    if x.ndim != 2 or x.shape[1] != 1 or x.shape[0] != coef.shape[0] or x.shape[0] < 2:
        raise CorruptFileError(
            f"{p}: fitted points of shape {x.shape} and {coef.shape[0]} coefficients; expected (n, 1) and n."
        )
    gamma = state.get("gamma")
    gamma = 1.0 / x.shape[1] if gamma is None else float(gamma)  # scikit-learn's default for laplacian
    alpha = np.asarray(state.get("alpha", 1.0), dtype=np.float64)
    out = {"x": x[:, 0].copy(), "dual_coef": coef, "gamma": np.asarray(gamma), "alpha": alpha}
    if not all(np.isfinite(v).all() for v in out.values()) or gamma <= 0:
        raise CorruptFileError(f"{p}: non-finite or non-positive KernelRidge parameters.")
    return out
