"""The loss (binary cross-entropy + Dice), the five figures the seed design reports, and Boundary IoU."""

from __future__ import annotations

import math

import cv2
import keras
import numpy as np
from keras import ops

THRESHOLD = 0.5
BOUNDARY_SHARE = 0.02  # Boundary IoU's band: 2% of the image diagonal (Cheng et al., CVPR 2021)


@keras.saving.register_keras_serializable(package="training")
def dice_loss(y_true, y_pred, smooth: float = 1.0):
    """1 - (2 |P.T| + s) / (|P| + |T| + s), per image on the soft prediction."""
    y_true = ops.cast(y_true, y_pred.dtype)
    axes = list(range(1, len(y_pred.shape)))
    intersection = ops.sum(y_true * y_pred, axis=axes)
    total = ops.sum(y_true, axis=axes) + ops.sum(y_pred, axis=axes)
    return 1.0 - (2.0 * intersection + smooth) / (total + smooth)


@keras.saving.register_keras_serializable(package="training")
def bce_dice_loss(y_true, y_pred):
    """Mean binary cross-entropy per image plus the Dice loss."""
    y_true = ops.cast(y_true, y_pred.dtype)
    return _bce_per_image(y_true, y_pred) + dice_loss(y_true, y_pred)


@keras.saving.register_keras_serializable(package="training")
def bce_person_dice_loss(y_true, y_pred):
    """Mean binary cross-entropy per image plus the Dice loss of the images that hold a person.

    Keras' own `Dice` loss has no such mask, hence this function. On a person-free image the per-image
    Dice loss is 1 - s / (|P| + s): about 1.0 for any real prediction (|P| is a sum of soft
    probabilities over ~100,000 pixels), so its gradient vanishes on the confidently wrong pixels
    that need it and, as |P| nears 0, pushes every uncertain pixel towards background. Person-free
    images are therefore left to the cross-entropy alone.
    """
    y_true = ops.cast(y_true, y_pred.dtype)
    return _bce_per_image(y_true, y_pred) + _has_person(y_true) * dice_loss(y_true, y_pred)


@keras.saving.register_keras_serializable(package="training")
def lovasz_loss(y_true, y_pred):
    """The Lovasz extension of the per-image Jaccard loss on the probabilities (Berman et al., CVPR 2018).

    It is the per-photo IoU that the model is judged on, made differentiable: the pixel errors
    |truth - probability| sorted from the largest, weighted by how much each one, in that order, adds to
    1 - IoU. Neither Keras nor TensorFlow ships it. Dice is a smooth proxy of the same figure; Lovasz
    follows it exactly, so it is the usual loss for the last epochs of fine-tuning on IoU.
    """
    y_true = ops.cast(y_true, y_pred.dtype)
    truth = ops.reshape(y_true, (ops.shape(y_true)[0], -1))
    errors = ops.abs(truth - ops.reshape(y_pred, ops.shape(truth)))
    errors_sorted, order = ops.top_k(errors, k=ops.shape(errors)[1])
    # The weights are a sorted label's Jaccard increments: no gradient flows through the sort's order.
    label = ops.stop_gradient(ops.cast(ops.take_along_axis(truth, order, axis=1) >= 0.5, y_pred.dtype))
    total = ops.sum(label, axis=1, keepdims=True)
    jaccard = 1.0 - (total - ops.cumsum(label, axis=1)) / (total + ops.cumsum(1.0 - label, axis=1))
    increments = ops.concatenate([jaccard[:, :1], jaccard[:, 1:] - jaccard[:, :-1]], axis=1)
    return ops.sum(errors_sorted * increments, axis=1)


@keras.saving.register_keras_serializable(package="training")
def bce_person_lovasz_loss(y_true, y_pred):
    """`bce_person_dice_loss` with the Lovasz loss in place of Dice (person-free images: cross-entropy only)."""
    y_true = ops.cast(y_true, y_pred.dtype)
    return _bce_per_image(y_true, y_pred) + _has_person(y_true) * lovasz_loss(y_true, y_pred)


def _has_person(y_true):
    """1.0 for each image of the batch whose truth marks a person (a pixel at 0.5 or more: a soft label's
    faint levels alone are no person), else 0.0 (in the truth's dtype)."""
    return ops.cast(ops.max(y_true, axis=list(range(1, len(y_true.shape)))) >= 0.5, y_true.dtype)


def _bce_per_image(y_true, y_pred):
    """Binary cross-entropy averaged over each image's pixels."""
    return ops.mean(keras.losses.binary_crossentropy(y_true, y_pred), axis=[1, 2])


LOSSES = {"bce-dice": bce_dice_loss, "bce-person-dice": bce_person_dice_loss,
          "bce-person-lovasz": bce_person_lovasz_loss}


def keras_metrics() -> list[keras.metrics.Metric]:
    """IoU of the person class, precision and recall at the fixed 0.5 threshold."""
    return [
        keras.metrics.BinaryIoU(target_class_ids=[1], threshold=THRESHOLD, name="iou"),
        keras.metrics.Precision(thresholds=THRESHOLD, name="precision"),
        keras.metrics.Recall(thresholds=THRESHOLD, name="recall"),
    ]


def confusion(truth: np.ndarray, probability: np.ndarray) -> np.ndarray:
    """Pixel counts [tp, fp, fn, tn] of a 0/1 truth against a probability map thresholded at 0.5."""
    truth = truth.astype(bool)
    predicted = probability >= THRESHOLD
    tp = int(np.count_nonzero(truth & predicted))
    fp = int(np.count_nonzero(~truth & predicted))
    fn = int(np.count_nonzero(truth & ~predicted))
    return np.array([tp, fp, fn, truth.size - tp - fp - fn], dtype=np.int64)


def scores(counts: np.ndarray) -> dict[str, float]:
    """Accuracy, F1 (Dice), Jaccard (IoU), recall and precision from [tp, fp, fn, tn].

    A ratio whose denominator is 0 (no person in truth nor prediction) counts as a perfect 1.0.
    """
    tp, fp, fn, tn = (float(c) for c in counts)
    ratio = lambda num, den: num / den if den else 1.0
    return {
        "accuracy": ratio(tp + tn, tp + fp + fn + tn),
        "f1": ratio(2 * tp, 2 * tp + fp + fn),
        "jaccard": ratio(tp, tp + fp + fn),
        "recall": ratio(tp, tp + fn),
        "precision": ratio(tp, tp + fp),
    }


def boundary_iou(truth: np.ndarray, probability: np.ndarray, share: float = BOUNDARY_SHARE) -> float:
    """Boundary IoU (Cheng et al., "Boundary IoU", CVPR 2021): |G_d & P_d| / |G_d | P_d|, where M_d is the
    band of mask M's pixels within d = share x the image diagonal of its edge, inside it (M minus M eroded
    by d; the image's border counts as edge, as in the authors' code). It judges the outline, where plain
    IoU is dominated by the interior. The truth is 0/1, the probability thresholded at 0.5; 1.0 when both
    masks are empty."""
    height, width = truth.shape
    d = max(1, round(share * math.hypot(height, width)))
    bands = [_inner_band(mask, d) for mask in (truth.astype(bool), probability >= THRESHOLD)]
    union = np.count_nonzero(bands[0] | bands[1])
    return float(np.count_nonzero(bands[0] & bands[1]) / union) if union else 1.0


def _inner_band(mask: np.ndarray, d: int) -> np.ndarray:
    """The pixels of `mask` (H, W) bool within d pixels of its edge or of the image's border."""
    padded = cv2.copyMakeBorder(mask.astype(np.uint8), 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    eroded = cv2.erode(padded, np.ones((3, 3), np.uint8), iterations=d)[1:-1, 1:-1]
    return mask & ~eroded.astype(bool)
