"""Outputs: atomic, never overwritten without the flag, exactly one run's, clear errors on unwritable folders."""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from adv_helpers import FAST

from glacierlab.errors import OutputExistsError, WriteError
from glacierlab.files import atomic_path

OUTPUTS = ["confidence.tif", "mask.tif", "probability.tif"]


def _predict(ckpt: Path, inputs: dict, out: Path, **kw: object):
    from glacierlab.inference.predict import predict_scene

    return predict_scene(ckpt, inputs, out_dir=out, **{**FAST, **kw})


def _hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[[str, str], Path]]:
    """Mount small tmpfs folders (a real full or read-only disk); skip when mounting is not allowed."""
    mounted: list[Path] = []

    def mount(name: str, options: str) -> Path:
        where = tmp_path / name
        where.mkdir()
        run = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True)
        if run.returncode:
            pytest.skip(
                "needs root with mount privileges (`mount -t tmpfs`) for a real full/read-only disk: "
                f"{run.stderr.decode().strip()}; the monkeypatched variants of this case ran"
            )
        mounted.append(where)
        return where

    yield mount
    for where in mounted:
        subprocess.run(["umount", str(where)], check=True)


def test_read_only_folder_simulated(sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    import glacierlab.files as files

    def refuse(*args: object, **kwargs: object) -> tuple[int, str]:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(files.tempfile, "mkstemp", refuse)
    target = sandbox.out / "sub" / "probability.tif"
    with pytest.raises(WriteError, match=r"cannot write .*probability\.tif.*read-only; choose a writable"):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"x")
    assert not target.exists()


def test_disk_full_while_writing_simulated(sandbox) -> None:
    target = sandbox.out / "mask.tif"
    with pytest.raises(WriteError, match=r"mask\.tif.*disk is full") as err:
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half of the file")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert isinstance(err.value, OSError)  # callers catching OSError keep working
    assert sandbox.out_files() == []  # neither the output nor the temporary


def test_predict_into_a_real_full_disk(sandbox, scene, tiny_checkpoint: Path, tmpfs) -> None:
    full = tmpfs("full", "size=16k")
    with pytest.raises(WriteError, match=rf"cannot write {full}.*(disk is full|No space left)"):
        _predict(tiny_checkpoint, scene, full)
    assert sorted(os.listdir(full)) == []  # no partial output, no temporary


def test_predict_into_a_real_read_only_folder(sandbox, scene, tiny_checkpoint: Path, tmpfs) -> None:
    ro = tmpfs("ro", "ro,size=64k")
    with pytest.raises(WriteError, match=rf"cannot write {ro}.*read-only"):
        _predict(tiny_checkpoint, scene, ro)


def test_output_parent_is_a_file(sandbox) -> None:
    (sandbox.out / "blocker").write_text("a file, not a folder")
    with pytest.raises(WriteError, match=r"blocker/x\.tif.*not a folder"):
        with atomic_path(sandbox.out / "blocker" / "x.tif") as tmp:
            tmp.write_bytes(b"x")


def test_output_is_a_folder(sandbox) -> None:
    (sandbox.out / "mask.tif").mkdir()
    with pytest.raises(WriteError, match=r"mask\.tif.*folder exists where the output file should go"):
        with atomic_path(sandbox.out / "mask.tif", overwrite=True) as tmp:
            tmp.write_bytes(b"x")
    assert (sandbox.out / "mask.tif").is_dir()


def test_no_overwrite_without_the_flag(sandbox, scene, tiny_checkpoint: Path) -> None:
    _predict(tiny_checkpoint, scene, sandbox.out)
    before = _hashes(sandbox.out)
    with pytest.raises(OutputExistsError, match=r"probability\.tif exists; pass overwrite=True"):
        _predict(tiny_checkpoint, scene, sandbox.out)
    assert _hashes(sandbox.out) == before


def test_interrupted_run_leaves_nothing_and_keeps_old_outputs(sandbox, scene, tiny_checkpoint: Path) -> None:
    fresh = sandbox.out / "fresh"
    with pytest.raises(KeyboardInterrupt):
        _predict(tiny_checkpoint, scene, fresh, callback=_interrupt)
    assert not fresh.exists() or os.listdir(fresh) == []
    _predict(tiny_checkpoint, scene, sandbox.out)
    before = _hashes(sandbox.out)
    with pytest.raises(KeyboardInterrupt):
        _predict(tiny_checkpoint, scene, sandbox.out, overwrite=True, callback=_interrupt)
    assert _hashes(sandbox.out) == before  # the earlier complete outputs, no temporaries beside them


def _interrupt(done: int, total: int) -> None:
    raise KeyboardInterrupt


def test_stale_uncertainty_from_an_earlier_run(
    sandbox, scene, tiny_checkpoint: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _predict(tiny_checkpoint, scene, sandbox.out, mc_samples=2)
    assert sandbox.out_files() == sorted([*OUTPUTS, "uncertainty.tif"])
    for name in OUTPUTS:  # the user removed the main outputs but not the uncertainty layer
        (sandbox.out / name).unlink()
    with pytest.raises(OutputExistsError, match=r"uncertainty\.tif is an output of an earlier run"):
        _predict(tiny_checkpoint, scene, sandbox.out)
    assert sandbox.out_files() == ["uncertainty.tif"]
    with caplog.at_level(logging.WARNING, logger="glacierlab.inference.writers"):
        _predict(tiny_checkpoint, scene, sandbox.out, overwrite=True)
    assert sandbox.out_files() == OUTPUTS
    assert any("uncertainty.tif" in r.getMessage() for r in caplog.records)


def test_failed_run_keeps_the_earlier_uncertainty(sandbox, scene, tiny_checkpoint: Path) -> None:
    """Stale outputs go only when the new run succeeded: a failed run leaves the earlier run whole."""
    _predict(tiny_checkpoint, scene, sandbox.out, mc_samples=2)
    before = _hashes(sandbox.out)
    with pytest.raises(KeyboardInterrupt):
        _predict(tiny_checkpoint, scene, sandbox.out, overwrite=True, callback=_interrupt)
    assert _hashes(sandbox.out) == before


def test_write_outlines_refuses_to_overwrite(sandbox) -> None:
    import geopandas as gpd
    import shapely

    from glacierlab.outlines.polygons import write_outlines

    gdf = gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 1, 1)], crs=32645)
    path = write_outlines(gdf, sandbox.out / "outlines.gpkg")
    before = _hashes(sandbox.out)
    with pytest.raises(OutputExistsError, match=r"outlines\.gpkg exists"):
        write_outlines(gdf, path)
    assert _hashes(sandbox.out) == before
