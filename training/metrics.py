"""The loss (binary cross-entropy + Dice), the five figures the seed design reports, and Boundary IoU."""

from __future__ import annotations

import math

import cv2
import keras
import numpy as np
from keras import ops

THRESHOLD = 0.5
BOUNDARY_SHARE = 0.02  # Boundary IoU's band: 2% of the image diagonal (Cheng et al., CVPR 2021)
KNOWN = 2  # a two-output truth's channels: the outputs' truths (subject, everyone), then where each is known
# Half-sure alpha: between these levels, farther than BOUNDARY_SHARE of the diagonal from the label's outline
# (a ghost of a flag or a crowd, not hair or a real soft edge).
HALF_SURE = (0.1, 0.9)
# The outline loss's weight: a pixel within Boundary IoU's band of the label's outline counts 1 + EDGE_WEIGHT
# times in the cross-entropy (`outline_band`).
EDGE_WEIGHT = 4.0


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
    """Mean binary cross-entropy per image plus the Dice loss, per output (`each_output`)."""
    return each_output(y_true, y_pred, dice_loss, person_only=False)


@keras.saving.register_keras_serializable(package="training")
def bce_person_dice_loss(y_true, y_pred):
    """Mean binary cross-entropy per image plus the Dice loss of the images that hold a person, per output.

    Keras' own `Dice` loss has no such mask, hence this function. On a person-free image the per-image
    Dice loss is 1 - s / (|P| + s): about 1.0 for any real prediction (|P| is a sum of soft
    probabilities over ~100,000 pixels), so its gradient vanishes on the confidently wrong pixels
    that need it and, as |P| nears 0, pushes every uncertain pixel towards background. Person-free
    images are therefore left to the cross-entropy alone.
    """
    return each_output(y_true, y_pred, dice_loss, person_only=True)


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
    return each_output(y_true, y_pred, lovasz_loss, person_only=True)


@keras.saving.register_keras_serializable(package="training")
def bce_edge_person_dice_loss(y_true, y_pred):
    """`bce_person_dice_loss` with the pixels near the label's outline weighing 1 + EDGE_WEIGHT in the
    cross-entropy (`outline_band`).

    Boundary IoU judges only that band, while the per-image cross-entropy and Dice see it as a few percent
    of the photo's pixels: a network that draws every outline a few pixels wide loses little loss and much
    Boundary IoU. Weighting the band (as U-Net's weight map weighs the borders between cells, Ronneberger et
    al., MICCAI 2015) makes the outline's few pixels cost more of what they cost in that figure.
    """
    return each_output(y_true, y_pred, dice_loss, person_only=True, edge=EDGE_WEIGHT)


def outline_band(truth, share: float = BOUNDARY_SHARE):
    """1.0 on the pixels within d of the label's outline (either side), else 0.0: d is Boundary IoU's
    (`band_width`), the label read at 0.5. A morphological gradient
    (max-pool dilation minus erosion), so it runs inside the loss on any backend; the square window is pooled
    as a column then a row, the same result at a seventh of the cost at d = 7 (a 256 x 256 crop)."""
    height, width = truth.shape[1], truth.shape[2]
    d = band_width(height, width, share)
    person = ops.cast(truth >= 0.5, truth.dtype)
    window = 2 * d + 1

    def dilate(x):
        x = ops.max_pool(x, pool_size=(window, 1), strides=1, padding="same")
        return ops.max_pool(x, pool_size=(1, window), strides=1, padding="same")

    return dilate(person) + dilate(-person)  # dilation minus erosion: erosion is -dilate(-person)


def each_output(y_true, y_pred, region, person_only: bool, edge: float = 0.0):
    """The loss summed over the network's outputs, each on the pixels its label knows.

    One output: y_true (B, H, W, 1), every pixel known. Two outputs (subject, everyone): y_true (B, H, W, 4)
    holds each output's truth, then where it is known (1) or unknown (0): a label of the subject says
    nothing of the unlabelled people for the everyone output, nor one of every pedestrian of a street who
    the subject is (`training.targets`). Per output: the cross-entropy over the known pixels (averaged over
    all pixels, so a partly known image weighs less), plus `region` (Dice, Lovasz) on the known pixels, on
    the images whose known truth holds a person where `person_only`. An unknown pixel is 0 in truth and
    prediction alike: no error, no gradient, and it sorts last in Lovasz's order. With `edge`, a known pixel
    near the truth's outline (`outline_band`) weighs 1 + edge in the cross-entropy.
    """
    y_true = ops.cast(y_true, y_pred.dtype)
    if y_true.shape[-1] == 1:
        pairs = [(y_true, ops.ones_like(y_true), y_pred[..., :1])]
    else:
        pairs = [(y_true[..., c:c + 1], y_true[..., KNOWN + c:KNOWN + c + 1], y_pred[..., c:c + 1])
                 for c in range(KNOWN)]
    total = 0.0
    for truth, known, prediction in pairs:
        truth, prediction = truth * known, prediction * known
        weights = known if not edge else known * (1.0 + edge * outline_band(truth))
        cross_entropy = ops.mean(keras.losses.binary_crossentropy(truth, prediction) * weights[..., 0], axis=[1, 2])
        weight = _has_person(truth) if person_only else 1.0
        total = total + cross_entropy + weight * region(truth, prediction)
    return total


def _has_person(y_true):
    """1.0 for each image of the batch whose truth marks a person (a pixel at 0.5 or more: a soft label's
    faint levels alone are no person), else 0.0 (in the truth's dtype)."""
    return ops.cast(ops.max(y_true, axis=list(range(1, len(y_true.shape)))) >= 0.5, y_true.dtype)


LOSSES = {"bce-dice": bce_dice_loss, "bce-person-dice": bce_person_dice_loss,
          "bce-person-lovasz": bce_person_lovasz_loss, "bce-edge-person-dice": bce_edge_person_dice_loss}


def keras_metrics(outputs: int = 1) -> list[keras.metrics.Metric]:
    """IoU of the person class, precision and recall at the fixed 0.5 threshold: of the one output, or of the
    subject's where there are two (on its known pixels), and there the everyone output's IoU beside them."""
    metrics = [
        OutputIoU(0, target_class_ids=[1], threshold=THRESHOLD, name="iou"),
        OutputPrecision(0, thresholds=THRESHOLD, name="precision"),
        OutputRecall(0, thresholds=THRESHOLD, name="recall"),
    ]
    if outputs == 2:
        metrics.append(OutputIoU(1, target_class_ids=[1], threshold=THRESHOLD, name="everyone_iou"))
    return metrics


def _on_output(metric: type) -> type:
    """A Keras metric of one output channel, counting only the pixels its truth knows (`each_output`)."""

    class OnOutput(metric):
        def __init__(self, channel: int = 0, **kwargs):
            super().__init__(**kwargs)
            self.channel = channel

        def update_state(self, y_true, y_pred, sample_weight=None):
            c = self.channel
            if y_true.shape[-1] == 1:
                return super().update_state(y_true, y_pred[..., :1], sample_weight)
            return super().update_state(y_true[..., c:c + 1], y_pred[..., c:c + 1],
                                        sample_weight=y_true[..., KNOWN + c:KNOWN + c + 1])

        def get_config(self):
            return {**super().get_config(), "channel": self.channel}

    OnOutput.__name__ = OnOutput.__qualname__ = f"Output{metric.__name__.removeprefix('Binary')}"
    return keras.saving.register_keras_serializable(package="training")(OnOutput)


OutputIoU = _on_output(keras.metrics.BinaryIoU)
OutputPrecision = _on_output(keras.metrics.Precision)
OutputRecall = _on_output(keras.metrics.Recall)


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


def band_width(height: int, width: int, share: float = BOUNDARY_SHARE) -> int:
    """d, in pixels, of the band along an outline that Boundary IoU, the half-sure share and the outline loss
    use: `share` of the image diagonal, at least 1."""
    return max(1, round(share * math.hypot(height, width)))


def boundary_iou(truth: np.ndarray, probability: np.ndarray, share: float = BOUNDARY_SHARE) -> float:
    """Boundary IoU (Cheng et al., "Boundary IoU", CVPR 2021): |G_d & P_d| / |G_d | P_d|, where M_d is the
    band of mask M's pixels within d = share x the image diagonal of its edge, inside it (M minus M eroded
    by d; the image's border counts as edge, as in the authors' code). It judges the outline, where plain
    IoU is dominated by the interior. The truth is 0/1, the probability thresholded at 0.5; 1.0 when both
    masks are empty."""
    height, width = truth.shape
    d = band_width(height, width, share)
    bands = [_inner_band(mask, d) for mask in (truth.astype(bool), probability >= THRESHOLD)]
    union = np.count_nonzero(bands[0] | bands[1])
    return float(np.count_nonzero(bands[0] & bands[1]) / union) if union else 1.0


def _inner_band(mask: np.ndarray, d: int) -> np.ndarray:
    """The pixels of `mask` (H, W) bool within d pixels of its edge or of the image's border."""
    padded = cv2.copyMakeBorder(mask.astype(np.uint8), 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    eroded = cv2.erode(padded, np.ones((3, 3), np.uint8), iterations=d)[1:-1, 1:-1]
    return mask & ~eroded.astype(bool)


def half_sure(truth: np.ndarray, alpha: np.ndarray, share: float = BOUNDARY_SHARE) -> tuple[int, int]:
    """(half-sure pixels, pixels judged): of the pixels farther than `share` of the image diagonal from the
    0/1 truth's outline, those whose alpha (0..1) lies within `HALF_SURE`: a ghost, neither cut out nor gone.
    Hair and motion blur sit at the outline, inside the band left out."""
    height, width = truth.shape
    d = band_width(height, width, share)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * d + 1, 2 * d + 1))
    person = truth.astype(np.uint8)
    near = (cv2.dilate(person, kernel) != cv2.erode(person, kernel, borderType=cv2.BORDER_REPLICATE))
    judged = ~near
    unsure = judged & (alpha > HALF_SURE[0]) & (alpha < HALF_SURE[1])
    return int(np.count_nonzero(unsure)), int(np.count_nonzero(judged))
