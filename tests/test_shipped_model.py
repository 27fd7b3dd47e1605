"""The shipped artefact on real photos: a person is cut out, a cat is not a person."""

import keras
import numpy as np
from skimage import data as skdata

from model import SHIPPED_MODEL
from model.pipeline import alpha_for
from training.showcase import grace_hopper


def test_artefact_is_small_and_fixed_size():
    assert SHIPPED_MODEL.stat().st_size <= 30 * 1024 * 1024
    network = keras.saving.load_model(SHIPPED_MODEL, compile=False)
    assert network.input_shape[1] == network.input_shape[2] and network.input_shape[1] % 16 == 0


def test_astronaut_corners_transparent_face_mostly_opaque(segmenter, astronaut):
    alpha = alpha_for(segmenter, astronaut, refine=True)
    assert alpha[:30, :30].max() < 30 and alpha[:30, -30:].max() < 30, "top corners"
    assert np.median(alpha[80:150, 190:260]) > 200, "face"


def test_astronaut_face_and_torso_opaque(segmenter, astronaut):
    # The model of 2026-11-25 gives the face a lowest alpha of 215 and the orange suit a median of 206;
    # only about half of the suit is above 200 (the model card lists the suit as a known weakness).
    alpha = alpha_for(segmenter, astronaut, refine=True)
    assert alpha[80:150, 190:260].min() > 200, "face"
    assert np.median(alpha[300:450, 80:250]) > 200, "torso"


def test_cat_is_not_a_person(segmenter):
    probability = segmenter.predict(skdata.chelsea())
    assert (probability >= 0.5).mean() < 0.05


def test_black_and_white_photo_of_a_man_is_found(segmenter):
    # skimage's cameraman (public domain, grey): the first shipped model missed him entirely.
    photo = np.repeat(skdata.camera()[..., None], 3, axis=2)
    alpha = alpha_for(segmenter, photo, refine=True)
    assert np.median(alpha[100:300, 150:230]) > 128, "coat and body"
    assert alpha[:40].max() < 30 and 0.1 < (alpha >= 128).mean() < 0.6


def test_portrait_face_and_shirt_found_sky_and_flag_left_out(segmenter):
    # Matplotlib's Grace Hopper (public domain). A third training stage that was not shipped lost her
    # entirely; the shipped model finds face, cap and shirt, but not all of the dark uniform, and gives
    # the flag's stripes a faint alpha (mean 41 of 255; session 4's model: 9): see the model card.
    alpha = alpha_for(segmenter, grace_hopper(), refine=True)
    assert np.median(alpha[160:300, 190:330]) > 200, "face"
    assert np.median(alpha[330:420, 220:300]) > 200, "shirt"
    assert alpha[:300, 430:].max() < 30, "sky"
    assert alpha[:300, :120].mean() < 50, "flag"
