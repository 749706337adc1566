"""The regional steps the report notebook calls, on real data (the RGI mask stands in for a prediction)."""

import matplotlib
import numpy as np
import pytest
import xarray as xr

from glacierlab.analysis import regional
from glacierlab.data.contents import scene_outlines
from glacierlab.data.stack import stack_region
from glacierlab.errors import InputError

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def everest(shared_data):
    return stack_region("everest")


def _as_prediction(stack: xr.Dataset, mask: np.ndarray) -> xr.Dataset:
    like = stack["reference"]
    return xr.Dataset(
        {
            "mask": like.copy(data=mask.astype(np.uint8)),
            "probability": like.copy(data=mask.astype(np.float32)),
            "confidence": like.copy(data=np.ones(mask.shape, np.float32)),
        }
    )


def test_score_of_reference_against_itself_and_a_shift(everest) -> None:
    ref = everest["reference"].values
    perfect = regional.score_against_reference(_as_prediction(everest, ref), everest)
    assert perfect["iou"] == 1.0 and perfect["mean_iou"] == 1.0
    shifted = regional.score_against_reference(_as_prediction(everest, np.roll(ref, 5, axis=1)), everest)
    assert 0.5 < shifted["iou"] < 0.95
    area = np.zeros(ref.shape, bool)
    area[:100] = True
    assert regional.score_against_reference(_as_prediction(everest, ref), everest, area)["pixels"] == area.sum()
    with pytest.raises(InputError, match="no `reference`"):
        regional.score_against_reference(_as_prediction(everest, ref), everest.drop_vars("reference"))


def test_judge_glaciers_rgi_mask_inside_band(everest) -> None:
    inventory = scene_outlines("everest")
    assert regional.glacier_id_column(inventory) == "RGIId"
    pred = _as_prediction(everest, everest["reference"].values)
    table = regional.judge_glaciers(pred["mask"], inventory)
    assert len(table) == 86
    big = table[table["area_a_km2"] > 1]
    assert big["inside_band"].all(), "the reference rasterised at 30 m must match its own outlines within 5 %"
    eroded = _as_prediction(everest, np.pad(everest["reference"].values[3:-3, 3:-3], 3))
    shrunk = regional.judge_glaciers(eroded["mask"], inventory)
    assert shrunk["area_b_km2"].sum() < table["area_b_km2"].sum()


def test_outline_history_and_region_kinds(shared_data) -> None:
    assert regional.has_optical("everest") and not regional.has_optical("hochalmkees")
    table = regional.outline_history("hochalmkees")
    assert len(table) == 11 and table["area_km2"].iloc[0] == pytest.approx(4.69, abs=0.01)
    assert regional.outline_history("everest") is None


def test_prediction_figure_has_four_panels(everest) -> None:
    from glacierlab.reports.plot import prediction_figure

    fig = prediction_figure(everest, _as_prediction(everest, everest["reference"].values), "t")
    assert len(fig.axes) >= 4


def test_the_report_model_is_chosen_by_compat_with_the_reason_when_none_fits(everest) -> None:
    from glacierlab.inference.compat import checkpoint_for
    from glacierlab.weights import shipped_checkpoint_path

    path, why = checkpoint_for(everest)
    assert path == shipped_checkpoint_path() and why == ""
    assert checkpoint_for(None) == (None, "this scene has no optical imagery for a model to map.")
    rgb = everest.sel(optical_band=["blue", "green", "red"])  # the shipped model needs NIR too
    path, why = checkpoint_for(rgb)
    assert path is None and "nir" in why  # a main map never feeds a band as no data
    toa = everest.assign_attrs(product_level="toa")
    path, why = checkpoint_for(toa)
    assert path is None and "8-bit" in why and "plausible" in why


def test_change_figure_has_both_images_and_the_change(everest) -> None:
    from glacierlab.reports.plot import change_figure

    p_a = np.where(everest["reference"].values == 1, 0.9, 0.1)
    p_b = p_a.copy()
    p_b[:50] = np.nan  # not seen on date B
    fig = change_figure(everest, p_a, p_b, None, "2000 Landsat", "2020 Sentinel-2")
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[:2] == ["2000 Landsat", "2020 Sentinel-2"] and "gained" in titles[2]
