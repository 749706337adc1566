"""The authors' KernelRidge calibration pickles: read with a restricted unpickler, never executed."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from glacierlab.contract.calibration import Calibrator
from glacierlab.contract.sklearn_pickle import read_kernel_ridge
from glacierlab.errors import CorruptFileError, DataNotFoundError

NAMES = ("global", "global_insar", "regionencoding")


def _pickle_path(shared_data: Path, name: str) -> Path:
    return shared_data / "glavitu_calibration_models" / f"confidence_calibration_model_glavitu_{name}_softmax.pickle"


@pytest.mark.parametrize("name", NAMES)
def test_published_calibrators_match_kernel_ridge_predict(shared_data: Path, name: str) -> None:
    from sklearn.metrics.pairwise import laplacian_kernel

    arrays = read_kernel_ridge(_pickle_path(shared_data, name))
    assert arrays["x"].shape == arrays["dual_coef"].shape == (102,) and float(arrays["gamma"]) == 1.0
    cal = Calibrator.from_sklearn_pickle(_pickle_path(shared_data, name))
    c = np.linspace(0, 1, 1001)
    # KernelRidge.predict(X) = laplacian_kernel(X, X_fit_, gamma) @ dual_coef_; deploy.py clips to [0, 1]
    expected = np.clip(laplacian_kernel(c[:, None], arrays["x"][:, None], gamma=1.0) @ arrays["dual_coef"], 0, 1)
    np.testing.assert_allclose(cal(c), expected, atol=1e-6)
    assert cal.convention == "entropy"
    again = Calibrator.from_arrays(cal.to_arrays())
    np.testing.assert_allclose(again(c), cal(c), atol=1e-7)


def test_regionencoding_calibrator_keeps_its_published_oddity(shared_data: Path) -> None:
    """GLAVITU_SPEC.md §6: the region-encoding calibrator maps raw 0.9 to about 0.21 (non-monotonic)."""
    cal = Calibrator.from_sklearn_pickle(_pickle_path(shared_data, "regionencoding"))
    assert float(cal(np.array([0.9]))[0]) == pytest.approx(0.21, abs=0.02)


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        import os

        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_without_running(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    bad = tmp_path / "evil.pickle"
    bad.write_bytes(pickle.dumps(_Evil(marker)))
    with pytest.raises(CorruptFileError, match=r"refused.*(posix|os)\.system"):
        read_kernel_ridge(bad)
    assert not marker.exists(), "the pickled command ran"
    evil_eval = tmp_path / "eval.pickle"
    evil_eval.write_bytes(b"cbuiltins\neval\n(V__import__('os').system('touch " + str(marker).encode() + b"')\ntR.")
    with pytest.raises(CorruptFileError, match="builtins.eval"):
        read_kernel_ridge(evil_eval)
    assert not marker.exists()
    with pytest.raises(CorruptFileError, match="refused"):
        Calibrator.from_sklearn_pickle(evil_eval)


def test_other_objects_and_bad_files_are_refused(tmp_path: Path) -> None:
    arr = tmp_path / "array.pickle"
    arr.write_bytes(pickle.dumps(np.arange(3.0)))
    with pytest.raises(CorruptFileError, match="KernelRidge"):
        read_kernel_ridge(arr)
    junk = tmp_path / "junk.pickle"
    junk.write_bytes(b"not a pickle at all")
    with pytest.raises(CorruptFileError):
        read_kernel_ridge(junk)
    with pytest.raises(DataNotFoundError):
        read_kernel_ridge(tmp_path / "missing.pickle")
