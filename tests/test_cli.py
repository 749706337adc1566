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


def test_demo_runs_the_report_and_keeps_finished_work(tmp_path: Path, shared_data: Path) -> None:
    """The demo is the regional report; hochalmkees keeps this fast (everest runs in test_notebooks)."""
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--region", "hochalmkees"]) == 0
    html = (out / "hochalmkees" / "report.html").read_text()
    assert "Hochalmkees" in html and "data:image/png;base64" in html
    assert "hochalmkees" in (out / "index.html").read_text()
    before = (out / "hochalmkees" / "report.html").stat().st_mtime_ns
    assert main(["demo", "--out", str(out), "--region", "hochalmkees"]) == 0
    assert (out / "hochalmkees" / "report.html").stat().st_mtime_ns == before, "finished work must be kept"
    assert main(["demo", "--out", str(out), "--region", "nowhere"]) == 1


def test_import_keras_cli(tmp_path: Path, shared_fixtures: Path, capsys: pytest.CaptureFixture[str]) -> None:
    h5 = shared_fixtures / "keras_glavitu" / "glavitu_global_random_weights.h5"
    out = tmp_path / "global.safetensors"
    assert main(["import-keras", str(h5), str(out)]) == 0
    from glacierlab.models import load_checkpoint

    ck = load_checkpoint(out)
    assert ck.variant == "glavitu" and list(ck.bands) == ["optical", "dem"]
    assert main(["import-keras", str(h5), str(out)]) == 2
    assert "overwrite" in capsys.readouterr().err
