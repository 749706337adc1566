"""Own files (``stack_from_files``): a repeated band name, a scale that is no scale, a DEM passed as the
reference, int8 data and a file name with a comma must each end in a clear error, never a silent stack.
"""

from __future__ import annotations

import numpy as np
import pytest
from adv_helpers import OPTICAL, write_tif

from glacierlab.data.user_files import stack_from_files
from glacierlab.errors import DataNotFoundError, InputError


@pytest.fixture
def files(sandbox) -> dict:
    rng = np.random.default_rng(0)
    box = sandbox.inputs
    out = {
        "optical": write_tif(box / "optical.tif", rng.integers(0, 255, (4, 32, 32)).astype(np.uint8), names=OPTICAL),
        "dem": write_tif(box / "dem.tif", rng.uniform(4800, 6000, (1, 32, 32)).astype(np.float32)),
        "labels": write_tif(box / "labels.tif", rng.integers(0, 2, (1, 32, 32)).astype(np.uint8)),
    }
    sandbox.allow()
    return out


def test_repeated_band_name_is_an_error_not_a_dropped_band(files) -> None:
    with pytest.raises(InputError, match=r"\['nir'\] given twice"):
        stack_from_files(files["optical"], bands="blue, green, nir, nir", product_level="dn8")
    with pytest.raises(InputError, match=r"\['nir'\] given twice in the band mapping"):
        stack_from_files(files["optical"], bands={1: "blue", 3: "nir", 4: "nir"}, product_level="dn8")


@pytest.mark.parametrize("scale", [float("nan"), 0.0, -1.0, float("inf")])
def test_scale_must_be_positive_and_finite(files, scale: float) -> None:
    with pytest.raises(InputError, match="scale must be a positive finite number"):
        stack_from_files(files["optical"], bands=OPTICAL, product_level="toa", scale=scale)


def test_nan_offset_is_refused(files) -> None:
    with pytest.raises(InputError, match="offset finite"):
        stack_from_files(files["optical"], bands=OPTICAL, product_level="toa", scale=0.0001, offset=float("nan"))


def test_dem_passed_as_the_reference_is_refused(files) -> None:
    with pytest.raises(InputError, match=r"reference .*dem\.tif holds values 48\d\d.*0 \(ice-free\).*DEM"):
        stack_from_files(files["optical"], files["dem"], bands=OPTICAL, product_level="dn8", reference=files["dem"])
    ds = stack_from_files(files["optical"], files["dem"], bands=OPTICAL, product_level="dn8", reference=files["labels"])
    assert set(np.unique(ds["reference"].values)) <= {0, 1, 255}


def test_int8_optical_data_is_refused_with_the_range(sandbox) -> None:
    data = np.random.default_rng(1).integers(-128, 128, (4, 16, 16)).astype(np.int8)
    tif = write_tif(sandbox.inputs / "signed.tif", data, names=OPTICAL)
    sandbox.allow()
    with pytest.raises(InputError, match=r"int8, -128\.\.127.*uint8"):
        stack_from_files(tif, bands=OPTICAL, product_level="dn8")


def test_file_name_with_a_comma_is_read(sandbox, files) -> None:
    comma = sandbox.inputs / "scene,2021.tif"
    comma.write_bytes(files["optical"].read_bytes())
    sandbox.allow()
    ds = stack_from_files(str(comma), bands=OPTICAL, product_level="dn8")
    assert ds.attrs["scene"] == "scene,2021.tif"
    with pytest.raises(DataNotFoundError, match=r"was split at its commas into 2 paths.*in a list"):
        stack_from_files(str(sandbox.inputs / "other,2021.tif"), bands=OPTICAL, product_level="dn8")


def test_unreadable_optical_file_is_still_a_corrupt_file_error(sandbox) -> None:
    from glacierlab.errors import CorruptFileError

    junk = sandbox.add_input("junk.tif", b"II*\x00 not really a tiff")
    with pytest.raises(CorruptFileError, match=r"cannot open raster .*junk\.tif"):
        stack_from_files(junk, bands=OPTICAL, product_level="dn8")
