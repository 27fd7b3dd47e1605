"""Loss and metric formulas on 3x3 hand-made masks with known overlap."""

import numpy as np
import pytest

from training.metrics import bce_dice_loss, confusion, dice_loss, scores

TRUTH = np.array([[1, 1, 0], [1, 1, 0], [0, 0, 0]], dtype=np.uint8)  # 4 person pixels
PRED = np.array([[1, 1, 1], [1, 0, 0], [0, 0, 0]], dtype=np.float32)  # 3 of them right, 1 wrong


def test_confusion_counts():
    assert confusion(TRUTH, PRED).tolist() == [3, 1, 1, 4]


def test_five_figures_on_known_overlap():
    figures = scores(confusion(TRUTH, PRED))
    assert figures["jaccard"] == pytest.approx(3 / 5)
    assert figures["f1"] == pytest.approx(6 / 8)
    assert figures["precision"] == pytest.approx(3 / 4)
    assert figures["recall"] == pytest.approx(3 / 4)
    assert figures["accuracy"] == pytest.approx(7 / 9)


def test_half_overlap_gives_iou_one_third():
    truth = np.array([[1, 1, 0]], dtype=np.uint8)
    pred = np.array([[0, 1, 1]], dtype=np.float32)
    assert scores(confusion(truth, pred))["jaccard"] == pytest.approx(1 / 3)
    assert scores(confusion(truth, pred))["f1"] == pytest.approx(0.5)


def test_empty_truth_and_prediction_is_perfect():
    figures = scores(confusion(np.zeros((3, 3), np.uint8), np.zeros((3, 3), np.float32)))
    assert figures == {"accuracy": 1.0, "f1": 1.0, "jaccard": 1.0, "recall": 1.0, "precision": 1.0}


def test_dice_loss_and_bce_dice():
    y = TRUTH.astype("float32")[None, :, :, None]
    p = PRED[None, :, :, None]
    assert float(dice_loss(y, y, smooth=0.0)[0]) == pytest.approx(0.0, abs=1e-6)
    assert float(dice_loss(y, p, smooth=0.0)[0]) == pytest.approx(1 - 6 / 8)
    perfect = float(bce_dice_loss(y, np.clip(y, 1e-4, 1 - 1e-4))[0])
    assert perfect < 0.01 < float(bce_dice_loss(y, np.full_like(y, 0.5))[0])
