"""tf.data pipelines over decoded samples: weighted, augmented training batches and letterboxed validation."""

from __future__ import annotations

import cv2
import numpy as np
import tensorflow as tf

from model.letterbox import letterbox
from training.augment import AugmentConfig, training_sample
from training.data import Sample

_IMAGE_SPEC = tf.TensorSpec(shape=(None, None, 3), dtype=tf.uint8)
_MASK_SPEC = tf.TensorSpec(shape=(None, None), dtype=tf.uint8)


def _endless(items: list, seed: int):
    """A generator factory: shuffled passes over `items`, forever."""
    def generate():
        rng = np.random.default_rng(seed)
        while True:
            for index in rng.permutation(len(items)):
                yield items[index]
    return generate


def _pair_stream(samples: list[Sample], seed: int) -> tf.data.Dataset:
    pairs = [(s.image, s.mask) for s in samples]
    return tf.data.Dataset.from_generator(_endless(pairs, seed), output_signature=(_IMAGE_SPEC, _MASK_SPEC))


def _weighted(streams: list[tf.data.Dataset], weights: list[float], seed: int) -> tf.data.Dataset:
    total = float(sum(weights))
    return tf.data.Dataset.sample_from_datasets(streams, weights=[w / total for w in weights], seed=seed)


def train_dataset(by_root: list[tuple[float, list[Sample]]], config: AugmentConfig, batch_size: int,
                  seed: int) -> tf.data.Dataset:
    """Endless augmented batches; each root is drawn with its weight.

    The person-free samples of every root are also the backgrounds that people are pasted onto,
    drawn with the same root weights.
    """
    by_root = [(weight, samples) for weight, samples in by_root if weight > 0 and samples]
    if not by_root:
        raise ValueError("no training samples with a sampling weight above 0")
    streams = [_pair_stream(samples, seed + i) for i, (_, samples) in enumerate(by_root)]
    pairs = _weighted(streams, [w for w, _ in by_root], seed)
    backgrounds = [(w, [s.image for s in samples if not s.mask.any()]) for w, samples in by_root]
    backgrounds = [(w, images) for w, images in backgrounds if images]
    if backgrounds and config.paste_probability > 0:
        bg_streams = [tf.data.Dataset.from_generator(_endless(images, seed + 100 + i), output_signature=_IMAGE_SPEC)
                      for i, (_, images) in enumerate(backgrounds)]
        bgs = _weighted(bg_streams, [w for w, _ in backgrounds], seed + 1)
        dataset = tf.data.Dataset.zip(pairs, bgs).map(
            lambda pair, bg: training_sample(pair[0], pair[1], bg, config), num_parallel_calls=tf.data.AUTOTUNE)
    else:
        dataset = pairs.map(lambda image, mask: training_sample(image, mask, None, config),
                            num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def letterboxed_arrays(samples: list[Sample], size: int) -> tuple[np.ndarray, np.ndarray]:
    """Samples letterboxed as serving does: images (N, size, size, 3) uint8, masks (N, size, size, 1) uint8."""
    images = np.stack([letterbox(s.image, size)[0] for s in samples])
    masks = np.stack([letterbox(s.mask, size, cv2.INTER_NEAREST)[0] for s in samples])
    return images, masks


def validation_dataset(samples: list[Sample], size: int, batch_size: int) -> tf.data.Dataset:
    """Letterboxed, unaugmented validation batches."""
    images, masks = letterboxed_arrays(samples, size)
    dataset = tf.data.Dataset.from_tensor_slices((images, masks))
    dataset = dataset.map(lambda i, m: (tf.cast(i, tf.float32), tf.cast(m, tf.float32)))
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
