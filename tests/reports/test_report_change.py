"""Change over time in reports: model dates, reference source dates, outline series with uncertainty."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from glacierlab.analysis.series import Z95, outline_series, series_areas, series_changes
from glacierlab.analysis.timeline import (
    change_statement,
    model_change,
    reference_date_groups,
    source_dates,
    unmapped_scenes,
)
from glacierlab.outlines.area_error import AreaErrorModel, area_table


def test_model_change_counts_gained_lost_stable_on_common_pixels() -> None:
    zones = np.zeros((10, 10), np.int32)
    zones[:, :5], zones[:, 5:] = 1, 2
    p_a = np.full((10, 10), 0.9)
    p_b = p_a.copy()
    p_b[:2, :5] = 0.1  # 10 px of glacier 1 lost
    p_b[:, 5:] = 0.95
    p_a[:3, 5:] = 0.2  # 15 px of glacier 2 gained
    p_b[9, :] = np.nan  # not seen on date B
    model = AreaErrorModel(2.0)
    t = model_change(zones, ["g1", "g2"], p_a, p_b, model, 1.0)
    assert list(t.index) == ["g1", "g2", "all glaciers"]
    assert t.loc["g1", ["lost_km2", "gained_km2"]].tolist() == [10, 0]
    assert t.loc["g2", ["gained_km2", "lost_km2", "stable_km2"]].tolist() == [15, 0, 30]
    assert t.loc["g1", "covered"] == pytest.approx(0.9)
    common = np.isfinite(p_b)
    assert t.loc["g1", "area_a_km2"] == pytest.approx(p_a[common & (zones == 1)].sum())
    assert t.loc["all glaciers", "change_km2"] == pytest.approx((p_b[common] - p_a[common]).sum())
    # each date's sigma is the area table's; the change's adds them in quadrature
    sd_a = area_table(np.where(common, p_a, np.nan), zones, ["g1", "g2"], model, 1.0).loc["g1", "sd_km2"]
    assert t.loc["g1", "sd_a_km2"] == pytest.approx(sd_a)
    assert t.loc["g1", "change_sd_km2"] == pytest.approx(np.hypot(t.loc["g1", "sd_a_km2"], t.loc["g1", "sd_b_km2"]))
    exceeds = (t["change_km2"].abs() > Z95 * t["change_sd_km2"]).to_numpy()
    np.testing.assert_array_equal(t["exceeds_uncertainty"].to_numpy(), exceeds)


def test_change_statement_is_plain_about_what_is_established() -> None:
    row = pd.Series({"change_km2": 3.0, "change_sd_km2": 1.0, "covered": 0.4, "exceeds_uncertainty": True})
    assert "exceeds the uncertainty" in change_statement(row, "2000", "2020")
    text = change_statement(row, "2000", "2020", ["nir missing"], validated=False)
    assert "no change is established" in text and "nir missing" in text and "40 %" in text
    small = row.copy()
    small["exceeds_uncertainty"] = False
    assert "does **not** exceed" in change_statement(small, "2000", "2020")


def test_source_dates_read_rgi_and_glims_conventions() -> None:
    inv = gpd.GeoDataFrame(
        {"RGIId": ["a", "b", "c", "d"], "BgnDate": ["20001030", "20029999", "-9999999", "20100499"]},
        geometry=gpd.points_from_xy([0, 1, 2, 3], [0, 0, 0, 0]),
        crs=4326,
    )
    assert source_dates(inv, "RGIId").to_dict() == {"a": "2000-10-30", "b": "2002", "c": "unknown", "d": "2010-04"}
    glims = inv.drop(columns="BgnDate").assign(src_date=["2003-08-17T00:00:00"] * 4)
    assert set(source_dates(glims, "RGIId")) == {"2003-08-17"}


def test_reference_date_groups_compare_each_group_with_the_model() -> None:
    import shapely

    zones = np.zeros((4, 8), np.int32)
    zones[:, :4], zones[:, 4:] = 1, 2
    ref = np.zeros((4, 8), np.uint8)
    ref[:, :4] = 1
    ref[:, 4:6] = 1
    p = np.where(ref == 1, 0.8, 0.1)
    inv = gpd.GeoDataFrame(
        {"RGIId": ["x", "y"], "BgnDate": ["20001030", "20100409"]},
        geometry=[shapely.Point(0, 0), shapely.Point(1, 1)],
        crs=4326,
    )
    g = reference_date_groups(inv, "RGIId", zones, ["x", "y"], p, ref, AreaErrorModel(1.0), 1.0)
    assert list(g.index) == ["2000-10-30", "2010-04-09"]
    assert g.loc["2000-10-30", "reference_km2"] == 16 and g.loc["2010-04-09", "reference_km2"] == 8
    assert g.loc["2010-04-09", "model_expected_km2"] == pytest.approx(8 * 0.8 + 8 * 0.1)
    assert g.loc["2000-10-30", "iou"] == 1.0


def test_hochalmkees_series_uses_the_measured_analyst_spread(shared_data: Path) -> None:
    from glacierlab.outlines.expert import analyst_pairs

    ext = outline_series("hochalmkees")
    assert len(ext) == 11 and ext[0].date.year == 1850 and ext[-1].date.year == 2016
    frame = gpd.GeoDataFrame(
        pd.concat([e.outlines.assign(a=e.label, date=e.date) for e in ext], ignore_index=True), crs=ext[0].outlines.crs
    )
    pairs = analyst_pairs(frame, analysis_col="a", date_col="date")
    assert len(pairs) == 2  # the 2003 and the 2016 analyst pairs
    expected = np.sqrt(np.mean(pairs["rel_spread"] ** 2) / 2)
    assert all(e.sd_rel == pytest.approx(expected) for e in ext)
    areas = series_areas(ext)
    np.testing.assert_allclose(areas["sd_km2"], expected * areas["area_km2"], rtol=1e-9)
    ch = series_changes(ext)
    assert len(ch) == len(ext)  # consecutive pairs plus first -> last
    np.testing.assert_allclose(ch["area_to_km2"] - ch["area_from_km2"], ch["gained_km2"] - ch["lost_km2"], atol=1e-9)
    first_last = ch.iloc[-1]
    assert first_last["from"].startswith("GLIMS 1850") and first_last["change_km2"] < -2
    assert bool(first_last["exceeds_uncertainty"])
    same_day = ch[ch["from"].str[6:13] == ch["to"].str[6:13]]  # two analysts of (nearly) one date
    assert len(same_day) == 2 and not same_day["exceeds_uncertainty"].any()


def test_aletsch_series_from_reconstructed_surfaces(shared_data: Path) -> None:
    ext = outline_series("aletsch")
    years = [e.date.year for e in ext]
    assert years == sorted(years) and {1880, 1926, 1957, 1980, 1999, 2009, 2017} <= set(years)
    igm = [e for e in ext if e.label.startswith("IGM")]
    assert all(e.pos_sd_m == pytest.approx(100 / np.sqrt(12)) for e in igm)  # the source's own 100 m cells
    assert len({e.grid for e in igm}) == 1  # one grid: correlated errors where boundaries coincide
    areas = series_areas(ext).set_index("outline")
    assert 70 < areas.loc["IGM surface 2017", "area_km2"] < areas.loc["IGM surface 1880", "area_km2"] < 120
    assert (areas["sd_km2"] / areas["area_km2"]).between(0.03, 0.09).all()  # ~5 % as the literature gives
    assert list(areas["recorded"]) == ["1880", "1926", "1957", "1980", "1999", "2003", "2009", "2017"]


def test_aletsch_retreat_since_1880_is_established_and_source_artefacts_are_flagged(shared_data: Path) -> None:
    ch = series_changes(outline_series("aletsch")).set_index(["from_date", "to_date"])
    span = ch.loc[("1880", "2017")]
    # the retreat exceeds its 95 % uncertainty with and without the cells where a surface lies below the bed
    assert span["change_km2"] < -9 and abs(span["change_km2"]) > Z95 * span["change_sd_km2"]
    assert span["change_consistent_km2"] < -9 and bool(span["established"])
    assert 50 < span["differing_boundary_km"] < 200  # only the boundary that moved carries error
    # the 2003 RGI mask between the IGM surfaces is a source change, never an ice change
    for step in [("1999", "2003"), ("2003", "2009")]:
        assert bool(ch.loc[step, "source_change"]) and not bool(ch.loc[step, "established"])
        assert "source changes" in ch.loc[step, "note"]
    # most of the 1880 -> 1926 "gain" lies where the 1880 surface is below the bed: a source error
    first = ch.loc[("1880", "1926")]
    assert first["gained_km2"] > 4 and first["inconsistent_km2"] > 3
    assert "1880 surface is below the bed" in first["note"] and not bool(first["established"])


def test_scenes_the_dn8_model_cannot_map_are_listed_with_the_reason(shared_data: Path) -> None:
    from glacierlab.weights import shipped_checkpoint_path

    scenes = unmapped_scenes("aletsch", shipped_checkpoint_path())
    ids = [m.scene for m in scenes]
    # only the clips whose imagery covers Aletsch, once each (both are also catalogued under swiss_alps);
    # not the other 26 Swiss clips, up to 100 km away, that share the swiss_alps region's bbox
    assert sorted(ids) == ["G007930E46472N", "G008051E46566N"]
    assert all("8-bit" in m.refused and "top-of-atmosphere" in m.refused for m in scenes)
