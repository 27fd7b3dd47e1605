"""Fitting a photo into the network's input canvas without stretching it, and back again.

Shared by serving and by training's validation and evaluation, so both see photos the same way.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import cv2
import numpy as np

PAD_VALUE = 0  # black padding, the same in training and serving
# Serving's canvas shapes: a photo goes into the canvas whose aspect (height / width) is nearest its own,
# upright or lying, each canvas about side x side pixels (so about the square's time) in multiples of the
# network's output stride. A 2:3 street-fashion photo at side 320 is seen 384 pixels tall, where the
# square showed it 320 tall beside a third of padding (model/MODEL_CARD.md, "Canvas at the photo's aspect").
ASPECTS = (1.0, 4 / 3, 3 / 2, 16 / 9)
STRIDE = 16  # the network's output stride (training/deeplab.py): every canvas side is a multiple of it


@dataclasses.dataclass(frozen=True)
class Placement:
    """Where a photo of `height` x `width` sits inside the square canvas."""

    height: int
    width: int
    scaled_height: int
    scaled_width: int


def canvas_shapes(side: int) -> list[tuple[int, int]]:
    """Every canvas shape (height, width) at `side`: the square, and each other aspect upright and lying."""
    shapes = []
    for aspect in ASPECTS:
        tall = _multiple(side * math.sqrt(aspect)), _multiple(side / math.sqrt(aspect))
        shapes += [tall] if aspect == 1.0 else [tall, tall[::-1]]
    return shapes


def nearest_shape(height: int, width: int, shapes: Sequence[tuple[int, int]]) -> tuple[int, int]:
    """The canvas shape among `shapes` whose aspect is nearest a height x width photo's (in log ratio)."""
    return min(shapes, key=lambda shape: abs(math.log(shape[0] * width / (shape[1] * height))))


def fit(image: np.ndarray, shapes: Sequence[tuple[int, int]]) -> tuple[np.ndarray, Placement]:
    """The photo letterboxed into the canvas among `shapes` nearest its aspect."""
    return letterbox(image, nearest_shape(*image.shape[:2], shapes))


def _multiple(length: float) -> int:
    return max(STRIDE, round(length / STRIDE) * STRIDE)


def letterbox(image: np.ndarray, size: int | tuple[int, int],
              interpolation: int = cv2.INTER_AREA) -> tuple[np.ndarray, Placement]:
    """Resize `image` to fit a canvas of size x size (or of shape (height, width)) without stretching it,
    and pad it at the bottom/right."""
    canvas_h, canvas_w = (size, size) if isinstance(size, int) else size
    height, width = image.shape[:2]
    scale = min(canvas_h / height, canvas_w / width)
    scaled_h = max(1, min(canvas_h, round(height * scale)))
    scaled_w = max(1, min(canvas_w, round(width * scale)))
    if (scaled_h, scaled_w) != (height, width):
        image = cv2.resize(image, (scaled_w, scaled_h), interpolation=interpolation)
    if image.ndim == 2:
        image = image[:, :, None]
    canvas = np.full((canvas_h, canvas_w, image.shape[2]), PAD_VALUE, dtype=image.dtype)
    canvas[:scaled_h, :scaled_w] = image
    return canvas, Placement(height, width, scaled_h, scaled_w)


def unletterbox(prediction: np.ndarray, placement: Placement) -> np.ndarray:
    """Cut the photo's area out of a prediction on its canvas (H x W, float) and scale it to the photo."""
    area = prediction[: placement.scaled_height, : placement.scaled_width]
    if area.shape[:2] == (placement.height, placement.width):
        return np.ascontiguousarray(area)
    return cv2.resize(area, (placement.width, placement.height), interpolation=cv2.INTER_LINEAR)
