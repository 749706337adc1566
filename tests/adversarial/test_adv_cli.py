"""Every CLI command answers bad input with ONE readable line on stderr and a non-zero exit (no traceback)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from adv_helpers import write_tif

from glacierlab.cli import build_parser, main
from glacierlab.errors import GlacierLabError, InputError


def _cases(box) -> dict[str, list[tuple[list[str], str]]]:
    """Command -> [(argv, text the one line must contain)]: at least one GlacierLabError per command."""
    binary = box.add_input("binary.yaml", bytes(range(256)) * 4)
    tif = write_tif(box.inputs / "scene.tif", np.ones((1, 4, 4), np.uint8))
    box.allow()
    return {
        "regions": [(["regions", "--catalog", str(binary)], "is not a text (UTF-8 YAML) file")],
        "fetch": [
            (["fetch", "nowhere"], "unknown region 'nowhere'"),
            (["fetch", "everest", "--catalog", str(binary)], "binary.yaml"),
        ],
        "import-keras": [
            (["import-keras", str(box.inputs / "nope.h5"), "out.safetensors"], "nope.h5 not found"),
            (["import-keras", str(tif), "out.safetensors"], "as HDF5"),
            (["import-keras", str(tif), "o.safetensors", "--bands", "optical"], "--bands expects GROUP=b1,b2"),
        ],
        "demo": [(["demo", "--region", "..", "--out", str(box.out)], "region id '..'")],
        "report": [
            (["report", "--regions", str(box.victim), "--out", str(box.out)], f"region id '{box.victim}'"),
            (["report", "--regions", "ok,..", "--out", str(box.out)], "region id '..'"),
        ],
        "batch-predict": [
            (["batch-predict", "--scenes", "s1", "--checkpoint", str(tif), "--out", str(box.out)], "GeoTIFF"),
            (["batch-predict", "--scenes", "/etc", "--checkpoint", str(tif)], "scene name '/etc'"),
            (["batch-predict", "--scenes", "s1", "--checkpoint", str(box.inputs)], "is a folder"),
        ],
        "train": [(["train", "--name", "../../x", "--out", str(box.out)], "run name '../../x'")],
        "predict": [
            (["predict", str(tif), "--out", str(box.out)], "give the input rasters"),
            (["predict", str(tif), "--optical", str(tif), "--out", str(box.out)], "GeoTIFF"),
            (["predict", str(tif), "--input", "optical", "--out", str(box.out)], "--input expects GROUP=PATH"),
        ],
        "weights": [
            (["weights", "info", "glavitu_globl"], "Did you mean 'glavitu_global'"),
            (["weights", "card", str(tif)], "GeoTIFF"),
            (["weights", "import", "glavitu_lite_everest", str(tif), str(box.out / "o.safetensors")], "shipped"),
        ],
    }


def _one_line(capsys: pytest.CaptureFixture, command: str, says: str) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith(f"glacierlab {command}: error: "), lines[0]
    assert says in lines[0], lines[0]
    assert "Traceback" not in err
    return lines[0]


def test_every_command_has_a_case(sandbox) -> None:
    commands = set(build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    missing = commands - set(_cases(sandbox))
    assert not missing, f"add a bad-input case for the CLI commands {sorted(missing)} to _cases()"


def test_each_command_one_line(sandbox, capsys: pytest.CaptureFixture) -> None:
    for command, cases in _cases(sandbox).items():
        for argv, says in cases:
            assert main(argv) == 2, argv
            _one_line(capsys, command, says)
    assert sandbox.out_files() == []


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["report", "--regions", "x", "-p", "bbox=[1,2"], "the value of bbox is not a YAML literal"),
        (["report", "--regions", "x", "-p", "bbox"], "expected KEY=VALUE"),
        (["report", "--regions", "x", "-p", "t=!!python/object/apply:os.system [ls]"], "not a YAML literal"),
        (["batch-predict", "--scenes", "s", "--checkpoint", "c", "--window", "big"], "invalid int value: 'big'"),
    ],
)
def test_usage_errors_are_one_line(argv: list[str], says: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    _one_line(capsys, argv[0], says)


def test_debug_shows_the_traceback(sandbox) -> None:
    with pytest.raises(InputError, match="region id '..'"):
        main(["--debug", "report", "--regions", "..", "--out", str(sandbox.out)])
    with pytest.raises(GlacierLabError):
        main(["report", "--regions", "..", "--debug"])


def test_os_errors_are_one_line_too(sandbox, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    import glacierlab.reports.runner as runner

    def boom(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", "/srv/reports")

    monkeypatch.setattr(runner, "run_reports", boom)
    assert main(["report", "--regions", "everest"]) == 2
    line = _one_line(capsys, "report", "PermissionError")
    assert "/srv/reports" in line and "--debug" in line


def test_real_script_exit_status(sandbox) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "glacierlab.cli", "report", "--regions", str(sandbox.victim)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr
    assert f"region id '{sandbox.victim}'" in run.stderr


def test_batch_outputs_only_under_out(sandbox, scene, tiny_checkpoint: Path) -> None:
    """A good batch run with a relative out folder writes under it only (the sandbox checks every other file)."""
    from glacierlab.batch.scenes import predict_scenes

    table = predict_scenes({"s1": {"inputs": scene}}, tiny_checkpoint, "out2", progress=False, window=64, stride=64)
    assert table["status"].tolist() == ["ok"]
    assert sandbox.out_files() == [
        "out2/s1/_done.json",
        "out2/s1/confidence.tif",
        "out2/s1/mask.tif",
        "out2/s1/probability.tif",
    ]
