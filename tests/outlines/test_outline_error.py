"""Area uncertainty of dated outlines and of their change (glacierlab.outlines.outline_error)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely

from glacierlab.analysis.series import recorded_date
from glacierlab.outlines.area_error import z_of
from glacierlab.outlines.outline_error import STAIRCASE, cell_sd_m, change_sd_km2, differing_boundary_m


def test_cell_error_is_the_uniform_half_cell_buffer() -> None:
    assert cell_sd_m(100.0) == pytest.approx(28.8675, rel=1e-4)
    with pytest.raises(ValueError, match="cell_m must be > 0"):
        cell_sd_m(0.0)


def test_change_error_comes_from_the_boundary_that_moved_on_one_grid() -> None:
    a = shapely.box(0, 0, 2000, 1000)
    b = shapely.box(0, 0, 1500, 1000)  # the tongue retreats 500 m; three sides coincide on the grid
    pos = cell_sd_m(100.0)
    sd, km = change_sd_km2(a, b, sd_a_km2=9.0, sd_b_km2=9.0, pos_sd_a_m=pos, pos_sd_b_m=pos, one_grid=True, cell_m=100)
    # a's front (1000 m) and b's front (1000 m) differ; the shared sides (2 x 1500 m) cancel
    la = differing_boundary_m(a, b, 1.0, gridded=True)
    assert la == pytest.approx((1000 + 2 * 500) * STAIRCASE, abs=2.0)  # within the 1 m tolerance
    assert sd == pytest.approx(np.hypot(2000 * STAIRCASE * pos, 1000 * STAIRCASE * pos) / 1e6, rel=3e-3)
    assert km == pytest.approx(3000 * STAIRCASE / 2e3, rel=3e-3)
    same, _ = change_sd_km2(a, a, sd_a_km2=9.0, sd_b_km2=9.0, pos_sd_a_m=pos, pos_sd_b_m=pos, one_grid=True, cell_m=100)
    assert same == 0.0  # the same outline twice: no change, no change error
    indep, km2 = change_sd_km2(a, b, sd_a_km2=3.0, sd_b_km2=4.0, pos_sd_a_m=pos, pos_sd_b_m=pos, one_grid=False)
    assert indep == pytest.approx(5.0) and np.isnan(km2)  # different grids: whole errors, independent


def test_dates_keep_the_precision_they_were_recorded_at() -> None:
    scenes = ["1850", "1969", "2003-08-17", "1880/2017"]
    assert recorded_date(pd.Timestamp("1850-01-01"), scenes) == "1850"
    assert recorded_date(pd.Timestamp("1969-06-30"), scenes) == "1969"
    assert recorded_date(pd.Timestamp("2003-08-17"), scenes) == "2003-08-17"
    assert recorded_date(pd.Timestamp("2011-08-14"), scenes) == "2011-08-14"


def test_one_level_gives_one_z() -> None:
    assert z_of(0.95) == pytest.approx(1.96, abs=1e-3)
    assert z_of(0.9) == pytest.approx(1.645, abs=1e-3)
