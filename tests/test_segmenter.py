"""The segmenter's canvases at the photo's aspect and its second look at large people, on the shipped model
and real photos."""

import numpy as np

from model import SHIPPED_MODEL
from model.letterbox import letterbox, unletterbox
from model.segmenter import SECOND_LOOK_SHARE, SECOND_LOOK_SIZE, Segmenter, person_share, photo_area


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
