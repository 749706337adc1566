"""Ids that become folder names (regions, scenes, run names, done-marker entries) never leave the output folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from glacierlab.batch.markers import MARKER, incomplete_reason, write_done_marker
from glacierlab.errors import CatalogError, ConfigError, InputError

HOSTILE_IDS = ["/abs/victim", "..", ".", "../victim", "a/b", "", "~", "victim\\..\\x", ".hidden", "x" * 101]


@pytest.mark.parametrize("region", HOSTILE_IDS)
def test_report_region_ids_refused_before_any_file_operation(sandbox, region: str) -> None:
    from glacierlab.reports.runner import run_reports

    if region == "/abs/victim":
        region = str(sandbox.victim)  # a real folder full of bait named like report outputs
    with pytest.raises(InputError, match="region id") as err:
        run_reports([region], sandbox.out, progress=False)
    assert repr(region) in str(err.value)
    assert sandbox.out_files() == []  # not even index.html: nothing ran


@pytest.mark.parametrize("scene", ["..", ".", "/abs", "../../x", "a/b"])
def test_batch_scene_names_refused(sandbox, tiny_checkpoint: Path, scene: str) -> None:
    from glacierlab.batch.scenes import predict_scenes

    if scene == "/abs":
        scene = str(sandbox.victim)
    with pytest.raises(InputError, match="scene name") as err:
        predict_scenes({scene: {"inputs": {}}}, tiny_checkpoint, sandbox.out, progress=False)
    assert repr(scene) in str(err.value)
    assert sandbox.out_files() == []


def test_batch_region_list_refused(sandbox, tiny_checkpoint: Path) -> None:
    from glacierlab.batch.scenes import predict_scenes

    with pytest.raises(InputError, match=r"'\.\.'"):
        predict_scenes(["everest", ".."], tiny_checkpoint, sandbox.out, progress=False)
    assert sandbox.out_files() == []


def test_task_functions_check_ids_themselves(sandbox, tiny_checkpoint: Path) -> None:
    """Defence in depth: the per-task functions (what Dask workers run) refuse too."""
    from glacierlab.batch.scenes import predict_scene_task
    from glacierlab.reports.runner import run_report

    with pytest.raises(InputError, match="scene name"):
        predict_scene_task("..", scene={"inputs": {}}, checkpoint=str(tiny_checkpoint), out_dir=str(sandbox.out))
    with pytest.raises(InputError, match="region id"):
        run_report(str(sandbox.victim), out_dir=str(sandbox.out), template="unused.ipynb")


CATALOG = """
version: 1
sources:
  - id: dem_x
    kind: raster
    origin: test
    seed_path: {seed_path}
    sha256: "{sha}"
    size: 10
    licence: CC0
    citation: test
    bands: [{{name: elevation, role: dem}}]
regions:
  {region}:
    name: Test
    bbox: [86.7, 27.9, 86.9, 28.1]
    scenes: [{{date: "2000", dem: [dem_x]}}]
"""


@pytest.mark.parametrize(
    ("region", "seed_path", "bad"),
    [
        ("../x", "ok/dem.tif", "region id '../x'"),
        ('"/etc"', "ok/dem.tif", "region id '/etc'"),
        ("ok", "/etc/passwd", "seed_path"),
        ("ok", "../../outside.tif", "seed_path"),
        ("ok", "~/.bashrc", "seed_path"),
        ("ok", '"a\\\\..\\\\b.tif"', "seed_path"),
    ],
)
def test_catalog_ids_and_seed_paths_checked_at_load(sandbox, region: str, seed_path: str, bad: str) -> None:
    from glacierlab.data.catalog import load_catalog

    path = sandbox.add_input("catalog.yaml", CATALOG.format(region=region, seed_path=seed_path, sha="0" * 64))
    with pytest.raises(CatalogError, match="catalog.yaml has 1 error") as err:
        load_catalog(path)
    assert bad in str(err.value)


def test_marker_entry_outside_the_folder_is_not_trusted(sandbox) -> None:
    task = sandbox.out / "s1"
    task.mkdir()
    (task / MARKER).write_text(json.dumps({"files": {"../../victim/report.html": {"bytes": 1, "sha256": "0"}}}))
    reason = incomplete_reason(task)
    assert reason is not None and "leaves its folder" in reason


def test_marker_listing_a_hidden_temporary_is_incomplete(sandbox) -> None:
    task = sandbox.out / "s1"
    task.mkdir()
    (task / ".mask.tif.x1.tmp.tif").write_bytes(b"partial")
    (task / MARKER).write_text(json.dumps({"files": {".mask.tif.x1.tmp.tif": {"bytes": 7, "sha256": "0"}}}))
    assert "hidden temporary" in (incomplete_reason(task) or "")


def test_done_marker_refuses_hidden_and_outside_files(sandbox) -> None:
    task = sandbox.out / "s1"
    task.mkdir()
    tmp = task / ".probability.tif.abc.tmp.tif"
    tmp.write_bytes(b"half")
    with pytest.raises(ConfigError, match=r"hidden files are temporaries"):
        write_done_marker(task, [tmp])
    with pytest.raises(ConfigError, match="outside the task folder"):
        write_done_marker(task, [sandbox.victim / "report.html"])
    assert not (task / MARKER).exists()


def test_training_run_name_cannot_escape_out_dir() -> None:
    from glacierlab.training.config import TrainConfig

    with pytest.raises(InputError, match="run name '../../x'"):
        TrainConfig(name="../../x")


@pytest.mark.parametrize("prefix", ["../", "../../victim/", "/tmp/x_"])
def test_output_prefix_cannot_leave_out_dir(sandbox, scene, tiny_checkpoint: Path, prefix: str) -> None:
    from glacierlab.inference.predict import predict_scene

    with pytest.raises(InputError, match="output prefix"):
        predict_scene(tiny_checkpoint, scene, out_dir=sandbox.out, prefix=prefix, window=64, stride=64, progress=False)
    assert sandbox.out_files() == []
