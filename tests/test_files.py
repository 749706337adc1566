from pathlib import Path

import numpy as np
import pytest

from glacierlab.data.normalise import normalise_group
from glacierlab.errors import GlacierLabError, InputError, OutputExistsError, unknown_name
from glacierlab.files import atomic_path


def test_atomic_write_replaces_only_on_success(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    with atomic_path(target) as tmp:
        tmp.write_text("first")
        assert not target.exists(), "the final file must not appear before the block ends"
    assert target.read_text() == "first"
    assert target.stat().st_mode & 0o044, "outputs must be readable by others like any new file (umask)"
    with pytest.raises(OutputExistsError, match="overwrite=True"):
        with atomic_path(target):
            pass
    with pytest.raises(RuntimeError):
        with atomic_path(target, overwrite=True) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("disk full")
    assert target.read_text() == "first", "a failed write must leave the old file intact"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"], "no temporary file may be left behind"


def test_unknown_name_lists_valid_and_closest() -> None:
    err = unknown_name("region", "everst", ["everest", "aletsch", "hochalmkees"])
    assert isinstance(err, KeyError) and isinstance(err, GlacierLabError)
    assert "'everest'" in str(err) and "aletsch" in str(err) and "Did you mean" in str(err)


def test_normalise_group_min_max_and_nan() -> None:
    a = np.array([[[0.0, 5.0], [10.0, np.nan]], [[100.0, 200.0], [300.0, 400.0]]])
    out = normalise_group(a, {"min": [0, 100], "max": [10, 500]})
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[0], [[0, 0.5], [1.0, 0.0]])
    np.testing.assert_allclose(out[1], [[0, 0.25], [0.5, 0.75]])
    with pytest.raises(InputError, match="2 min / 2 max values but the input has 3 bands"):
        normalise_group(np.zeros((3, 2, 2)), {"min": [0, 0], "max": [1, 1]})
    with pytest.raises(InputError, match="max must exceed min"):
        normalise_group(np.zeros((1, 2, 2)), {"min": [1], "max": [1]})
