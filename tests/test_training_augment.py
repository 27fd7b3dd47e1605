"""Augmentation: what the training samples look like."""

import numpy as np
import pytest
import tensorflow as tf

from training.augment import AugmentConfig, training_sample


def _colourful_pair() -> tuple[tf.Tensor, tf.Tensor]:
    image = np.zeros((90, 70, 3), np.uint8)
    image[..., 0] = 230  # strongly red everywhere: grey turns it into equal channels
    image[20:70, 20:50] = (20, 40, 220)
    mask = np.zeros((90, 70), np.uint8)
    mask[20:70, 20:50] = 1
    return tf.constant(image), tf.constant(mask)


@pytest.mark.parametrize("grey, coloured", [(0.0, True), (1.0, False)])
def test_grey_probability_turns_samples_black_and_white(grey, coloured):
    image, mask = _colourful_pair()
    tf.random.set_seed(3)
    config = AugmentConfig(size=64, grey_probability=grey)
    spreads = []
    for _ in range(8):
        rgb, label = training_sample(image, mask, None, config)
        assert rgb.shape == (64, 64, 3) and label.shape == (64, 64, 1)
        assert 0.0 <= float(tf.reduce_min(rgb)) and float(tf.reduce_max(rgb)) <= 255.0
        spreads.append(float(tf.reduce_mean(tf.abs(rgb[..., 0] - rgb[..., 1]))))
    # Sensor noise (sigma <= 6) is added after the grey step, so grey channels differ by a few levels only.
    assert (min(spreads) > 30.0) if coloured else (max(spreads) < 8.0)


def test_augmentation_off_is_a_plain_letterbox():
    image, mask = _colourful_pair()
    rgb, label = training_sample(image, mask, None, AugmentConfig.off(64))
    assert float(tf.reduce_mean(tf.abs(rgb[..., 0] - rgb[..., 1]))) > 30.0
    assert 0.0 < float(tf.reduce_mean(label)) < 0.5


def _mean_label(image: tf.Tensor, mask: tf.Tensor, background: tf.Tensor | None, config: AugmentConfig,
                seed: int) -> float:
    """The person's share of the frame, averaged over eight augmented samples."""
    tf.random.set_seed(seed)
    labels = [training_sample(image, mask, background, config)[1] for _ in range(8)]
    return float(np.mean([tf.reduce_mean(label) for label in labels]))


def test_paste_scale_sets_the_size_of_pasted_people():
    image, mask = _colourful_pair()
    background = tf.fill((80, 80, 3), 128.0)
    areas = {scale: _mean_label(image, mask, background, AugmentConfig(
        size=64, paste_probability=1.0, paste_scale=(scale, scale)), seed=4) for scale in (0.15, 1.0)}
    # Area goes with the square of the scale: 0.15^2 = 0.0225 of the full-size paste (rounding aside).
    assert 0 < areas[0.15] < 0.05 * areas[1.0]


def test_photo_scale_above_one_zooms_into_the_photo():
    image = tf.fill((90, 70, 3), tf.constant(200, tf.uint8))
    mask = tf.ones((90, 70), tf.uint8)  # a person filling the photo: the label shows how much of the frame it fills
    filled = {scale: _mean_label(image, mask, None, AugmentConfig(
        size=64, paste_probability=0.0, photo_scale=(scale, scale)), seed=5) for scale in (1.0, 3.0)}
    # At 1.0 the 90x70 photo is letterboxed to 64x50 (0.78 of the frame, less after rotation);
    # at 3.0 a crop of the photo fills the frame, only the rotation's corners stay empty.
    assert filled[1.0] < 0.8 and filled[3.0] > 0.88
