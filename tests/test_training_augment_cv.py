"""The NumPy/OpenCV augmentation (training without TensorFlow) behaves as the tf.data one does."""

import cv2
import numpy as np
import pytest

from training.augment_cv import training_sample
from training.config import AugmentConfig

RED, BLUE = (230, 0, 0), (20, 40, 220)


def _colourful_pair() -> tuple[np.ndarray, np.ndarray]:
    """A red photo with a blue "person" rectangle and its 0/1 mask."""
    image = np.zeros((90, 70, 3), np.uint8)
    image[:] = RED
    image[20:70, 20:50] = BLUE
    mask = np.zeros((90, 70), np.uint8)
    mask[20:70, 20:50] = 1
    return image, mask


def _samples(config: AugmentConfig, background: np.ndarray | None = None, count: int = 8, seed: int = 3):
    image, mask = _colourful_pair()
    rng = np.random.default_rng(seed)
    return [training_sample(image, mask, background, config, rng) for _ in range(count)]


def test_samples_have_the_training_shape_range_and_a_binary_mask():
    for rgb, label in _samples(AugmentConfig(size=64, paste_probability=0.5), np.full((80, 80, 3), 128, np.uint8)):
        assert rgb.shape == (64, 64, 3) and label.shape == (64, 64, 1)
        assert rgb.dtype == label.dtype == np.float32
        assert 0.0 <= rgb.min() and rgb.max() <= 255.0
        assert set(np.unique(label)) <= {0.0, 1.0}


def test_the_mask_follows_the_person_through_scaling_flips_and_rotation():
    for rgb, label in _samples(AugmentConfig(size=64, grey_probability=0.0), count=12):
        # Two pixels in from the edge, where interpolation and blur mix the colours; no black padding.
        core = lambda region: cv2.erode(region.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        photo = rgb.sum(axis=-1) > 60
        inside, outside = core(label[..., 0] > 0.5) & photo, core(label[..., 0] < 0.5) & photo
        assert inside.sum() > 20
        assert np.mean(rgb[inside][:, 2] > rgb[inside][:, 0]) > 0.9, "blue under the mask"
        assert np.mean(rgb[outside][:, 0] > rgb[outside][:, 2]) > 0.9, "red outside it"


@pytest.mark.parametrize("grey, coloured", [(0.0, True), (1.0, False)])
def test_grey_probability_turns_samples_black_and_white(grey, coloured):
    spreads = [float(np.mean(np.abs(rgb[..., 0] - rgb[..., 1])))
               for rgb, _ in _samples(AugmentConfig(size=64, grey_probability=grey))]
    # Sensor noise (sigma <= 6) comes after the grey step, as in training.augment.
    assert (min(spreads) > 30.0) if coloured else (max(spreads) < 8.0)


def test_paste_scale_sets_the_size_of_pasted_people():
    background = np.full((80, 80, 3), 128, np.uint8)
    areas = {scale: np.mean([label.mean() for _, label in _samples(
        AugmentConfig(size=64, paste_probability=1.0, paste_scale=(scale, scale)), background, seed=4)])
        for scale in (0.15, 1.0)}
    assert 0 < areas[0.15] < 0.05 * areas[1.0]


def test_photo_scale_above_one_zooms_into_the_photo():
    image, mask = np.full((90, 70, 3), 200, np.uint8), np.ones((90, 70), np.uint8)
    filled = {}
    for scale in (1.0, 3.0):
        rng = np.random.default_rng(5)
        config = AugmentConfig(size=64, paste_probability=0.0, photo_scale=(scale, scale))
        filled[scale] = np.mean([training_sample(image, mask, None, config, rng)[1].mean() for _ in range(8)])
    assert filled[1.0] < 0.8 and filled[3.0] > 0.88


def test_augmentation_off_only_fits_the_photo_into_the_frame():
    image, mask = _colourful_pair()
    rgb, label = training_sample(image, mask, None, AugmentConfig.off(64), np.random.default_rng(0))
    # 90x70 fitted into 64: a 64x50 block of photo, black padding beside it, colours untouched.
    photo_columns = np.flatnonzero(rgb.sum(axis=(0, 2)) > 0)
    assert len(photo_columns) == 50 and np.ptp(photo_columns) == 49
    assert rgb[..., 0].max() == pytest.approx(230, abs=0.01)
    assert label.mean() == pytest.approx((50 * 30) / (90 * 70) * 50 / 64, rel=0.05)
