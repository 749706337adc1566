"""Hostile rasters given to predict_scene and the raster loaders: a clear error naming the file, no output."""

from __future__ import annotations

import re
import zlib
from pathlib import Path

import numpy as np
import pytest
from adv_helpers import FAST, OPTICAL, write_tif

from glacierlab.errors import CorruptFileError, DataNotFoundError, GridError, InputError
from glacierlab.geo import BBox


def _png_bytes() -> bytes:
    """A valid 2x2 grey PNG (no CRS, no transform)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    raw = b"".join(b"\x00" + bytes([10, 200]) for _ in range(2))
    ihdr = (2).to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def _predict(ckpt: Path, inputs: dict, out: Path) -> None:
    from glacierlab.inference.predict import predict_scene

    predict_scene(ckpt, inputs, out_dir=out, **FAST)


@pytest.mark.parametrize(
    ("kind", "error", "says"),
    [
        ("zero-byte", CorruptFileError, "empty (0 bytes)"),
        ("garbage", CorruptFileError, "cannot open"),
        ("truncated-header", CorruptFileError, "cannot open"),
        ("png-renamed", CorruptFileError, "holds a PNG file"),
        ("folder", CorruptFileError, "is a folder"),
        ("missing", DataNotFoundError, "does not exist"),
        ("no-crs", GridError, "has no CRS"),
    ],
)
def test_bad_optical_file(sandbox, scene, tiny_checkpoint: Path, kind: str, error: type, says: str) -> None:
    good = scene["optical"].read_bytes()
    path = sandbox.inputs / "bad.tif"
    if kind == "zero-byte":
        sandbox.add_input("bad.tif", b"")
    elif kind == "garbage":
        sandbox.add_input("bad.tif", bytes(range(256)) * 8)
    elif kind == "truncated-header":
        sandbox.add_input("bad.tif", good[:64])
    elif kind == "png-renamed":
        sandbox.add_input("bad.tif", _png_bytes())
    elif kind == "folder":
        path.mkdir()
        sandbox.allow()
    elif kind == "no-crs":
        data = np.ones((4, 48, 48), np.float32)
        write_tif(path, data, crs=None, names=OPTICAL)
        sandbox.allow()
    with pytest.raises(error, match=re.escape(says)) as err:
        _predict(tiny_checkpoint, {"optical": path, "dem": scene["dem"]}, sandbox.out)
    assert str(path) in str(err.value)
    assert sandbox.out_files() == []


def test_truncated_pixels_fail_mid_scene_without_output(sandbox, scene, tiny_checkpoint: Path) -> None:
    """A GeoTIFF whose header is intact but whose compressed tiles are cut off fails when read."""
    from rasterio.shutil import copy

    big = np.random.default_rng(1).integers(0, 255, (4, 48, 48)).astype(np.float32)
    plain = write_tif(sandbox.inputs / "plain.tif", big, names=OPTICAL)
    full = sandbox.inputs / "full.tif"  # a COG: header first, tiles after it, as glacierlab writes them
    copy(plain, full, driver="COG", blocksize=16, compress="DEFLATE", overviews="NONE")
    data = full.read_bytes()
    cut = sandbox.add_input("cut.tif", data[: len(data) * 2 // 3])
    with pytest.raises(CorruptFileError, match="cut.tif") as err:
        _predict(tiny_checkpoint, {"optical": cut, "dem": scene["dem"]}, sandbox.out)
    assert "cannot read rows" in str(err.value) and "truncated or corrupt" in str(err.value)
    assert sandbox.out_files() == []  # no output, no temporary


def test_dataarray_without_crs_refused(sandbox, scene, tiny_checkpoint: Path) -> None:
    import xarray as xr

    da = xr.DataArray(np.ones((4, 48, 48), np.float32), dims=("band", "y", "x"), coords={"band": OPTICAL})
    with pytest.raises(GridError, match="'optical' has no CRS.*write_crs"):
        _predict(tiny_checkpoint, {"optical": da, "dem": scene["dem"]}, sandbox.out)
    assert sandbox.out_files() == []


def test_infinite_values_named(sandbox, scene, tiny_checkpoint: Path) -> None:
    data = np.ones((4, 48, 48), np.float32)
    data[1, 5, 5] = np.inf
    path = write_tif(sandbox.inputs / "inf.tif", data, names=OPTICAL)
    sandbox.allow()
    with pytest.raises(InputError, match="'optical' has infinite values"):
        _predict(tiny_checkpoint, {"optical": path, "dem": scene["dem"]}, sandbox.out)
    assert sandbox.out_files() == []


def test_open_raster_zero_byte_and_no_crs(sandbox) -> None:
    from glacierlab.data.rasters import open_raster

    empty = sandbox.add_input("empty.tif", b"")
    with pytest.raises(CorruptFileError, match="empty.tif"):
        open_raster(empty)
    nocrs = write_tif(sandbox.inputs / "nocrs.tif", np.ones((1, 4, 4), np.uint8), crs=None)
    sandbox.allow()
    with pytest.raises(GridError, match="nocrs.tif has no CRS; pass crs="):
        open_raster(nocrs)


@pytest.mark.parametrize(
    "bbox",
    [
        (86.9, 27.9, 86.7, 28.1),  # inverted
        (86.7, float("nan"), 86.9, 28.1),
        (86.7, 27.9, 86.9, float("inf")),
        (86.7, 27.9, 186.9, 28.1),  # off the globe
        (86.7, 27.9, 86.9),  # three numbers
        "86.7,north,86.9,28.1",
        (86.7, 28.0, 86.9, 28.0),  # empty
    ],
)
def test_bad_bbox(bbox: object) -> None:
    with pytest.raises(InputError, match="bbox must be") as err:
        BBox.parse(bbox)  # type: ignore[arg-type]
    assert "lon_min, lat_min, lon_max, lat_max" in str(err.value)


def test_stack_region_refuses_inverted_bbox() -> None:
    from glacierlab.data.stack import stack_region

    with pytest.raises(InputError, match=r"\(86\.9, 27\.9, 86\.7, 28\.1\)"):
        stack_region("everest", bbox=(86.9, 27.9, 86.7, 28.1))
