"""Held-out comparison of a trained model with the baselines, stored in the checkpoint, read by choose_checkpoint."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from glacierlab.contract.comparison import ALL_GLACIER, FOREST, MODEL, SHIPPED, HeldOutComparison, MethodScore
from glacierlab.contract.split import SpatialSplit
from glacierlab.errors import InputError
from glacierlab.inference.compat import checkpoint_choice_reason, choose_checkpoint
from glacierlab.models.header import header_of
from glacierlab.settings import TRAINED_CHECKPOINT
from glacierlab.training import train_scene
from glacierlab.training.heldout import compare_heldout, record_comparison
from glacierlab.weights import shipped_checkpoint_path


def _comparison(model_iou: float, baseline_iou: float = 0.651) -> HeldOutComparison:
    return HeldOutComparison(
        "everest",
        128000,
        baseline_iou,
        (
            MethodScore(MODEL, model_iou, 0.7, 0.9, 0.8),
            MethodScore(ALL_GLACIER, baseline_iou, baseline_iou, 1.0, 1.0),
            MethodScore(FOREST, 0.71, 0.8, 0.85, 0.7, "fitted on the training blocks"),
        ),
    )


def test_compare_heldout_scores_the_model_next_to_the_baselines_on_its_test_blocks(stack, tmp_path) -> None:
    result = train_scene(
        "synthetic",
        "global",
        stack=stack,
        window=32,
        block_size=64,
        buffer=16,
        samples_per_epoch=8,
        variant="glavitu_tiny",
        epochs=1,
        batch_size=4,
        device="cpu",
        progress=False,
        out_dir=str(tmp_path),
        name="model",
    )
    cmp = compare_heldout(result.best_path, stack, forest_pixels=3000)
    assert [s.method for s in cmp.scores] == [MODEL, ALL_GLACIER, FOREST]
    # independently: "everything is glacier" scores the glacier share of the labelled test pixels
    split = SpatialSplit.from_dict(header_of(result.best_path)["extra"]["spatial_split"])
    ref = stack["reference"].values[split.mask("test")]
    labelled = ref[ref != 255]
    assert cmp.test_pixels == labelled.size and cmp.glacier_share == pytest.approx((labelled == 1).mean())
    assert cmp.baseline.iou == pytest.approx((labelled == 1).mean()) and cmp.baseline.recall == 1.0
    assert cmp.row_for(FOREST).iou > cmp.baseline.iou + 0.1  # bright glaciers: the forest separates them
    assert cmp.row_for(SHIPPED) is None  # synthetic values the shipped model refuses: no row, no wrong score
    assert cmp.beats_baseline == (cmp.model.iou - cmp.baseline.iou >= 0.025)
    assert cmp.best.iou == max(s.iou for s in cmp.scores)
    table = cmp.table()
    assert list(table["method"]) == [MODEL, ALL_GLACIER, FOREST] and len(table.columns) == 7
    record_comparison(result.best_path, cmp)
    assert HeldOutComparison.from_dict(header_of(result.best_path)["extra"]["heldout"]) == cmp


def test_sentence_and_html_flag_a_model_that_does_not_beat_everything_is_glacier() -> None:
    bad, good = _comparison(0.653), _comparison(0.70)
    assert not bad.beats_baseline and good.beats_baseline
    assert "does not beat 'everything is glacier' (0.651)" in bad.sentence() and "#d00000" in bad.html()
    assert "the best is random forest (glacier IoU 0.710)" in bad.sentence()
    assert "beats 'everything is glacier' (0.651) by 0.049" in good.sentence() and "#d00000" not in good.html()
    # the forest (0.71) is only 0.01 ahead: green; a model 0.03 behind it is shown orange, the forest named
    assert "#1a7f37" in good.html() and "maps these test blocks better" not in good.sentence()
    behind = _comparison(0.68)
    assert "#b35900" in behind.html() and "(random forest maps these test blocks better by 0.030)" in behind.sentence()
    assert bad.table()["vs everything is glacier"].tolist() == ["+0.002", "+0.000", "+0.059"]


def test_a_malformed_record_is_refused_with_what_it_needs() -> None:
    with pytest.raises(InputError, match="expected region, test_pixels"):
        HeldOutComparison.from_dict({"region": "everest", "scores": []})
    d = _comparison(0.7).to_dict()
    d["scores"] = d["scores"][1:]
    with pytest.raises(InputError, match="must start with 'your model'"):
        HeldOutComparison.from_dict(d)


def test_choose_checkpoint_skips_a_trained_model_that_does_not_beat_the_baseline(
    tiny_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GLACIERLAB_WORKSPACE", str(tmp_path))
    shipped = shipped_checkpoint_path()
    assert choose_checkpoint("") == shipped
    assert "no model trained in this workspace yet" in checkpoint_choice_reason("")
    trained = tmp_path / TRAINED_CHECKPOINT
    trained.parent.mkdir(parents=True)
    shutil.copy(tiny_checkpoint, trained)
    assert choose_checkpoint("") == trained  # not scored (an older run): used as before
    assert "not scored on its held-out blocks" in checkpoint_choice_reason("")
    record_comparison(trained, _comparison(0.653))
    assert choose_checkpoint("") == shipped
    reason = checkpoint_choice_reason("")
    assert reason.startswith("Using the shipped Everest model") and "(glacier IoU 0.653 vs 0.651)" in reason
    assert choose_checkpoint(str(trained)) == trained  # an explicit choice is always honoured
    record_comparison(trained, _comparison(0.70))
    assert choose_checkpoint("") == trained
    assert "beats 'everything is glacier' by 0.049" in checkpoint_choice_reason("")
    assert np.isclose(_comparison(0.70).gain, 0.049)
