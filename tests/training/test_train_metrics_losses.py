import math

import numpy as np
import pytest
import torch

from glacierlab.errors import InputError
from glacierlab.metrics import ConfusionCounts, confusion_counts, per_patch_iou
from glacierlab.training.losses import focal_loss, reference_to_onehot, smooth_labels, total_loss


def test_confusion_counts_and_scores() -> None:
    pred = np.array([[1, 1, 0], [0, 1, 0]])
    ref = np.array([[1, 0, 0], [1, 1, 0]])
    c = confusion_counts(pred, ref)
    assert (c.tp, c.fp, c.fn, c.tn) == (2, 1, 1, 2)
    assert c.iou == pytest.approx(2 / 4)
    assert c.background_iou == pytest.approx(2 / 4)
    assert c.precision == pytest.approx(2 / 3) and c.recall == pytest.approx(2 / 3)
    assert c.f1 == pytest.approx(2 / 3)
    valid = np.array([[True, False, True], [True, True, True]])
    assert confusion_counts(pred, ref, valid) == ConfusionCounts(2, 0, 1, 2)
    assert (c + c).tp == 4 and math.isnan(ConfusionCounts(0, 0, 0, 5).iou)
    with pytest.raises(InputError):
        confusion_counts(pred, ref[:1])


def test_per_patch_iou_empty_patch_scores_one() -> None:
    pred = np.zeros((2, 4, 4), bool)
    ref = np.zeros((2, 4, 4), bool)
    pred[1, :2] = True
    ref[1, :1] = True
    np.testing.assert_allclose(per_patch_iou(pred, ref), [1.0, 0.5])


def test_focal_loss_matches_hand_computation() -> None:
    logits = torch.tensor([[[[2.0, 0.0]], [[0.0, 1.0]]]])  # (1, 2, 1, 2): two pixels
    target = torch.tensor([[[[1.0, 0.0]], [[0.0, 0.0]]]])  # pixel 0 ice-free, pixel 1 no data
    p0 = math.exp(2) / (math.exp(2) + 1)  # softmax prob of class 0 at pixel 0
    expected = (-((1 - p0) ** 2) * math.log(p0) + 0.0) / 2  # mean over 2 pixels, no-data adds 0
    assert float(focal_loss(logits, target)) == pytest.approx(expected, rel=1e-5)
    # gamma 0 is cross-entropy; soft labels weight both classes.
    soft = torch.tensor([[[[0.9, 0.5]], [[0.1, 0.5]]]])
    p = torch.softmax(logits, 1)
    ce = -(soft * p.log()).sum(1).mean()
    assert float(focal_loss(logits, soft, gamma=0.0)) == pytest.approx(float(ce), rel=1e-6)


def test_total_loss_adds_half_deep_supervision() -> None:
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(2, 2, 4, 4, generator=g), torch.randn(2, 2, 4, 4, generator=g)
    t = torch.from_numpy(reference_to_onehot(np.random.default_rng(0).integers(0, 2, (4, 4)))).expand(
        2, 2, 4, 4
    )
    assert float(total_loss(a, b, t)) == pytest.approx(
        float(focal_loss(a, t) + 0.5 * focal_loss(b, t)), rel=1e-6
    )
    assert float(total_loss(a, None, t)) == pytest.approx(float(focal_loss(a, t)))


def test_onehot_and_smoothing_keep_nodata_zero() -> None:
    oh = reference_to_onehot(np.array([[0, 1, 255]], np.uint8))
    np.testing.assert_array_equal(oh[:, 0], [[1, 0, 0], [0, 1, 0]])
    sm = smooth_labels(oh, 0.1)
    np.testing.assert_allclose(sm[:, 0], [[0.95, 0.05, 0.0], [0.05, 0.95, 0.0]])
    with pytest.raises(InputError):
        reference_to_onehot(np.array([[2]], np.uint8))
