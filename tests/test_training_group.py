"""training.group: two people of one split, the subject on one side and a smaller one on the other, both
in the label, the same every time."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.shapes import write_root
from training import data as datalib
from training import group


@pytest.fixture(scope="module")
def split(tmp_path_factory) -> list[datalib.Pair]:
    base = tmp_path_factory.mktemp("sets")
    roots = [write_root(base / "ccp", 3), write_root(base / "eg1800", 2, prefix="e"),
             write_root(base / "har", 2, prefix="h"), write_root(base / "negatives", 0, empty=2, prefix="n")]
    for photo in (base / "negatives" / "images").iterdir():  # white, unlike the people's dark photos
        cv2.imwrite(str(photo), np.full((72, 64, 3), 255, np.uint8))
    return [pair for root in roots for pair in datalib.find_pairs(root)]


def _read(root: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(cv2.imread(str(root / "images" / f"{p.id}.png")), cv2.imread(str(p.mask_path), cv2.IMREAD_UNCHANGED))
            for p in datalib.find_pairs(root)]


def _regions(mask: np.ndarray) -> list[tuple[int, int, int]]:
    """(height, left, right) of each person in the label, tallest first."""
    _, _, stats, _ = cv2.connectedComponentsWithStats((mask > 127).astype(np.uint8), connectivity=8)
    boxes = [(int(s[cv2.CC_STAT_HEIGHT]), int(s[cv2.CC_STAT_LEFT]), int(s[cv2.CC_STAT_LEFT] + s[cv2.CC_STAT_WIDTH]))
             for s in stats[1:] if s[cv2.CC_STAT_AREA] > 20]
    return sorted(boxes, reverse=True)


def test_one_photo_per_person_of_ccp_and_eg1800_the_same_every_time(split, tmp_path):
    assert group.build(split, tmp_path / "a") == 5 and group.build(split, tmp_path / "b") == 5
    for (image, mask), (image_again, mask_again) in zip(_read(tmp_path / "a"), _read(tmp_path / "b")):
        assert image.shape == (group.SIZE, group.SIZE, 3) and mask.shape == (group.SIZE, group.SIZE)
        np.testing.assert_array_equal(image, image_again)
        np.testing.assert_array_equal(mask, mask_again)


def test_both_people_are_in_the_label_the_second_smaller_and_on_the_other_side(split, tmp_path):
    group.build(split, tmp_path / "set")
    for image, mask in _read(tmp_path / "set"):
        regions = _regions(mask)
        assert len(regions) == 2, "the subject and the second person, apart"
        (tall, tall_left, tall_right), (small, small_left, small_right) = regions
        assert small <= group.SECOND_SCALE[1] * group.SIZE + 1 and small <= group.SECOND_AT_MOST * tall + 1
        assert small_right <= tall_left or tall_right <= small_left, "side by side"
        # The people are the bright shapes of their photos; the person-free background is dark (< 90).
        assert np.mean(image[mask > 250].max(axis=-1) > 120) > 0.9


def test_every_second_photo_shows_the_second_person_in_a_piece_of_their_own_photo(split, tmp_path):
    group.build(split, tmp_path / "set")
    for index, (image, mask) in enumerate(_read(tmp_path / "set")):
        _, labels, stats, _ = cv2.connectedComponentsWithStats((mask > 127).astype(np.uint8))
        second = 1 + int(np.argmin(stats[1:, cv2.CC_STAT_HEIGHT]))
        ring = (cv2.dilate((labels == second).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0) & (mask < 10)
        dark = np.mean(image[ring].max(axis=-1) < 100)  # the person's own photo is dark, the backdrop white
        if index % group.INSET_EVERY == group.INSET_EVERY - 1:
            assert dark > 0.9, "around the person, their own photo"
        else:
            assert dark < 0.1, "around the person, the backdrop"


def test_a_split_without_two_people_or_a_background_is_refused(split, tmp_path):
    with pytest.raises(ValueError, match="negatives"):
        group.build([pair for pair in split if Path(pair.root).name != "negatives"], tmp_path / "none")
    with pytest.raises(ValueError, match="ccp or eg1800"):
        group.build([pair for pair in split if Path(pair.root).name in ("har", "negatives")], tmp_path / "none")


def test_the_command_writes_the_set_from_a_runs_split(split, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    datalib.save_manifest({"train": [], "val": split, "test": []}, run / "manifest.json")
    assert group.main(["--run", str(run), "--split", "val", "--out", str(tmp_path / "group-val")]) == 0
    assert "composed 5 photos" in capsys.readouterr().out
    assert len(datalib.find_pairs(tmp_path / "group-val")) == 5
    assert group.main(["--run", str(tmp_path / "missing"), "--out", str(tmp_path / "x")]) == 2
