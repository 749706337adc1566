import json
from pathlib import Path

import pytest

from glacierlab.cli import main


def test_regions_lists_catalog(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["regions"]) == 0
    out = capsys.readouterr().out
    assert "everest" in out and "hochalmkees" in out


def test_unknown_region_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fetch", "everst"]) == 2
    err = capsys.readouterr().err
    assert "unknown region 'everst'" in err and "Did you mean 'everest'" in err


def test_fetch_seeds_every_file_of_a_region(capsys: pytest.CaptureFixture[str], shared_data: Path) -> None:
    assert main(["fetch", "hintereisferner"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") >= 2 and "hef_srtm" in out


def test_demo_writes_overview_and_summary(tmp_path: Path, shared_data: Path) -> None:
    assert main(["demo", "--out", str(tmp_path / "demo")]) == 0
    summary = json.loads((tmp_path / "demo" / "summary.json").read_text())
    assert summary["groups"]["optical"] == ["blue", "green", "red", "nir"]
    assert abs(summary["glacier_fraction"] - 0.54) < 0.01
    assert (tmp_path / "demo" / "overview.png").stat().st_size > 50_000
    # a second run must not silently replace the outputs
    assert main(["demo", "--out", str(tmp_path / "demo")]) == 2


def test_import_keras_cli(tmp_path: Path, shared_fixtures: Path, capsys: pytest.CaptureFixture[str]) -> None:
    h5 = shared_fixtures / "keras_glavitu" / "glavitu_global_random_weights.h5"
    out = tmp_path / "global.safetensors"
    assert main(["import-keras", str(h5), str(out)]) == 0
    from glacierlab.models import load_checkpoint

    ck = load_checkpoint(out)
    assert ck.variant == "glavitu" and list(ck.bands) == ["optical", "dem"]
    assert main(["import-keras", str(h5), str(out)]) == 2
    assert "overwrite" in capsys.readouterr().err
