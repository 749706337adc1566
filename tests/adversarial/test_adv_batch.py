"""Batches: a bad scene fails alone, reruns resume, a killed run leaves nothing that counts as done."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from adv_helpers import script

from glacierlab.batch.markers import MARKER

KW = {"window": 64, "stride": 64, "batch_size": 2}
OUTPUTS = ["confidence.tif", "mask.tif", "probability.tif"]


def _batch(ckpt: Path, scenes: dict, out: Path, **kw: object):
    from glacierlab.batch.scenes import predict_scenes

    return predict_scenes(scenes, ckpt, out, progress=False, device="cpu", **{**KW, **kw})


def _marked(folder: Path) -> list[str]:
    return sorted(json.loads((folder / MARKER).read_text())["files"])


def test_bad_scene_fails_alone_and_rerun_resumes(sandbox, scene, tiny_checkpoint: Path) -> None:
    empty = sandbox.add_input("empty.tif", b"")
    scenes = {
        "good": {"inputs": scene},
        "broken": {"inputs": {"optical": empty, "dem": scene["dem"]}},
        "nocrs": {"inputs": {"optical": scene["optical"], "dem": sandbox.inputs / "missing.tif"}},
    }
    table = _batch(tiny_checkpoint, scenes, sandbox.out).set_index("scene")
    assert table.loc["good", "status"] == "ok"
    assert table.loc["broken", "status"] == "failed" and "CorruptFileError" in table.loc["broken", "error"]
    assert str(empty) in table.loc["broken", "error"]
    assert table.loc["nocrs", "status"] == "failed" and "missing.tif" in table.loc["nocrs", "error"]
    assert _marked(sandbox.out / "good") == OUTPUTS
    assert not (sandbox.out / "broken" / MARKER).exists()
    again = _batch(tiny_checkpoint, scenes, sandbox.out).set_index("scene")
    assert again["status"].to_dict() == {"good": "skipped", "broken": "failed", "nocrs": "failed"}


def test_killed_run_is_redone_and_marker_lists_only_real_outputs(sandbox, scene, tiny_checkpoint: Path) -> None:
    code = script(
        f"""
        import os, signal
        from glacierlab.batch.scenes import predict_scenes

        def die(done, total):
            os.kill(os.getpid(), signal.SIGKILL)  # killed while the outputs are being written

        predict_scenes({{"s1": {{"inputs": {{"optical": {str(scene["optical"])!r}, "dem": {str(scene["dem"])!r}}}}}}},
                       {str(tiny_checkpoint)!r}, {str(sandbox.out)!r}, progress=False, device="cpu",
                       window=64, stride=64, batch_size=2, callback=die)
        """
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == -9, run.stderr
    left = sandbox.out_files()
    assert left and all(Path(f).name.startswith(".") for f in left), left  # only hidden temporaries
    table = _batch(tiny_checkpoint, {"s1": {"inputs": scene}}, sandbox.out)
    assert table["status"].tolist() == ["ok"]
    assert _marked(sandbox.out / "s1") == OUTPUTS  # never the leftover temporaries


def test_stale_uncertainty_not_kept_by_a_batch_rerun(sandbox, scene, tiny_checkpoint: Path) -> None:
    _batch(tiny_checkpoint, {"s1": {"inputs": scene}}, sandbox.out, mc_samples=2)
    assert _marked(sandbox.out / "s1") == sorted([*OUTPUTS, "uncertainty.tif"])
    table = _batch(tiny_checkpoint, {"s1": {"inputs": scene}}, sandbox.out, overwrite=True)
    assert table["status"].tolist() == ["ok"]
    assert _marked(sandbox.out / "s1") == OUTPUTS
    assert sorted(os.listdir(sandbox.out / "s1")) == sorted([*OUTPUTS, MARKER])


def test_marker_pointing_outside_is_redone_not_trusted(sandbox, scene, tiny_checkpoint: Path) -> None:
    _batch(tiny_checkpoint, {"s1": {"inputs": scene}}, sandbox.out)
    marker = sandbox.out / "s1" / MARKER
    record = json.loads(marker.read_text())
    record["files"]["../../victim/report.html"] = {"bytes": 1, "sha256": "0" * 64}
    marker.write_text(json.dumps(record))
    table = _batch(tiny_checkpoint, {"s1": {"inputs": scene}}, sandbox.out)
    assert table["status"].tolist() == ["ok"]  # redone, not skipped
    assert _marked(sandbox.out / "s1") == OUTPUTS


def test_tampered_output_is_redone(sandbox, scene, tiny_checkpoint: Path) -> None:
    _batch(tiny_checkpoint, {"s1": {"inputs": scene}}, sandbox.out)
    mask = sandbox.out / "s1" / "mask.tif"
    mask.write_bytes(mask.read_bytes()[:-10])
    table = _batch(tiny_checkpoint, {"s1": {"inputs": scene}}, sandbox.out)
    assert table["status"].tolist() == ["ok"]
    from glacierlab.batch.markers import incomplete_reason

    assert incomplete_reason(sandbox.out / "s1") is None


@pytest.mark.parametrize("scenes", ["everest", ["everest", "everest"]])
def test_bad_scene_lists(sandbox, tiny_checkpoint: Path, scenes: object) -> None:
    from glacierlab.errors import ConfigError

    if isinstance(scenes, list):
        from glacierlab.reports.runner import run_reports

        with pytest.raises(ConfigError, match="unique ids"):
            run_reports(scenes, sandbox.out, progress=False)
    else:
        with pytest.raises(ConfigError, match="got the string 'everest'"):
            _batch(tiny_checkpoint, scenes, sandbox.out)  # type: ignore[arg-type]
    assert sandbox.out_files() == []
