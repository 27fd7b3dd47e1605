"""The augmentation of `training.augment` in NumPy and OpenCV, for Keras backends without TensorFlow.

`training.augment` runs inside tf.data, which needs TensorFlow. A GPU host may have JAX and not
TensorFlow (a TensorFlow GPU install is several gigabytes), so training there draws its samples
from this module instead, in worker processes (`training.batches`). Each function mirrors its
namesake in `training.augment`: same steps, same ranges, same `AugmentConfig`.

Images travel as float32 0..255, masks as float32 0/1, as there.
"""

from __future__ import annotations

import cv2
import numpy as np

from model.letterbox import PAD_VALUE
from training.config import AugmentConfig

_GREY = np.array([0.2989, 0.587, 0.114], np.float32)  # tf.image.rgb_to_grayscale's weights


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Area-averaged when shrinking (antialiased, like tf.image.resize(antialias=True)), bilinear otherwise."""
    shrinking = height * width < image.shape[0] * image.shape[1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    if image.ndim == 3 and image.shape[2] > 4:  # cv2.resize takes at most 4 channels
        return np.concatenate([_resize(image[..., i:i + 4], height, width)
                               for i in range(0, image.shape[2], 4)], axis=-1)
    resized = cv2.resize(image, (width, height), interpolation=interpolation)
    return resized.reshape(height, width, -1) if image.ndim == 3 else resized


def place(image: np.ndarray, mask: np.ndarray, size: int, scale: tuple[float, float],
          rng: np.random.Generator) -> np.ndarray:
    """Scale a photo at random, crop or pad it into size x size; returns (size, size, 5): RGB, mask, valid."""
    height, width = image.shape[:2]
    factor = size / max(height, width) * rng.uniform(*scale)
    new_h, new_w = max(1, round(height * factor)), max(1, round(width * factor))
    image = _resize(image.astype(np.float32), new_h, new_w)
    mask = cv2.resize(mask.astype(np.float32), (new_w, new_h), interpolation=cv2.INTER_NEAREST)
    crop_h, crop_w = min(new_h, size), min(new_w, size)
    y, x = rng.integers(0, new_h - crop_h + 1), rng.integers(0, new_w - crop_w + 1)
    top, left = rng.integers(0, size - crop_h + 1), rng.integers(0, size - crop_w + 1)
    canvas = np.zeros((size, size, 5), np.float32)
    canvas[..., :3] = PAD_VALUE  # padding shows PAD_VALUE, as the serving letterbox does
    canvas[top:top + crop_h, left:left + crop_w, :3] = image[y:y + crop_h, x:x + crop_w]
    canvas[top:top + crop_h, left:left + crop_w, 3] = mask[y:y + crop_h, x:x + crop_w]
    canvas[top:top + crop_h, left:left + crop_w, 4] = 1.0
    return canvas


def background_crop(image: np.ndarray, config: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """A random square crop of a person-free photo at its native resolution (side <= config.size)."""
    height, width = image.shape[:2]
    side = max(8, int(min(height, width) * rng.uniform(*config.background_crop)))
    side = min(side, height, width)
    y, x = rng.integers(0, height - side + 1), rng.integers(0, width - side + 1)
    crop = image[y:y + side, x:x + side].astype(np.float32)
    return _resize(crop, config.size, config.size) if side > config.size else crop


def paste(placed: np.ndarray, background: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Composite the placed person onto a background at the background's own resolution (see augment.paste)."""
    side = background.shape[0]
    small = _resize(placed, side, side)
    rgb, alpha = small[..., :3], small[..., 3:4] * small[..., 4:5]
    alpha = cv2.blur(alpha, (3, 3), borderType=cv2.BORDER_CONSTANT)[..., None]  # avg_pool2d 3x3 SAME
    person_mean = (rgb * alpha).sum(axis=(0, 1)) / (alpha.sum() + 1e-3)
    shift = (background.mean(axis=(0, 1)) - person_mean) * rng.uniform(0.0, 0.5)
    composite = alpha * (rgb + shift) + (1.0 - alpha) * background
    composite = cv2.resize(composite, (size, size), interpolation=cv2.INTER_LINEAR)
    return np.concatenate([composite, placed[..., 3:4]], axis=-1)


def photometric(image: np.ndarray, grey_probability: float, rng: np.random.Generator) -> np.ndarray:
    """Colour jitter, occasional grey, blur and sensor noise on a whole float 0..255 image."""
    image = image + rng.uniform(-25.0, 25.0)
    mean = image.mean(axis=(0, 1))
    image = np.clip((image - mean) * rng.uniform(0.75, 1.25) + mean, 0.0, 255.0)
    hsv = cv2.cvtColor(image.astype(np.float32), cv2.COLOR_RGB2HSV)  # float: H 0..360, S 0..1
    hsv[..., 1] = np.clip(hsv[..., 1] * rng.uniform(0.7, 1.3), 0.0, 1.0)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-0.03, 0.03) * 360.0) % 360.0
    image = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    if rng.uniform() < grey_probability:
        image = np.repeat(image @ _GREY[:, None], 3, axis=-1)
    if rng.uniform() < 0.2:
        image = _soften(image, rng)
    if rng.uniform() < 0.3:
        image = image + rng.normal(0.0, rng.uniform(0.0, 6.0), image.shape).astype(np.float32)
    return np.clip(image, 0.0, 255.0)


def _soften(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    height, width = image.shape[:2]
    factor = rng.uniform(1.5, 3.0)
    small = _resize(image, max(1, int(height / factor)), max(1, int(width / factor)))
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


def flip_and_rotate(image: np.ndarray, mask: np.ndarray, max_degrees: float,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Random horizontal flip and small rotation, the same for image and mask."""
    if rng.uniform() < 0.5:
        image, mask = image[:, ::-1], mask[:, ::-1]
    height, width = image.shape[:2]
    centre = ((width - 1) / 2.0, (height - 1) / 2.0)
    matrix = cv2.getRotationMatrix2D(centre, rng.uniform(-max_degrees, max_degrees), 1.0)
    image = cv2.warpAffine(np.ascontiguousarray(image), matrix, (width, height), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=(PAD_VALUE,) * 3)
    mask = cv2.warpAffine(np.ascontiguousarray(mask), matrix, (width, height), flags=cv2.INTER_NEAREST,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return image, mask.reshape(height, width, 1)


def training_sample(image: np.ndarray, mask: np.ndarray, background: np.ndarray | None, config: AugmentConfig,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One augmented (image (size, size, 3), mask (size, size, 1)) float32 pair, as augment.training_sample."""
    if background is not None and rng.uniform() < config.paste_probability:
        placed = paste(place(image, mask, config.size, config.paste_scale, rng),
                       background_crop(background, config, rng), config.size, rng)
    else:
        placed = place(image, mask, config.size, config.photo_scale, rng)[..., :4]
    rgb, label = placed[..., :3], placed[..., 3:4]
    if config.enabled:
        rgb, label = flip_and_rotate(rgb, label, config.max_rotation_degrees, rng)
        rgb = photometric(rgb, config.grey_probability, rng)
    return np.ascontiguousarray(rgb, np.float32), np.ascontiguousarray(label, np.float32)
