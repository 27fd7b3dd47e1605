"""Fitting a photo into the network's square input without stretching it, and back again.

Shared by serving and by training's validation and evaluation, so both see photos the same way.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

PAD_VALUE = 0  # black padding, the same in training and serving


@dataclasses.dataclass(frozen=True)
class Placement:
    """Where a photo of `height` x `width` sits inside the square canvas."""

    height: int
    width: int
    scaled_height: int
    scaled_width: int


def letterbox(image: np.ndarray, size: int, interpolation: int = cv2.INTER_AREA) -> tuple[np.ndarray, Placement]:
    """Resize `image` so its longer side is `size` and pad it to size x size at the bottom/right."""
    height, width = image.shape[:2]
    scale = size / max(height, width)
    scaled_h = max(1, min(size, round(height * scale)))
    scaled_w = max(1, min(size, round(width * scale)))
    if (scaled_h, scaled_w) != (height, width):
        image = cv2.resize(image, (scaled_w, scaled_h), interpolation=interpolation)
    if image.ndim == 2:
        image = image[:, :, None]
    canvas = np.full((size, size, image.shape[2]), PAD_VALUE, dtype=image.dtype)
    canvas[:scaled_h, :scaled_w] = image
    return canvas, Placement(height, width, scaled_h, scaled_w)


def unletterbox(prediction: np.ndarray, placement: Placement) -> np.ndarray:
    """Cut the photo's area out of a size x size prediction (H x W, float) and scale it to the photo."""
    area = prediction[: placement.scaled_height, : placement.scaled_width]
    if area.shape[:2] == (placement.height, placement.width):
        return np.ascontiguousarray(area)
    return cv2.resize(area, (placement.width, placement.height), interpolation=cv2.INTER_LINEAR)
