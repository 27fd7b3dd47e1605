"""tf.data pipelines over decoded samples: weighted, augmented training batches and letterboxed validation."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from training.augment import training_sample
from training.config import AugmentConfig
from training.data import Sample, drawable_roots, group_weights, letterboxed_arrays

_IMAGE_SPEC = tf.TensorSpec(shape=(None, None, 3), dtype=tf.uint8)
_MASK_SPEC = tf.TensorSpec(shape=(None, None), dtype=tf.uint8)


def _draw_probabilities(samples: list[Sample], balance_groups: bool) -> np.ndarray | None:
    """`group_weights` with `balance_groups`, else None: every pair equally often."""
    return group_weights(samples) if balance_groups else None


def _endless(items: list, seed: int, probabilities: np.ndarray | None = None):
    """A generator factory: passes over `items` forever, shuffled, or drawn with `probabilities`."""
    def generate():
        rng = np.random.default_rng(seed)
        while True:
            if probabilities is None:
                order = rng.permutation(len(items))
            else:
                order = rng.choice(len(items), size=len(items), p=probabilities)
            for index in order:
                yield items[index]
    return generate


def _pair_stream(samples: list[Sample], seed: int, balance_groups: bool) -> tf.data.Dataset:
    pairs = [(s.image, s.mask) for s in samples]
    return tf.data.Dataset.from_generator(_endless(pairs, seed, _draw_probabilities(samples, balance_groups)),
                                          output_signature=(_IMAGE_SPEC, _MASK_SPEC))


def _weighted(streams: list[tf.data.Dataset], weights: list[float], seed: int) -> tf.data.Dataset:
    total = float(sum(weights))
    return tf.data.Dataset.sample_from_datasets(streams, weights=[w / total for w in weights], seed=seed)


def train_dataset(by_root: list[tuple[float, list[Sample]]], config: AugmentConfig, batch_size: int,
                  seed: int, balance_groups: bool = True) -> tf.data.Dataset:
    """Endless augmented batches; each root is drawn with its weight.

    Within a root every split group has the same share with `balance_groups` (see `group_weights`),
    else every pair. The person-free samples of every root are also the backgrounds that people are
    pasted onto, drawn the same way.
    """
    by_root, backgrounds = drawable_roots(by_root)
    streams = [_pair_stream(samples, seed + i, balance_groups) for i, (_, samples) in enumerate(by_root)]
    pairs = _weighted(streams, [w for w, _ in by_root], seed)
    if backgrounds and config.paste_probability > 0:
        bg_streams = [tf.data.Dataset.from_generator(
            _endless([s.image for s in free], seed + 100 + i, _draw_probabilities(free, balance_groups)),
            output_signature=_IMAGE_SPEC) for i, (_, free) in enumerate(backgrounds)]
        bgs = _weighted(bg_streams, [w for w, _ in backgrounds], seed + 1)
        dataset = tf.data.Dataset.zip(pairs, bgs).map(
            lambda pair, bg: training_sample(pair[0], pair[1], bg, config), num_parallel_calls=tf.data.AUTOTUNE)
    else:
        dataset = pairs.map(lambda image, mask: training_sample(image, mask, None, config),
                            num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def validation_dataset(samples: list[Sample], size: int, batch_size: int) -> tf.data.Dataset:
    """Letterboxed, unaugmented validation batches."""
    images, masks = letterboxed_arrays(samples, size)
    dataset = tf.data.Dataset.from_tensor_slices((images, masks))
    dataset = dataset.map(lambda i, m: (tf.cast(i, tf.float32), tf.cast(m, tf.float32)))
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
