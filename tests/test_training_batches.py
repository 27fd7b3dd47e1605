"""Worker-process training batches (training without TensorFlow): what is drawn, and that it is reproducible."""

import numpy as np
import pytest

from training import batches, train
from training.config import AugmentConfig
from training.data import Pair, Sample, group_weights

SEQUENCE_FRAMES = 16
PHOTOS = 4


def _sample(root: str, pair_id: str, level: int, person: bool) -> Sample:
    mask = np.zeros((40, 40), np.uint8)
    if person:
        mask[10:30, 15:25] = 1
    return Sample(Pair(root, pair_id), np.full((40, 40, 3), level, np.uint8), mask)


def _roots(person_weight: float = 1.0, free_weight: float = 1.0):
    people = [_sample("people", f"p{i}", 200, True) for i in range(4)]
    free = [_sample("free", f"f{i}", 20, False) for i in range(3)]
    return [(person_weight, people), (free_weight, free)]


def test_a_batch_depends_only_on_the_seed_and_its_index():
    job = batches.make_job(_roots(), AugmentConfig(size=32), batch_size=4, seed=7)
    first, again, other = batches.make_batch(job, 3), batches.make_batch(job, 3), batches.make_batch(job, 4)
    assert first[0].shape == (4, 32, 32, 3) and first[1].shape == (4, 32, 32, 1)
    assert first[0].dtype == first[1].dtype == np.uint8
    np.testing.assert_array_equal(first[0], again[0])
    assert not np.array_equal(first[0], other[0])


def test_the_worker_pool_yields_the_same_batches_in_order_whatever_the_number_of_workers():
    job = batches.make_job(_roots(), AugmentConfig(size=32), batch_size=3, seed=2)
    for workers in (1, 2):
        with batches.WorkerBatches(job, workers) as stream:
            got = [next(iter_) for iter_ in [iter(stream)] for _ in range(5)]
        for index, (images, masks) in enumerate(got):
            expected = batches.make_batch(job, index)
            np.testing.assert_array_equal(images, expected[0])
            assert masks.dtype == np.float32  # uint8 levels between the processes, 0..1 for the losses
            np.testing.assert_array_equal(masks, expected[1] / np.float32(batches.MASK_LEVELS))


@pytest.mark.parametrize("free_weight, free_share", [(1.0, 0.5), (3.0, 0.75)])
def test_roots_are_drawn_with_their_weights(free_weight, free_share):
    job = batches.make_job(_roots(free_weight=free_weight), AugmentConfig.off(32), batch_size=50, seed=1)
    masks = np.concatenate([batches.make_batch(job, i)[1] for i in range(8)])
    share = float(np.mean(masks.max(axis=(1, 2, 3)) == 0))
    assert share == pytest.approx(free_share, abs=0.07)


def _video_and_photos() -> list[Sample]:
    """One 16-frame video sequence (grey level 10) and four single photos (grey levels 200..203)."""
    empty = np.zeros((24, 24), np.uint8)
    frames = [Sample(Pair("neg", f"davis_cows_{i:05d}"), np.full((24, 24, 3), 10, np.uint8), empty)
              for i in range(SEQUENCE_FRAMES)]
    photos = [Sample(Pair("neg", f"coco{i:012d}"), np.full((24, 24, 3), 200 + i, np.uint8), empty)
              for i in range(PHOTOS)]
    return frames + photos


def test_group_weights_give_a_sequence_the_share_of_one_photo():
    weights = group_weights(_video_and_photos())
    assert weights.sum() == pytest.approx(1.0)
    assert weights[:SEQUENCE_FRAMES].sum() == pytest.approx(1 / (PHOTOS + 1))
    np.testing.assert_allclose(weights[SEQUENCE_FRAMES:], 1 / (PHOTOS + 1))


@pytest.mark.parametrize("balance, sequence_share", [(True, 1 / (PHOTOS + 1)), (False, SEQUENCE_FRAMES / 20)])
def test_training_batches_draw_groups_as_balanced(balance, sequence_share):
    job = batches.make_job([(1.0, _video_and_photos())], AugmentConfig.off(32), batch_size=20, seed=5,
                           balance_groups=balance)
    centres = np.concatenate([batches.make_batch(job, i)[0][:, 16, 16, 0] for i in range(20)])
    assert len(centres) == 400
    assert float(np.mean(centres < 100)) == pytest.approx(sequence_share, abs=0.06)


@pytest.mark.parametrize("options, balanced", [([], True), (["--no-group-balance"], False)])
def test_group_balance_is_on_by_default_and_off_with_its_option(options, balanced):
    config = train.config_from_args(train.parse_args(["--data", "root", "--out", "run", *options]))
    assert config.data.balance_groups is balanced


def test_only_photos_with_a_person_become_the_further_people_of_groups():
    job = batches.make_job(_roots(), AugmentConfig(size=32, group_probability=0.5), batch_size=4, seed=1)
    assert job.people is not None
    assert all(s.mask.any() for root in job.people.samples for s in root)
    assert batches.make_job(_roots(), AugmentConfig(size=32, group_probability=0.0), 4, 1).people is None


def test_only_person_free_photos_become_paste_backgrounds():
    job = batches.make_job(_roots(), AugmentConfig(size=32, paste_probability=1.0), batch_size=4, seed=1)
    assert job.backgrounds is not None
    assert all(not s.mask.any() for root in job.backgrounds.samples for s in root)
    assert batches.make_job(_roots(), AugmentConfig(size=32, paste_probability=0.0), 4, 1).backgrounds is None


def test_things_beside_people_are_cut_from_person_free_photos_also_without_pasting():
    options = ["--data", "root", "--out", "run", "--paste-probability", "0", "--object-probability", "0.3"]
    config = AugmentConfig.of(train.config_from_args(train.parse_args(options)).data)
    assert config.object_probability == 0.3 and config.paste_probability == 0.0
    job = batches.make_job(_roots(), config, batch_size=4, seed=1)
    assert job.backgrounds is not None
    assert all(not s.mask.any() for root in job.backgrounds.samples for s in root)


def test_no_weighted_samples_is_an_error():
    with pytest.raises(ValueError, match="no training samples"):
        batches.make_job(_roots(person_weight=0.0, free_weight=0.0), AugmentConfig(size=32), 4, 1)


def test_iterating_before_entering_is_an_error():
    stream = batches.WorkerBatches(batches.make_job(_roots(), AugmentConfig(size=32), 2, 1), workers=1)
    with pytest.raises(RuntimeError, match="entered"):
        next(iter(stream))
