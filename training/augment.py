"""Augmentation as TensorFlow ops, run inside tf.data: placement, background pasting, photometrics.

Images travel as float32 0..255 (the network preprocesses inside its graph), masks as float32 0/1.
"""

from __future__ import annotations

import math

import tensorflow as tf

from model.letterbox import PAD_VALUE
from training.config import AugmentConfig


def place(image: tf.Tensor, mask: tf.Tensor, size: int, scale: tuple[float, float]) -> tf.Tensor:
    """Scale a photo at random, crop or pad it into size x size; returns (size, size, 5): RGB, mask, valid."""
    image = tf.cast(image, tf.float32)
    mask = tf.cast(mask, tf.float32)[..., None]
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    factor = size / tf.reduce_max(shape) * tf.random.uniform([], *scale)
    new_shape = tf.maximum(tf.cast(tf.round(shape * factor), tf.int32), 1)
    image = tf.image.resize(image, new_shape, antialias=True)
    mask = tf.image.resize(mask, new_shape, method="nearest")
    stack = tf.concat([image, mask, tf.ones_like(mask)], axis=-1)
    crop = tf.minimum(new_shape, size)
    stack = tf.image.random_crop(stack, tf.concat([crop, [5]], axis=0))
    top = tf.random.uniform([], 0, size - crop[0] + 1, dtype=tf.int32)
    left = tf.random.uniform([], 0, size - crop[1] + 1, dtype=tf.int32)
    stack = tf.image.pad_to_bounding_box(stack, top, left, size, size)
    # Padding shows PAD_VALUE, as the serving letterbox does.
    rgb = stack[..., :3] + (1.0 - stack[..., 4:5]) * PAD_VALUE
    return tf.concat([rgb, stack[..., 3:]], axis=-1)


def background_crop(image: tf.Tensor, config: AugmentConfig) -> tf.Tensor:
    """A random square crop of a person-free photo at its native resolution (side <= config.size)."""
    image = tf.cast(image, tf.float32)
    shorter = tf.cast(tf.reduce_min(tf.shape(image)[:2]), tf.float32)
    side = tf.cast(shorter * tf.random.uniform([], *config.background_crop), tf.int32)
    side = tf.maximum(side, 8)
    crop = tf.image.random_crop(image, tf.stack([side, side, 3]))
    if_larger = lambda: tf.image.resize(crop, [config.size, config.size], antialias=True)
    return tf.cond(side > config.size, if_larger, lambda: crop)


def paste(placed: tf.Tensor, background: tf.Tensor, size: int) -> tf.Tensor:
    """Composite the placed person onto a background, at the background's own resolution.

    Composing at the background's native resolution, then scaling the whole picture to `size`,
    gives person and background the same sharpness: a sharp person on a soft upscaled background
    would teach the network "sharp = person". The paste edge is feathered and the person's colour
    is pulled part of the way towards the background's.
    """
    side = tf.shape(background)[0]
    small = tf.image.resize(placed, [side, side], antialias=True)
    rgb, alpha = small[..., :3], small[..., 3:4] * small[..., 4:5]
    alpha = tf.nn.avg_pool2d(alpha[None], 3, 1, "SAME")[0]
    person_mean = tf.reduce_sum(rgb * alpha, axis=[0, 1]) / (tf.reduce_sum(alpha) + 1e-3)
    shift = (tf.reduce_mean(background, axis=[0, 1]) - person_mean) * tf.random.uniform([], 0.0, 0.5)
    composite = alpha * (rgb + shift) + (1.0 - alpha) * background
    composite = tf.image.resize(composite, [size, size])
    return tf.concat([composite, placed[..., 3:4]], axis=-1)


def photometric(image: tf.Tensor, grey_probability: float) -> tf.Tensor:
    """Colour jitter, occasional grey, blur and sensor noise on a whole float 0..255 image."""
    image = tf.image.random_brightness(image, 25.0)
    image = tf.image.random_contrast(image, 0.75, 1.25)
    image = tf.clip_by_value(image, 0.0, 255.0)
    image = tf.image.random_saturation(image, 0.7, 1.3)
    image = tf.image.random_hue(image / 255.0, 0.03) * 255.0
    grey = tf.image.grayscale_to_rgb(tf.image.rgb_to_grayscale(image))
    image = tf.where(tf.random.uniform([]) < grey_probability, grey, image)
    image = tf.cond(tf.random.uniform([]) < 0.2, lambda: _soften(image), lambda: image)
    sigma = tf.where(tf.random.uniform([]) < 0.3, tf.random.uniform([], 0.0, 6.0), 0.0)
    image = image + tf.random.normal(tf.shape(image), stddev=sigma)
    return tf.clip_by_value(image, 0.0, 255.0)


def _soften(image: tf.Tensor) -> tf.Tensor:
    size = tf.shape(image)[:2]
    factor = tf.random.uniform([], 1.5, 3.0)
    small = tf.maximum(tf.cast(tf.cast(size, tf.float32) / factor, tf.int32), 1)
    return tf.image.resize(tf.image.resize(image, small, antialias=True), size)


def flip_and_rotate(image: tf.Tensor, mask: tf.Tensor, max_degrees: float) -> tuple[tf.Tensor, tf.Tensor]:
    """Random horizontal flip and small rotation, the same for image and mask."""
    flip = tf.random.uniform([]) < 0.5
    image = tf.where(flip, tf.reverse(image, axis=[1]), image)
    mask = tf.where(flip, tf.reverse(mask, axis=[1]), mask)
    angle = tf.random.uniform([], -max_degrees, max_degrees) * math.pi / 180.0
    transform = _rotation(angle, tf.cast(tf.shape(image)[:2], tf.float32))
    image = _transform(image, transform, "BILINEAR", float(PAD_VALUE))
    mask = _transform(mask, transform, "NEAREST", 0.0)
    return image, mask


def _rotation(angle: tf.Tensor, shape: tf.Tensor) -> tf.Tensor:
    """Projective transform (output -> input) that rotates about the image centre."""
    cos, sin = tf.cos(angle), tf.sin(angle)
    cy, cx = (shape[0] - 1.0) / 2.0, (shape[1] - 1.0) / 2.0
    return tf.stack([cos, -sin, cx - cos * cx + sin * cy, sin, cos, cy - sin * cx - cos * cy, 0.0, 0.0])


def _transform(image: tf.Tensor, transform: tf.Tensor, interpolation: str, fill: float) -> tf.Tensor:
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=image[None], transforms=transform[None], output_shape=tf.shape(image)[:2],
        fill_value=fill, interpolation=interpolation, fill_mode="CONSTANT")[0]


def training_sample(image: tf.Tensor, mask: tf.Tensor, background: tf.Tensor | None,
                    config: AugmentConfig) -> tuple[tf.Tensor, tf.Tensor]:
    """One augmented (image, mask) pair from a decoded pair and, optionally, a person-free photo."""
    if background is None:
        placed = place(image, mask, config.size, config.photo_scale)
    else:
        do_paste = tf.random.uniform([]) < config.paste_probability
        placed = tf.cond(
            do_paste,
            lambda: paste(place(image, mask, config.size, config.paste_scale),
                          background_crop(background, config), config.size),
            lambda: place(image, mask, config.size, config.photo_scale)[..., :4],
        )
    rgb, label = placed[..., :3], placed[..., 3:4]
    if config.enabled:
        rgb, label = flip_and_rotate(rgb, label, config.max_rotation_degrees)
        rgb = photometric(rgb, config.grey_probability)
    rgb.set_shape([config.size, config.size, 3])
    label.set_shape([config.size, config.size, 1])
    return rgb, label
