"""The regional analysis without a kernel: frozen parameters in, a frozen typed result out, on real data.

Outline-only regions (hochalmkees, aletsch) and the Everest window with the shipped model, as
``glacierlab report`` runs them; the numbers here are the ones the report renders.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from glacierlab.analysis import RunParams, run_analysis
from glacierlab.analysis.result import AnalysisResult

EVEREST_BBOX = (86.85, 27.95, 86.95, 28.02)  # the window of the papermill report test (conftest)


def test_params_and_result_are_frozen_and_a_notebook_bbox_list_becomes_a_tuple() -> None:
    params = RunParams("everest", bbox=[86.85, 27.95, 86.95, 28.02])  # type: ignore[arg-type]
    assert params.bbox == (86.85, 27.95, 86.95, 28.02)
    assert params.predict == {"tta": False, "batch_size": 16}
    assert RunParams("x", window=256).predict["window"] == 256
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.region = "aletsch"  # type: ignore[misc]
    assert all(f.name != "failures" or f.default == () for f in dataclasses.fields(AnalysisResult))


def test_hochalmkees_outline_only_analysis(shared_data: Path) -> None:
    res = run_analysis(RunParams("hochalmkees"))
    assert res.failures == ()
    assert res.inputs.stack is None and res.model_map is None and res.areas is None and res.glaciers is None
    assert res.series is not None and len(res.series.extents) == 11
    first_last = res.series.changes.iloc[-1]
    assert first_last["from"].startswith("GLIMS 1850") and first_last["change_km2"] < -2
    assert bool(first_last["established"])
    assert res.summary["change"].startswith("1850 → 2016") and "(outlines; established" in res.summary["change"]
    assert "outline GLIMS 2016" in res.summary["area"]
    assert {e.source for e in res.series.extents} <= set(res.sources)


def test_aletsch_analysis_establishes_the_retreat_and_flags_the_source_change(shared_data: Path) -> None:
    res = run_analysis(RunParams("aletsch", level=0.95))
    assert res.failures == () and res.model_map is None and res.series is not None
    ch = res.series.changes.set_index(["from_date", "to_date"])
    span = ch.loc[("1880", "2017")]
    assert span["change_km2"] < -9 and bool(span["established"])
    assert bool(ch.loc[("1999", "2003"), "source_change"]) and not bool(ch.loc[("1999", "2003"), "established"])
    assert res.summary["change"].startswith("1880 → 2017") and "established" in res.summary["change"]
    assert "NOT" not in res.summary["change"]
    # outline-only: the model refuses the area's 8-bit TOA clips, each with the reason
    assert {m.scene for m in res.other_dates} == {"G007930E46472N", "G008051E46566N"}
    assert all("top-of-atmosphere" in m.refused for m in res.other_dates)


def test_a_failing_step_is_recorded_and_the_others_still_run(shared_data: Path, monkeypatch) -> None:
    from glacierlab.analysis import series

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(series, "outline_series", broken)
    res = run_analysis(RunParams("aletsch"))
    assert [(f.step, f.message) for f in res.failures] == [("outline series", "OSError: disk on fire")]
    assert res.series is None and len(res.other_dates) == 2  # the other steps ran


def test_an_analysis_with_nothing_to_report_raises_the_cause(shared_data: Path, monkeypatch) -> None:
    from glacierlab.analysis import pipeline, series
    from glacierlab.errors import DataNotFoundError

    def missing(*args: object, **kwargs: object) -> None:
        raise DataNotFoundError("outline file x missing")

    monkeypatch.setattr(series, "outline_series", missing)
    monkeypatch.setattr(pipeline, "map_other_dates", missing)
    with pytest.raises(DataNotFoundError, match="outline file x missing"):
        run_analysis(RunParams("aletsch"))


@pytest.fixture(scope="module")
def everest(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> tuple[AnalysisResult, Path]:
    out = tmp_path_factory.mktemp("everest_analysis")
    return run_analysis(RunParams("everest", bbox=EVEREST_BBOX, out_dir=str(out))), out


def test_everest_area_per_glacier_and_other_dates_with_the_shipped_model(everest) -> None:
    res, out = everest
    assert res.failures == ()
    assert res.inputs.checkpoint is not None and res.inputs.checkpoint.name == "glavitu_lite_everest.safetensors"
    mm, ar, g = res.model_map, res.areas, res.glaciers
    assert mm is not None and ar is not None and g is not None and not mm.resumed
    assert mm.scores is not None and 0.5 < mm.scores["iou"] <= 1
    ra = ar.region_area
    assert ra is not None and ra["low_km2"] < ra["expected_km2"] < ra["high_km2"]
    assert ar.reference_km2 is not None and 0.5 < ra["expected_km2"] / ar.reference_km2 < 1.5
    assert ar.check is not None and set(ar.check.at(0.95)["coverage"].between(0, 1)) == {True}
    assert g.areas is not None and len(g.judged) > 5 and g.date_groups is not None and len(g.date_groups) >= 2
    # the area headline is the model's interval; the change headline carries its caveats
    assert res.summary["area"].startswith(f"{ra['expected_km2']:.1f} [")
    assert "(model, 2000-10-30)" in res.summary["area"]
    assert "NOT established" in res.summary["change"] and "% of the glacier zones" in res.summary["change"]
    mapped = [m for m in res.other_dates if m.change is not None]
    assert [m.date for m in mapped] == ["2020-04-07"] and mapped[0].caveats  # another sensor and season
    assert mapped[0].outlines is not None and len(mapped[0].outlines) > 0
    assert any("top-of-atmosphere" in m.refused for m in res.other_dates)
    assert "everest_rgi60_outlines" in res.sources
    assert (out / "analysis" / "2000-10-30_probability.tif").is_file()


@pytest.mark.slow
def test_everest_model_map_resumes_from_the_run_folder(everest) -> None:
    res, out = everest
    sidecars = {f.name: f.stat().st_mtime_ns for f in (out / "analysis").glob("*_map.json")}
    assert len(sidecars) == 2  # the main scene and the 2020 date
    again = run_analysis(RunParams("everest", bbox=EVEREST_BBOX, out_dir=str(out)))
    assert {f.name: f.stat().st_mtime_ns for f in (out / "analysis").glob("*_map.json")} == sidecars  # not redone
    assert again.model_map is not None and again.model_map.resumed and again.failures == ()
    assert res.model_map is not None
    np.testing.assert_array_equal(again.model_map.p, res.model_map.p)
    assert again.summary == res.summary and len(again.other_dates) == len(res.other_dates)
    # files another checkpoint, other options or another scene made are never read back
    from glacierlab.analysis.pipeline import _resume

    folder, stack = out / "analysis", res.inputs.stack
    assert stack is not None
    key = json.loads((folder / "2000-10-30_map.json").read_text())
    key.pop("attrs")
    assert _resume(folder, "2000-10-30_", key, stack) is not None
    for field, other in [("checkpoint", "0" * 64), ("predict", {"tta": True, "batch_size": 16}), ("scene", "x")]:
        assert _resume(folder, "2000-10-30_", {**key, field: other}, stack) is None
