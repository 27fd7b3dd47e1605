"""training.action: the held-out people in action, composed from one split only, the same every time,
the turned person alone in the label; and training.evaluate scores it beside a run's split."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.shapes import write_root
from training import action
from training import data as datalib


@pytest.fixture(scope="module")
def split(tmp_path_factory) -> list[datalib.Pair]:
    base = tmp_path_factory.mktemp("sets")
    roots = [write_root(base / "ccp", 4), write_root(base / "har", 3, prefix="h"),
             write_root(base / "negatives", 0, empty=2, prefix="n")]
    return [pair for root in roots for pair in datalib.find_pairs(root)]


def _read(root: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(cv2.imread(str(root / "images" / f"{p.id}.png")), cv2.imread(str(p.mask_path), cv2.IMREAD_UNCHANGED))
            for p in datalib.find_pairs(root)]


def test_one_photo_per_person_of_the_split_the_same_every_time(split, tmp_path):
    assert action.build(split, tmp_path / "a") == 4 and action.build(split, tmp_path / "b") == 4
    first, again = _read(tmp_path / "a"), _read(tmp_path / "b")
    assert len(first) == 4
    for (image, mask), (image_again, mask_again) in zip(first, again):
        assert image.shape == (action.SIZE, action.SIZE, 3) and mask.shape == (action.SIZE, action.SIZE)
        np.testing.assert_array_equal(image, image_again)
        np.testing.assert_array_equal(mask, mask_again)
        assert 0.005 < np.mean(mask > 127) < 0.5, "one person, turned, part of the frame"


def test_the_label_is_the_turned_person_alone_and_the_audience_stays_background(split, tmp_path):
    action.build(split, tmp_path / "set")
    (image, mask) = _read(tmp_path / "set")[2]  # every third photo has an audience
    # The shapes of the audience are bright (150..255) on a dark photo; outside the label they stay.
    bright = image.max(axis=-1) > 140
    assert np.count_nonzero(bright & (mask < 128)) > 500
    assert np.count_nonzero(mask > 127) > 0


def test_a_split_without_people_or_backgrounds_is_refused(split, tmp_path):
    with pytest.raises(ValueError, match="ccp"):
        action.build([pair for pair in split if Path(pair.root).name != "negatives"], tmp_path / "none")


def test_the_command_writes_the_set_from_a_runs_split(split, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    datalib.save_manifest({"train": [], "val": split, "test": []}, run / "manifest.json")
    assert action.main(["--run", str(run), "--split", "val", "--out", str(tmp_path / "action-val")]) == 0
    assert "composed 4 photos" in capsys.readouterr().out
    assert len(datalib.find_pairs(tmp_path / "action-val")) == 4
