"""Raw third-party errors become clear GlacierLabErrors: a hostile training resume state, a STAC export with
a bad asset path or date, a full disk during a raster write, a read-only cache holding a corrupt file.
"""

from __future__ import annotations

import errno
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from adv_helpers import DEM, FAST, OPTICAL, Evil, write_tif

from glacierlab.errors import CheckpointError, InputError, WriteError


# --- training resume state ---------------------------------------------------------------------------
def test_hostile_resume_state_is_refused_not_run(sandbox) -> None:
    from glacierlab.training.state import STATE_FORMAT, load_state

    marker = sandbox.victim / "pwned.txt"
    path = sandbox.inputs / "last_state.pt"
    torch.save({"format": STATE_FORMAT, "model": Evil(marker)}, path)
    sandbox.allow()
    with pytest.raises(CheckpointError, match=r"refused to read resume state .*UnpicklingError.*nothing in it ran"):
        load_state(path, None, None, None, None)  # type: ignore[arg-type]
    assert not marker.exists()
    path.write_bytes(b"PK\x03\x04 truncated zip")
    sandbox.allow()
    with pytest.raises(CheckpointError, match="refused to read resume state.*train without --resume"):
        load_state(path, None, None, None, None)  # type: ignore[arg-type]


def test_malformed_resume_state_is_a_clear_error(sandbox) -> None:
    from glacierlab.training.config import TrainConfig
    from glacierlab.training.state import STATE_FORMAT, load_state

    path = sandbox.inputs / "last_state.pt"
    torch.save({"format": STATE_FORMAT, "config": "{not json"}, path)
    sandbox.allow()
    with pytest.raises(CheckpointError, match=r"resume state .* is malformed \(JSONDecodeError"):
        load_state(path, TrainConfig(), None, None, None)  # type: ignore[arg-type]


# --- STAC export -------------------------------------------------------------------------------------
def _item(sandbox, **kw):
    from glacierlab.reports.export import stac_item

    folder = sandbox.out / "everest" / "export"
    folder.mkdir(parents=True, exist_ok=True)
    args = {"item_id": "everest", "bbox": (86.8, 27.9, 87.0, 28.1), "dates": ["2000-10-30"], "assets": {}}
    return stac_item(folder, **{**args, **kw})


@pytest.mark.parametrize("date", ["30/10/2000 or so", "2000-13-45", "not a date", "NaT"])
def test_stac_export_bad_date(sandbox, date: str) -> None:
    with pytest.raises(InputError, match="of the STAC item is (not a date|empty).*YYYY-MM-DD"):
        _item(sandbox, dates=[date])
    assert not (sandbox.out / "everest" / "export" / "item.json").exists()


@pytest.mark.parametrize("rel", ["../../../victim/report.html", "/etc/passwd"])
def test_stac_export_asset_outside_the_region_folder(sandbox, rel: str) -> None:
    with pytest.raises(InputError, match="leads outside the report's region folder"):
        _item(sandbox, assets={"x": (rel, "x", ["data"])})
    assert not (sandbox.out / "everest" / "export" / "item.json").exists()


def test_stac_export_good_item_still_written(sandbox) -> None:
    path = _item(sandbox, dates=["2000-10-30", "2001"])
    assert json.loads(path.read_text())["properties"]["start_datetime"].startswith("2000-10-30")


# --- full disk -----------------------------------------------------------------------------------------
def _big_scene(sandbox, n: int = 512) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    opt = rng.integers(0, 255, (4, n, n)).astype(np.float32)
    dem = np.stack([rng.uniform(4800, 6000, (n, n)), rng.uniform(0, 60, (n, n))]).astype(np.float32)
    paths = {
        "optical": write_tif(sandbox.inputs / "optical.tif", opt, names=OPTICAL),
        "dem": write_tif(sandbox.inputs / "dem.tif", dem, names=DEM),
    }
    sandbox.allow()
    return paths


def test_full_disk_during_the_map_write_is_a_write_error_and_leaves_nothing(sandbox, tiny_checkpoint) -> None:
    """A real full disk: a 256 KiB tmpfs (needs root); the maps of a 512 px scene take ~2 MB."""
    from glacierlab.inference.predict import predict_scene

    disk = sandbox.out / "small_disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"mounting a 256 KiB tmpfs needs root (CAP_SYS_ADMIN): {mounted.stderr.decode().strip()}")
    try:
        inputs = _big_scene(sandbox)
        with pytest.raises(WriteError, match=r"cannot write .*small_disk.*disk is full.*Nothing was left half-written"):
            predict_scene(tiny_checkpoint, inputs, out_dir=disk, check=False, **FAST)
        assert sorted(p.name for p in disk.iterdir()) == []
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def test_gdal_write_failed_is_a_write_error(sandbox, tiny_checkpoint, monkeypatch) -> None:
    """GDAL's 'Write failed' carries no errno; the writer names the likely cause and removes its files."""
    import rasterio.io
    from rasterio.errors import RasterioIOError

    from glacierlab.inference.predict import predict_scene

    inputs = _big_scene(sandbox, 96)

    def fail(self, *args, **kwargs):
        raise RasterioIOError("Write failed")

    monkeypatch.setattr(rasterio.io.DatasetWriter, "write", fail)
    with pytest.raises(WriteError, match=r"Write failed - GDAL could not write the file: most often the disk is full"):
        predict_scene(tiny_checkpoint, inputs, out_dir=sandbox.out / "maps", check=False, **FAST)
    assert sandbox.out_files() == []


# --- read-only cache holding a corrupt file ------------------------------------------------------------
def test_read_only_cache_with_a_corrupt_file_says_how_to_fix_it(sandbox, monkeypatch, remote) -> None:
    from glacierlab.data.catalog import Source
    from glacierlab.data.download import fetch

    cache = sandbox.root / "cache"
    monkeypatch.setenv("GLACIERLAB_CACHE_DIR", str(cache))
    monkeypatch.delenv("GLACIERLAB_SEED_DIR", raising=False)
    url, sha, size = remote.publish("dem.tif", b"real elevation bytes" * 50)
    cached = cache / "remote" / "dem.tif"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"corrupt")
    sandbox.allow(cache)
    real_unlink = Path.unlink

    def read_only(self: Path, missing_ok: bool = False) -> None:
        if self == cached:
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", read_only)
    src = Source(
        id="dem_x",
        kind="raster",
        origin="test",
        url=url,
        seed_path="remote/dem.tif",
        sha256=sha,
        size=size,
        licence="CC0",
        citation="test",
        bands=({"name": "elevation", "role": "dem"},),
    )
    with pytest.raises(
        WriteError, match=r"dem\.tif of source 'dem_x' is corrupt.*Read-only file system.*GLACIERLAB_CACHE_DIR"
    ):
        fetch(src)
    assert cached.read_bytes() == b"corrupt"
