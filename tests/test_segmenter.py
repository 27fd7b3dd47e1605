"""The segmenter's canvases at the photo's aspect, its second look at large people and its turn look at people
lying across the frame (measured, not served), on the shipped model and real photos."""

import cv2
import numpy as np
import pytest
from skimage import data as skdata

from model import SHIPPED_MODEL
from model.letterbox import letterbox, unletterbox
from model.segmenter import (SECOND_LOOK_SHARE, SECOND_LOOK_SIZE, TURN_SURE, Segmenter, person_share, photo_area,
                             surest_turn)


def _first_look(segmenter: Segmenter, rgb: np.ndarray):
    canvas, placement = segmenter.canvas(rgb)
    return canvas, placement, segmenter.forward(canvas[None])[0]


def test_a_tall_photo_is_seen_taller_than_the_square_would_show_it(segmenter, astronaut):
    tall = astronaut[:, 86:427]  # 512 x 341, a 3:2 portrait crop
    canvas, placement = segmenter.canvas(tall)
    assert canvas.shape[:2] == (384, 256)  # about the square's pixels: 98,304 against 102,400 at 320
    assert (placement.scaled_height, placement.scaled_width) == (384, 256)  # no padding
    square, _ = letterbox(tall, segmenter.size)
    assert canvas.shape[0] > square.shape[0] * 1.19
    probability = segmenter.predict(tall)
    assert probability.shape == tall.shape[:2]
    assert probability[300:450, 20:180].min() > 0.5  # her suit (0.74 measured)
    assert probability[:60, :60].max() < 0.1  # the wall above her shoulder (0.02)


def test_photos_of_several_shapes_in_one_batch_get_what_each_gets_alone(segmenter, astronaut):
    photos = [astronaut, astronaut[:, 100:400], astronaut[100:400], astronaut[:, 50:390]]
    assert len({segmenter.canvas(photo)[0].shape for photo in photos}) == 4
    for photo, probability in zip(photos, segmenter.predict_batch(photos)):
        np.testing.assert_allclose(probability, segmenter.predict(photo), atol=2e-3)


def test_a_large_person_gets_the_mean_of_both_looks(segmenter, astronaut):
    canvas, placement, first = _first_look(segmenter, astronaut)
    assert person_share(first, placement) > SECOND_LOOK_SHARE  # the astronaut fills about 60% of her photo
    smaller, inner = letterbox(photo_area(canvas, placement), SECOND_LOOK_SIZE)
    second = Segmenter(segmenter.network, SECOND_LOOK_SIZE, second_look=None, fast=segmenter.fast).forward(smaller[None])[0]
    expected = first.copy()
    photo_area(expected, placement)[...] = (photo_area(first, placement) + unletterbox(second, inner)) / 2

    served = segmenter.look(canvas[None], [placement])[0]
    np.testing.assert_allclose(served, expected, atol=1e-5)
    assert np.abs(served - first).max() > 0.05  # the second look changes what is served
    np.testing.assert_allclose(segmenter.predict(astronaut), unletterbox(served, placement), atol=1e-5)


def test_a_small_person_gets_the_first_look_only(segmenter, astronaut):
    photo = np.full((2000, 3000, 3), 128, np.uint8)
    photo[100:612, 100:612] = astronaut
    canvas, placement, first = _first_look(segmenter, photo)
    assert 0 < person_share(first, placement) < SECOND_LOOK_SHARE
    np.testing.assert_array_equal(segmenter.look(canvas[None], [placement])[0], first)


def test_the_second_look_can_be_turned_off(astronaut):
    plain = Segmenter.load(SHIPPED_MODEL, second_look=None)
    assert plain.second_look is None
    canvas, placement, first = _first_look(plain, astronaut)
    np.testing.assert_array_equal(plain.predict(astronaut), unletterbox(first, placement))


def _lying_astronaut(astronaut: np.ndarray) -> tuple[np.ndarray, tuple[slice, slice]]:
    """scikit-image's coffee cup photo (400 x 600) with the astronaut's photo turned a quarter anticlockwise,
    half its height, in the middle: a person lying across the frame, and where her photo is."""
    photo = skdata.coffee()
    side = photo.shape[0] // 2
    lying = cv2.resize(np.ascontiguousarray(np.rot90(astronaut)), (side, side), interpolation=cv2.INTER_AREA)
    y0, x0 = (photo.shape[0] - side) // 2, (photo.shape[1] - side) // 2
    box = (slice(y0, y0 + side), slice(x0, x0 + side))
    photo[box] = lying
    return photo, box


@pytest.fixture(scope="module")
def turning() -> Segmenter:
    """The shipped model with the turn look on (the service leaves it off)."""
    return Segmenter.load(SHIPPED_MODEL, turn_look=True)


def test_the_turn_look_finds_a_person_lying_across_the_frame(segmenter, turning, astronaut):
    assert not segmenter.turn_look  # not served: it reads animals and mountains turned sideways as people
    photo, box = _lying_astronaut(astronaut)
    upright = segmenter.predict(photo)
    assert upright[box].mean() < 0.2  # the network alone finds little of her (0.10 measured)
    turned = turning.predict(photo)
    assert turned[box].mean() > 0.35  # turned, she is found (0.46: her photo's wall around her is background)
    # What the network gives her own way up (the photo turned a quarter clockwise), turned back.
    expected = np.rot90(segmenter.predict(np.ascontiguousarray(np.rot90(photo, -1))), 1)
    np.testing.assert_allclose(turned, expected, atol=1e-5)


def test_the_turn_look_leaves_a_photo_with_a_person_upright_as_it_is(segmenter, turning, astronaut):
    np.testing.assert_array_equal(turning.predict(astronaut), segmenter.predict(astronaut))


def test_a_turn_is_taken_only_where_the_network_is_sure_of_a_person():
    upright = np.zeros((100, 100), np.float32)
    person = upright.copy()
    person[40:60, 10:90] = 0.95  # 16% of the photo, all of it sure: a person lying
    unsure = upright.copy()
    unsure[:, :] = 0.7  # a whole photo marked, nowhere sure (a mountain turned sideways)
    unsure[:5, :10] = TURN_SURE  # sure on 0.5%, a tenth of what it marks
    assert surest_turn(upright, [unsure, person]) is person
    assert surest_turn(upright, [unsure]) is None
    assert surest_turn(person, [person.copy()]) is None  # no surer than upright
    speck = upright.copy()
    speck[:2, :2] = 1.0  # sure, but 0.04% of the photo
    assert surest_turn(upright, [speck]) is None
