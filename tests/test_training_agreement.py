"""The teachers' agreement on a label (training.agreement) and the training pairs it leaves out."""

from __future__ import annotations

import csv
import logging

import numpy as np
import pytest

from tests.shapes import write_root
from training import agreement, teach
from training import data as datalib
from training.config import DataConfig, DataRoot, ModelConfig, RunConfig, TrainConfig


def _person(rgb: np.ndarray) -> np.ndarray:
    """A member that finds the drawn shape (the bright pixels)."""
    return (rgb.mean(axis=2) > 120).astype(np.float32)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.count_nonzero(a & b) / np.count_nonzero(a | b))


def test_the_agreement_of_the_members_a_label_was_made_of(tmp_path):
    """Three members, one of which finds no one: the file's agreement counts it, the label's does not."""
    root, out = write_root(tmp_path / "root", 1), tmp_path / "taught"
    members = {"found": _person, "shifted": lambda rgb: np.roll(_person(rgb), 2, axis=1),
               "blind": lambda rgb: np.zeros(rgb.shape[:2], np.float32)}
    teach.teach([root], out, members, min_agreement=0.0)
    row = agreement.read(out)["s000"]
    image = datalib.read_pair(datalib.find_pairs(root)[0]).image
    finders = _iou(_person(image) > 0.5, np.roll(_person(image), 2, axis=1) > 0.5)
    assert 0.5 < finders < 0.95
    assert float(row["agreement"]) == pytest.approx(finders / 3, abs=1e-3)  # two of three pairs score 0
    assert agreement.label_agreement(row) == pytest.approx(finders, abs=1e-3)


@pytest.mark.parametrize("areas, value, expected", [
    ((0.2, 0.3, 0.25), 0.4, 0.4),  # every member found someone: the file's own
    ((0.2, 0.0, 0.0), 0.333, 0.333),  # one finder: the label is every member's mean, so is its agreement
    ((0.0, 0.0, 0.0), 1.0, 1.0),  # person-free
    ((0.2, 0.3, 0.0), 0.3, 0.9),  # two finders out of three
])
def test_label_agreement_by_who_found_someone(areas, value, expected):
    row = {"id": "x", "agreement": str(value), "kept": "True",
           **{f"area_{name}": str(area) for name, area in zip(("student", "u2net", "modnet"), areas)}}
    assert agreement.label_agreement(row) == pytest.approx(expected)


def _report(root, rows: dict[str, tuple[float, float]]) -> None:
    with (root / agreement.FILE).open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "agreement", "kept", "area_student", "area_u2net", "area_modnet"])
        for pair_id, (value, modnet) in rows.items():
            writer.writerow([pair_id, value, True, 0.2, 0.2, modnet])


def test_untrusted_training_pairs_are_left_out_and_hand_labels_stay(tmp_path, caplog):
    taught, hand = write_root(tmp_path / "taught", 4), write_root(tmp_path / "hand", 2)
    # s000: all agree; s001: all disagree; s002: MODNet found no one, the other two agree (0.25 x 3);
    # s003 is not in the report (kept).
    _report(taught, {"s000": (0.9, 0.2), "s001": (0.2, 0.2), "s002": (0.25, 0.0)})
    pairs = datalib.find_pairs(taught) + datalib.find_pairs(hand)
    with caplog.at_level(logging.INFO, logger="training.agreement"):
        kept = agreement.trusted(pairs, 0.5)
    assert [(p.root == str(taught), p.id) for p in kept] == [
        (True, "s000"), (True, "s002"), (True, "s003"), (False, "s000"), (False, "s001")]
    assert "1 pairs left out" in caplog.text
    assert agreement.trusted(pairs, 0.0) == pairs


def test_a_run_trains_on_trusted_pairs_only(tmp_path):
    """train.load_samples leaves the untrusted pairs out of training, never out of validation."""
    from training.train import load_samples

    taught = write_root(tmp_path / "taught", 4)
    _report(taught, {"s000": (0.9, 0.2), "s001": (0.2, 0.2), "s002": (0.1, 0.2), "s003": (0.1, 0.2)})
    pairs = datalib.find_pairs(taught)
    manifest = {"train": pairs[:3], "val": pairs[3:], "test": []}
    config = RunConfig(DataConfig(roots=(DataRoot(str(taught)),), image_size=64, min_agreement=0.5),
                       ModelConfig(), TrainConfig())
    by_root, val = load_samples(config, manifest)
    assert [s.pair.id for s in by_root[0][1]] == ["s000"] and [s.pair.id for s in val] == ["s003"]
    config.save(tmp_path / "config.json")
    assert RunConfig.load(tmp_path / "config.json").data.min_agreement == 0.5

