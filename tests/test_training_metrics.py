"""Loss and metric formulas on 3x3 hand-made masks with known overlap."""

import numpy as np
import pytest

from training import train
from training.metrics import (EDGE_WEIGHT, LOSSES, bce_dice_loss, bce_edge_person_dice_loss, bce_person_dice_loss,
                              bce_person_lovasz_loss, confusion, dice_loss, lovasz_loss, outline_band, scores)

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


def test_person_dice_leaves_person_free_images_to_the_cross_entropy():
    truth = np.stack([TRUTH, np.zeros_like(TRUTH)]).astype("float32")[..., None]  # a person, then none
    pred = np.stack([PRED, np.full_like(PRED, 0.2)])[..., None]
    pred = np.clip(pred, 1e-4, 1 - 1e-4)
    every_image = bce_dice_loss(truth, pred).numpy()
    people_only = bce_person_dice_loss(truth, pred).numpy()
    assert people_only[0] == pytest.approx(every_image[0])  # the person image keeps its Dice term
    bce = -np.log(0.8)  # every pixel of the empty image predicts 0.2
    assert people_only[1] == pytest.approx(bce, rel=1e-4)
    assert every_image[1] > bce + 0.6  # per-image Dice of an empty truth: 1 - 1 / (sum(pred) + 1) = 0.64


def test_lovasz_is_one_minus_iou_on_hard_predictions():
    y = TRUTH.astype("float32")[None, :, :, None]
    assert float(lovasz_loss(y, PRED[None, :, :, None])[0]) == pytest.approx(1 - 3 / 5)  # IoU 3/5
    assert float(lovasz_loss(y, y)[0]) == pytest.approx(0.0, abs=1e-6)
    half = np.array([[1, 1, 0]], dtype=np.float32)[None, :, :, None]
    assert float(lovasz_loss(half, half[:, :, ::-1])[0]) == pytest.approx(1 - 1 / 3)


def test_lovasz_follows_the_worst_pixel_first():
    # One wrong pixel, at two confidences: the loss is its error times its share of 1 - IoU (here all of it).
    y = TRUTH.astype("float32")[None, :, :, None]
    for error in (0.3, 0.9):
        p = y.copy()
        p[0, 2, 2, 0] = error  # a background pixel marked with this probability
        assert float(lovasz_loss(y, p)[0]) == pytest.approx(error * (1 - 4 / 5), rel=1e-5)


def test_person_lovasz_leaves_person_free_images_to_the_cross_entropy():
    truth = np.stack([TRUTH, np.zeros_like(TRUTH)]).astype("float32")[..., None]
    pred = np.clip(np.stack([PRED, np.full_like(PRED, 0.2)])[..., None], 1e-4, 1 - 1e-4)
    losses = bce_person_lovasz_loss(truth, pred).numpy()
    assert losses[1] == pytest.approx(-np.log(0.8), rel=1e-4)
    assert losses[0] == pytest.approx(float(bce_person_dice_loss(truth, pred)[0] - dice_loss(truth, pred)[0])
                                      + float(lovasz_loss(truth, pred)[0]), rel=1e-5)


def test_outline_band_is_the_ring_of_boundary_iou():
    truth = np.zeros((1, 20, 20, 1), np.float32)
    truth[0, 5:15, 5:15, 0] = 1  # d = 1 on a 20 x 20 image: one pixel either side of the outline
    band = outline_band(truth).numpy()[0, :, :, 0]
    ring = np.zeros((20, 20), np.float32)
    ring[4:16, 4:16] = 1
    ring[6:14, 6:14] = 0
    assert np.array_equal(band, ring)
    assert not outline_band(np.zeros_like(truth)).numpy().any()  # no person, no outline


def test_edge_loss_weighs_the_outline_and_nothing_else():
    truth = np.zeros((2, 20, 20, 1), np.float32)
    truth[:, 5:15, 5:15] = 1
    band = outline_band(truth).numpy().astype(bool)
    far_error, edge_error = truth.copy(), truth.copy()
    far_error[0, 0:3, 0:3] = 1  # 9 wrong pixels far from the outline
    ys, xs = np.nonzero(band[0, :, :, 0] & (truth[0, :, :, 0] == 0))
    edge_error[0, ys[:9], xs[:9]] = 1  # 9 wrong pixels just outside it
    clip = lambda p: np.clip(p, 1e-4, 1 - 1e-4)
    plain, edged = bce_person_dice_loss, bce_edge_person_dice_loss
    assert float(edged(truth, clip(far_error))[0]) == pytest.approx(float(plain(truth, clip(far_error))[0]), rel=1e-3)
    extra = float(edged(truth, clip(edge_error))[0] - plain(truth, clip(edge_error))[0])
    wrong = -np.log(1e-4) * 9 / 400  # the 9 pixels' mean cross-entropy over the image
    assert extra == pytest.approx(EDGE_WEIGHT * wrong, rel=0.02)


@pytest.mark.parametrize("options, loss", [([], "bce-person-dice"), (["--loss", "bce-dice"], "bce-dice"),
                                           (["--loss", "bce-person-lovasz"], "bce-person-lovasz"),
                                           (["--loss", "bce-edge-person-dice"], "bce-edge-person-dice")])
def test_loss_option_is_recorded(options, loss):
    config = train.config_from_args(train.parse_args(["--data", "root", "--out", "run", *options]))
    assert config.train.loss == loss and config.train.loss in LOSSES


def test_boundary_iou_on_hand_made_masks():
    from training.metrics import boundary_iou

    truth = np.zeros((10, 10), np.uint8)
    truth[2:8, 2:8] = 1  # 6 x 6: with d = 1 (2% of the diagonal, at least 1) its band is the 20-pixel ring
    assert boundary_iou(truth, truth.astype(np.float32)) == 1.0
    wider = np.zeros((10, 10), np.float32)
    wider[2:8, 2:9] = 0.9  # 6 x 7: a 22-pixel ring, 16 of them on the truth's ring
    assert boundary_iou(truth, wider) == pytest.approx(16 / 26)
    assert boundary_iou(truth, np.zeros((10, 10), np.float32)) == 0.0
    assert boundary_iou(np.zeros((10, 10), np.uint8), np.zeros((10, 10), np.float32)) == 1.0
    # Plain IoU forgives an outline that is off by a few pixels all round; Boundary IoU does not.
    big = np.zeros((200, 200), np.uint8)
    big[20:180, 20:180] = 1
    grown = np.zeros((200, 200), np.float32)
    grown[16:184, 16:184] = 1.0
    plain = big.sum() / grown.sum()
    assert plain > 0.9 and boundary_iou(big, grown) < 0.6
