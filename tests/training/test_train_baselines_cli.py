import numpy as np
import pytest

from glacierlab.contract.split import make_spatial_split
from glacierlab.metrics import confusion_counts
from glacierlab.training import train_main
from glacierlab.training.baselines import (
    fit_random_forest,
    fit_ratio_threshold,
    pixel_features,
    predict_random_forest,
    ratio_features,
)
from glacierlab.training.scene_dataset import scene_from_stack


@pytest.fixture(scope="module")
def scene_split(stack):
    split = make_spatial_split(stack["reference"].shape, 64, 32)
    return scene_from_stack(stack, stats_mask=split.mask("train")), split


def test_random_forest_and_ratio_threshold_beat_chance_on_held_out_blocks(scene_split) -> None:
    scene, split = scene_split
    train, test = split.mask("train"), split.mask("test") & (scene.reference != 255)
    feats, names = pixel_features(scene.inputs, scene.bands)
    assert feats.shape == (4 + 2 + 2, 192, 192) and names[0] == "optical:nir" and "nir_red" in names
    assert set(ratio_features(scene.inputs, scene.bands)) == {"brightness", "nir_red"}  # no SWIR: no NDSI
    rf = fit_random_forest(scene.inputs, scene.bands, scene.reference, train, n_pixels=3000, n_estimators=20)
    rf_c = confusion_counts(predict_random_forest(rf, scene.inputs, scene.bands), scene.reference == 1, test)
    ratio = fit_ratio_threshold(scene.inputs, scene.bands, scene.reference, train)
    assert ratio.feature in ("brightness", "nir_red") and ratio.above
    r_c = confusion_counts(ratio.predict(scene.inputs, scene.bands), scene.reference == 1, test)
    all_glacier = confusion_counts(np.ones_like(test), scene.reference == 1, test)
    assert all_glacier.background_iou == 0 and all_glacier.mean_iou < 0.5
    assert rf_c.mean_iou > 0.9 and r_c.mean_iou > 0.9, (rf_c.as_dict(), r_c.as_dict())


def test_cli_help_lists_options(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        train_main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for opt in (
        "--strategy",
        "--region",
        "--variant",
        "--epochs",
        "--window",
        "--batch-size",
        "--lr",
        "--out",
        "--seed",
        "--resume",
    ):
        assert opt in out
