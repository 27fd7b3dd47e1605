"""training.data: discovery, bad pairs, grouped deterministic split, manifest round trip."""

import logging

import cv2
import numpy as np
import pytest

from tests.shapes import write_root
from training import data as datalib
from training.config import DataRoot


def test_find_pairs_skips_a_photo_without_mask(tmp_path, caplog):
    root = write_root(tmp_path / "set", 4)
    (root / "masks" / "s002.png").unlink()
    with caplog.at_level(logging.WARNING):
        pairs = datalib.find_pairs(root)
    assert [p.id for p in pairs] == ["s000", "s001", "s003"]
    assert "s002.jpg" in caplog.text and "no mask" in caplog.text


def test_unreadable_photo_is_skipped_with_one_warning(tmp_path, caplog):
    root = write_root(tmp_path / "set", 3)
    (root / "images" / "s001.jpg").write_bytes(b"not a jpeg")
    with caplog.at_level(logging.WARNING):
        samples = datalib.read_pairs(datalib.find_pairs(root))
    assert [s.pair.id for s in samples] == ["s000", "s002"]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "s001.jpg" in warnings[0].getMessage()


def test_webp_photos_are_found_and_decoded(tmp_path):
    # WebP: the compact form a data set takes to a GPU host (docs/TRAINING.md, "On a GPU host").
    root = write_root(tmp_path / "set", 2)
    jpeg = root / "images" / "s001.jpg"
    cv2.imwrite(str(jpeg.with_suffix(".webp")), cv2.imread(str(jpeg)), [cv2.IMWRITE_WEBP_QUALITY, 101])
    jpeg.unlink()
    pairs = datalib.find_pairs(root)
    assert [p.image_path.name for p in pairs] == ["s000.jpg", "s001.webp"]
    sample = datalib.read_pair(pairs[1])
    assert sample.image.shape == (72, 64, 3) and sample.mask.any()


def test_root_without_pairs_names_the_root_and_layout(tmp_path):
    (tmp_path / "empty" / "images").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"empty.*no usable pairs.*images/<id>"):
        datalib.find_pairs(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="no images/ folder"):
        datalib.find_pairs(tmp_path / "missing")


def test_mask_of_other_size_and_three_channels_is_resized_nearest(tmp_path):
    root = write_root(tmp_path / "set", 1)
    mask = np.zeros((36, 32, 3), dtype=np.uint8)
    mask[10:20, 8:16] = 200
    cv2.imwrite(str(root / "masks" / "s000.png"), mask)
    sample = datalib.read_pair(datalib.find_pairs(root)[0])
    assert sample.mask.shape == sample.image.shape[:2] == (72, 64)
    assert set(np.unique(sample.mask)) == {0, 1}


def test_split_is_deterministic_and_keeps_sequences_together(tmp_path):
    root = tmp_path / "video"
    write_root(root, 0, empty=1)
    pairs = [datalib.Pair(str(root), f"davis_seq{s}_{f:05d}") for s in range(10) for f in range(5)]
    pairs += [datalib.Pair(str(root), f"photo{i}") for i in range(50)]
    first = datalib.split_root(pairs, 0.1, 0.1, seed=3)
    again = datalib.split_root(list(reversed(pairs)), 0.1, 0.1, seed=3)
    assert {k: [p.id for p in v] for k, v in first.items()} == {k: [p.id for p in v] for k, v in again.items()}
    assert sum(len(v) for v in first.values()) == 100
    for sequence in range(10):
        homes = {split for split, members in first.items() for p in members if p.id.startswith(f"davis_seq{sequence}_")}
        assert len(homes) == 1
    assert 70 <= len(first["train"]) <= 90 and first["val"] and first["test"]


def test_kaggle_lists_are_used(tmp_path):
    root = write_root(tmp_path / "kaggle", 10)
    (root / "segmentation").mkdir()
    (root / "segmentation" / "train.txt").write_text("\n".join(f"s{i:03d}" for i in range(6)) + "\n")
    (root / "segmentation" / "val.txt").write_text("\n".join(f"s{i:03d}" for i in range(6, 10)) + "\n")
    split = datalib.split_root(datalib.find_pairs(root), 0.1, 0.1, seed=1)
    assert [p.id for p in split["train"]] == [f"s{i:03d}" for i in range(6)]
    assert sorted(p.id for p in split["val"] + split["test"]) == [f"s{i:03d}" for i in range(6, 10)]
    assert len(split["val"]) == len(split["test"]) == 2


def test_manifest_round_trip(tmp_path):
    root = write_root(tmp_path / "set", 10)
    manifest = datalib.make_manifest([str(root)], 0.2, 0.2, seed=1)
    datalib.save_manifest(manifest, tmp_path / "manifest.json")
    assert datalib.load_manifest(tmp_path / "manifest.json") == manifest


@pytest.mark.parametrize("text, expected", [
    ("../data/ccp", DataRoot("../data/ccp", 1.0, "subject")),  # ccp's labels leave passers-by out
    ("../data/ccp:0.3", DataRoot("../data/ccp", 0.3, "subject")),
    ("C:/data:2", DataRoot("C:/data", 2.0, "both")),
])
def test_data_root_parsing(text, expected):
    assert DataRoot.parse(text) == expected


def test_a_soft_label_keeps_its_levels_for_training_and_reads_hard_elsewhere(tmp_path):
    root = tmp_path / "taught"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    cv2.imwrite(str(root / "images" / "a.png"), np.full((40, 60, 3), 90, np.uint8))
    levels = np.zeros((40, 60), np.uint8)
    levels[10:30, 20:40] = 200
    levels[10:30, 40:44] = 100  # a soft edge
    cv2.imwrite(str(root / "masks" / "a.png"), levels)
    pair = datalib.find_pairs(root)[0]
    hard, soft = datalib.read_pair(pair), datalib.read_pair(pair, soft=True)
    assert hard.soft is None and set(np.unique(hard.mask)) == {0, 1}
    np.testing.assert_array_equal(soft.mask, hard.mask)
    np.testing.assert_array_equal(soft.soft, levels)
    assert soft.target()[20, 42] == pytest.approx(100 / 255) and hard.target()[20, 42] == 0.0
    shrunk = datalib.read_pair(pair, max_side=30, soft=True)
    assert shrunk.soft.shape == (20, 30) and shrunk.soft.max() <= 200  # area-averaged, never above the label
    assert set(np.unique(shrunk.soft)) - {0, 255}, "the levels survive the shrink"


def test_a_hard_label_read_soft_has_no_levels_to_keep(tmp_path):
    root = tmp_path / "hard"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    cv2.imwrite(str(root / "images" / "a.png"), np.full((40, 60, 3), 90, np.uint8))
    cv2.imwrite(str(root / "masks" / "a.png"), np.pad(np.full((20, 20), 255, np.uint8), 10)[:40, :60])
    sample = datalib.read_pair(datalib.find_pairs(root)[0], max_side=30, soft=True)
    assert sample.soft is None and set(np.unique(sample.target())) == {0.0, 1.0}
