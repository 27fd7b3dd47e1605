"""The shipped artefact on real photos: a person is cut out, a cat is not a person."""

from pathlib import Path

import keras
import numpy as np
import pytest
from skimage import data as skdata

from model import SHIPPED_MODEL
from model.pipeline import alpha_for
from training import data as datalib
from training.config import DataConfig
from training.evaluate import close_up
from training.showcase import grace_hopper

# The shipped model of 2026-11-30 on the 24 eg1800 portraits below: IoU mean 0.947, lowest 0.691; their
# close-ups: mean 0.750, 5 of 24 missed (see the model card's known limits). The model before: 0.694 with
# 3 photos missed, and every close-up missed.
PORTRAIT_MEAN_IOU, PORTRAIT_MIN_IOU = 0.93, 0.6
CLOSE_UP_MEAN_IOU, CLOSE_UP_MAX_MISSED = 0.7, 5


def test_artefact_is_small_and_fixed_size():
    assert SHIPPED_MODEL.stat().st_size <= 30 * 1024 * 1024
    network = keras.saving.load_model(SHIPPED_MODEL, compile=False)
    assert network.input_shape[1] == network.input_shape[2] and network.input_shape[1] % 16 == 0


def test_astronaut_corners_transparent_face_mostly_opaque(segmenter, astronaut):
    alpha = alpha_for(segmenter, astronaut, refine=True)
    # The model of 2026-11-30 leaves some alpha in the corners (60 by the flag, 72 by the rocket; the model
    # before: 2): background next to a person is its known limit (model card). This catches a model that
    # takes them in.
    assert alpha[:30, :30].max() < 100 and alpha[:30, -30:].max() < 100, "top corners"
    assert np.median(alpha[80:150, 190:260]) > 200, "face"


def test_astronaut_face_and_torso_opaque(segmenter, astronaut):
    # The model of 2026-11-26 gives the face a lowest alpha of 222 and the orange suit a median of 251
    # (the model of 2026-11-25: 218 and 238).
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


def test_portrait_found_whole_sky_left_out_flag_mostly(segmenter):
    # Matplotlib's Grace Hopper (public domain). The model of 2026-11-26 finds the navy uniform too
    # (median alpha 253 on its left; the model before: 132), but gives the flag behind her a mean alpha
    # of 96 of 255 (the model before: 41; the model of 2026-11-30: 120): see the model card's
    # known limits. The bound below catches a model that takes in the whole flag.
    alpha = alpha_for(segmenter, grace_hopper(), refine=True)
    assert np.median(alpha[160:300, 190:330]) > 200, "face"
    assert np.median(alpha[330:420, 220:300]) > 200, "shirt"
    assert np.median(alpha[450:, 60:200]) > 200, "uniform"
    assert alpha[:300, 430:].max() < 30, "sky"
    assert alpha[:300, :120].mean() < 135, "flag"  # the model of 2026-11-30: 120


SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PORTRAITS = 24  # the first photos of eg1800's test split (never trained on, never used to choose the model)
EVERYDAY = 40  # the first photos of har's test split
IN_DATA = "read from ../shared/data at test time"


def shared_test_split(name: str, count: int | None = None) -> list[datalib.Sample]:
    """The first `count` photos of a set's test split in ../shared (skipped where it is absent, e.g. outside CI)."""
    root = SHARED_DATA / name
    if not root.is_dir():
        pytest.skip(f"{root} is absent: the {name} photos are {IN_DATA}")
    pairs = datalib.split_root(datalib.find_pairs(root), DataConfig.val_fraction, DataConfig.test_fraction, 1)
    return [datalib.read_pair(pair) for pair in pairs["test"][:count]]


@pytest.fixture(scope="module")
def eg1800_portraits() -> list[datalib.Sample]:
    """Hand-labelled portraits and selfies."""
    return shared_test_split("eg1800", PORTRAITS)


def _iou(alpha8: np.ndarray, mask: np.ndarray) -> float:
    predicted, truth = alpha8 >= 128, mask > 0
    return float((predicted & truth).sum() / max(1, (predicted | truth).sum()))


def test_eg1800_portraits_are_cut_out_whole(segmenter, eg1800_portraits):
    ious = [_iou(alpha_for(segmenter, sample.image, refine=True), sample.mask) for sample in eg1800_portraits]
    assert np.mean(ious) > PORTRAIT_MEAN_IOU and min(ious) > PORTRAIT_MIN_IOU, sorted(ious)[:3]


def test_close_ups_of_eg1800_portraits_are_mostly_found(segmenter, eg1800_portraits):
    # Head-and-shoulders crops cut around the head (training.evaluate.close_up): a face filling the frame,
    # closer than any photo of the set. The model before missed all 24; this one misses 5 (known limit).
    crops = [close_up(sample) for sample in eg1800_portraits]
    ious = [_iou(alpha_for(segmenter, crop.image, refine=True), crop.mask) for crop in crops]
    assert np.mean(ious) > CLOSE_UP_MEAN_IOU and sum(iou < 0.1 for iou in ious) <= CLOSE_UP_MAX_MISSED, sorted(ious)
