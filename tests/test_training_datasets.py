"""Training batches: how often each pair of a root is drawn."""

import numpy as np
import pytest

from training import train
from training.augment import AugmentConfig
from training.data import Pair, Sample
from training.datasets import group_weights, train_dataset

SEQUENCE_FRAMES = 16
PHOTOS = 4


def _root() -> list[Sample]:
    """One 16-frame video sequence (grey level 10) and four single photos (grey levels 200..203)."""
    empty = np.zeros((24, 24), np.uint8)
    frames = [Sample(Pair("neg", f"davis_cows_{i:05d}"), np.full((24, 24, 3), 10, np.uint8), empty)
              for i in range(SEQUENCE_FRAMES)]
    photos = [Sample(Pair("neg", f"coco{i:012d}"), np.full((24, 24, 3), 200 + i, np.uint8), empty)
              for i in range(PHOTOS)]
    return frames + photos


def test_group_weights_give_a_sequence_the_share_of_one_photo():
    weights = group_weights(_root())
    assert weights.sum() == pytest.approx(1.0)
    assert weights[:SEQUENCE_FRAMES].sum() == pytest.approx(1 / (PHOTOS + 1))
    np.testing.assert_allclose(weights[SEQUENCE_FRAMES:], 1 / (PHOTOS + 1))


@pytest.mark.parametrize("balance, sequence_share", [(True, 1 / (PHOTOS + 1)), (False, SEQUENCE_FRAMES / 20)])
def test_training_batches_draw_groups_as_balanced(balance, sequence_share):
    dataset = train_dataset([(1.0, _root())], AugmentConfig.off(32), batch_size=20, seed=5, balance_groups=balance)
    centres = np.concatenate([images[:, 16, 16, 0].numpy() for images, _ in dataset.take(20)])
    assert len(centres) == 400
    share = float(np.mean(centres < 100))
    assert share == pytest.approx(sequence_share, abs=0.06)


@pytest.mark.parametrize("options, balanced", [([], True), (["--no-group-balance"], False)])
def test_group_balance_is_on_by_default_and_off_with_its_option(options, balanced):
    config = train.config_from_args(train.parse_args(["--data", "root", "--out", "run", *options]))
    assert config.data.balance_groups is balanced
