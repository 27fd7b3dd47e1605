"""The shipped artefact on real photos: people are cut out, person-free photos stay empty."""

from pathlib import Path

import keras
import numpy as np
import pytest
from skimage import data as skdata

from model import SHIPPED_MODEL
from model.pipeline import alpha_for
from training import data as datalib
from training.evaluate import close_up
from training.guards import FLAG_CORNER, ROCKET_CORNER
from training.metrics import confusion, scores
from training.selection import is_missed
from training.showcase import grace_hopper

# The shipped model (the two-output network of 2026-12-06), served on the canvases with the second look at large
# people, on the 24 eg1800 portraits below: IoU mean 0.950, lowest 0.780; their close-ups: mean 0.820, 3 of 24
# missed (the model card's known limits); the one-output model of 2026-12-03 0.953, 0.786 and 0.830, 3 missed; an
# earlier model 0.947, 0.691 and close-ups 0.750 with 5 missed; the one before it 0.694 with 3 photos missed
# and every close-up missed.
PORTRAIT_MEAN_IOU, PORTRAIT_MIN_IOU = 0.94, 0.7
CLOSE_UP_MEAN_IOU, CLOSE_UP_MAX_MISSED = 0.78, 4
# The first 40 everyday photos of har's test split: pooled recall 0.959 (the model of 2026-12-03: 0.920), one
# missed: the seventh, a woman asleep under a blanket that the teacher label covers whole (45% of the photo;
# the model of 2026-12-03 gave it a median alpha of 95 of 255 there and marked 1.6% of the photo, under the
# tenth that counts as found). On the whole test split it misses 3 of 283 (model card). The negatives' test
# split (animals, vehicles, rooms): mean person area 0.58%, at most 8.3% of one photo, an elephant calf's head
# (the target: at most 1% on average; the model of 2026-12-03: 0.74% and 8.6%). Candidates trained longer on
# people in action broke these bounds: recall 0.899 and one photo 15.5%, one the elephant at 12.3%, and
# two-output candidates of 2026-12-06 up to 1.78% and 25.9% (model card, How it was chosen: not shipped).
EVERYDAY_MIN_RECALL, EVERYDAY_MAX_MISSED = 0.9, 1
PERSON_FREE_MEAN_AREA, PERSON_FREE_MAX_AREA = 0.01, 0.1


def test_artefact_is_small_and_fixed_size():
    assert SHIPPED_MODEL.stat().st_size <= 30 * 1024 * 1024
    network = keras.saving.load_model(SHIPPED_MODEL, compile=False)
    assert network.input_shape[1] == network.input_shape[2] and network.input_shape[1] % 16 == 0


def test_astronaut_corners_transparent_face_mostly_opaque(segmenter, astronaut):
    alpha = alpha_for(segmenter, astronaut, refine=True)
    # The shipped model leaves some alpha in the top corners: 164 by the flag and 0 by the rocket (the model of
    # 2026-12-03: 178 and 0, its rocket 67 before the decisive alpha cleared it; an earlier model 60 and 72):
    # background next to a person is its known limit (model card). This catches a model that takes them in
    # whole (all but three two-output candidates of 2026-12-06 gave the flag 255; `python -m training.guards`
    # prints both corners for a candidate file).
    assert alpha[FLAG_CORNER].max() < 200 and alpha[ROCKET_CORNER].max() < 150, "top corners"
    assert np.median(alpha[80:150, 190:260]) > 200, "face"


def test_astronaut_face_and_torso_opaque(segmenter, astronaut):
    # The model of 2026-11-26 gives the face a lowest alpha of 222 and the orange suit a median of 251
    # (the model of 2026-11-25: 218 and 238).
    alpha = alpha_for(segmenter, astronaut, refine=True)
    assert alpha[80:150, 190:260].min() > 200, "face"
    assert np.median(alpha[300:450, 80:250]) > 200, "torso"


@pytest.mark.xfail(strict=True, reason="known limit (model card): every model trained on portraits and everyday "
                   "photos reads a cat's face filling the frame as a person (the shipped one: 77%)")
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
    # Matplotlib's Grace Hopper (public domain). The shipped model finds the navy uniform too (median alpha
    # 255 on its left), but gives the flag behind her a mean alpha of 25 of 255 (41 to 157 for older models and
    # canvases): see the model card's known limits. The bound below catches a model that takes in the whole flag.
    alpha = alpha_for(segmenter, grace_hopper(), refine=True)
    assert np.median(alpha[160:300, 190:330]) > 200, "face"
    assert np.median(alpha[330:420, 220:300]) > 200, "shirt"
    assert np.median(alpha[450:, 60:200]) > 200, "uniform"
    assert alpha[:300, 430:].max() < 30, "sky"
    assert alpha[:300, :120].mean() < 180, "flag"


SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PORTRAITS = 24  # the first photos of eg1800's test split (never trained on, never used to choose the model)
EVERYDAY = 40  # the first photos of har's test split


def shared_test_split(name: str, count: int | None = None) -> list[datalib.Sample]:
    """The first `count` photos of a set's test split in ../shared (skipped where it is absent, e.g. outside CI)."""
    root = SHARED_DATA / name
    if not root.is_dir():
        pytest.skip(f"{root} is absent: the {name} photos are read from ../shared/data at test time")
    return [datalib.read_pair(pair) for pair in datalib.default_test_pairs(root, count)]


@pytest.fixture(scope="module")
def eg1800_portraits() -> list[datalib.Sample]:
    """Hand-labelled portraits and selfies."""
    return shared_test_split("eg1800", PORTRAITS)


def _served_counts(segmenter, sample: datalib.Sample) -> np.ndarray:
    """[tp, fp, fn, tn] of the alpha the service returns (refined) against the mask, at alpha 0.5."""
    return confusion(sample.mask, alpha_for(segmenter, sample.image, refine=True) / 255.0)


def _iou(segmenter, sample: datalib.Sample) -> float:
    return scores(_served_counts(segmenter, sample))["jaccard"]


def test_eg1800_portraits_are_cut_out_whole(segmenter, eg1800_portraits):
    ious = [_iou(segmenter, sample) for sample in eg1800_portraits]
    assert np.mean(ious) > PORTRAIT_MEAN_IOU and min(ious) > PORTRAIT_MIN_IOU, sorted(ious)[:3]


def test_close_ups_of_eg1800_portraits_are_mostly_found(segmenter, eg1800_portraits):
    # Head-and-shoulders crops cut around the head (training.evaluate.close_up): a face filling the frame,
    # closer than any photo of the set. An earlier model missed all 24; the shipped one misses 3 (known limit).
    ious = [_iou(segmenter, close_up(sample)) for sample in eg1800_portraits]
    assert np.mean(ious) > CLOSE_UP_MEAN_IOU and sum(iou < 0.1 for iou in ious) <= CLOSE_UP_MAX_MISSED, sorted(ious)


def test_everyday_photos_of_people_are_found(segmenter):
    # Groups, children, sitting and lying people, indoor rooms (machine labels: recall, not edges, is judged).
    counts = [_served_counts(segmenter, sample) for sample in shared_test_split("har", EVERYDAY)]
    recall = scores(sum(counts))["recall"]
    # predicted and true person area, as shares of the photo: [tp + fp, tp + fn] / all
    missed = sum(is_missed((c[0] + c[1]) / c.sum(), (c[0] + c[2]) / c.sum()) for c in counts)
    assert recall > EVERYDAY_MIN_RECALL and missed <= EVERYDAY_MAX_MISSED, (recall, missed)


def test_person_free_photos_stay_empty(segmenter):
    areas = [float((alpha_for(segmenter, sample.image, refine=True) >= 128).mean())
             for sample in shared_test_split("negatives")]
    assert np.mean(areas) < PERSON_FREE_MEAN_AREA and max(areas) < PERSON_FREE_MAX_AREA, sorted(areas)[-3:]


def test_the_guard_figures_of_candidates_are_the_guards_own(capsys):
    """`python -m training.guards` measures a candidate file as the guard tests measure the shipped one: on
    the shipped file it prints the figures the comments above and the model card give."""
    from training import guards

    if not (SHARED_DATA / "negatives").is_dir():
        pytest.skip(f"{SHARED_DATA} is absent")
    assert guards.main([str(SHIPPED_MODEL), "--data", str(SHARED_DATA)]) == 0
    row = capsys.readouterr().out.strip().splitlines()[-1]
    name, *figures = [cell.strip() for cell in row.strip("|").split("|")]
    figures[3], most_marked = figures[3].removesuffix(")").split(" (")
    measured = [float(figure.rstrip("%")) for figure in figures]
    # 21.3% of the small astronaut under all and 7.0% under subject (the subject output leaves out most of the
    # smaller person apart from the large one), 0.58% / 8.3% of the negatives (the most-marked photo: two elephant
    # calves), the flag and rocket corners' highest alpha 164 and 0, with room for another CPU's rounding in the
    # last digit printed
    assert name == str(SHIPPED_MODEL) and most_marked == "coco000000000263", row
    assert measured[:2] == pytest.approx([21.3, 7.0], abs=0.2) and measured[2] == pytest.approx(0.58, abs=0.02)
    assert measured[3] == pytest.approx(8.3, abs=0.2) and measured[4:] == pytest.approx([164, 0], abs=2), row
