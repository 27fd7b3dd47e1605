"""Run configs written before an option existed load with the behaviour those runs had."""

import json

import pytest

from training import train
from training.config import RunConfig


@pytest.mark.parametrize("section, field, old_value", [
    ("data", "balance_groups", False),  # every pair of a root drawn equally often
    ("train", "loss", "bce-dice"),  # Dice on every image, person-free ones included
    ("data", "paste_scale", (0.25, 1.5)),  # the pasted sizes before the option
    ("data", "photo_scale", (0.6, 2.0)),  # the zoom range of unpasted photos before the option
    ("data", "group_probability", 0.0),  # no further people pasted in
])
def test_a_config_from_before_an_option_keeps_the_old_behaviour(tmp_path, section, field, old_value):
    config = train.config_from_args(train.parse_args(["--data", "root", "--out", "run"]))
    config.save(tmp_path / "config.json")
    raw = json.loads((tmp_path / "config.json").read_text())
    del raw[section][field]
    (tmp_path / "config.json").write_text(json.dumps(raw))
    assert getattr(getattr(RunConfig.load(tmp_path / "config.json"), section), field) == old_value


@pytest.mark.parametrize("option", ["--paste-scale", "--photo-scale"])
def test_a_scale_option_is_recorded_and_checked(tmp_path, option):
    field = option[2:].replace("-", "_")
    config = train.config_from_args(train.parse_args(["--data", "root", "--out", "run", option, "0.1", "1.2"]))
    assert getattr(config.data, field) == (0.1, 1.2)
    config.save(tmp_path / "config.json")
    assert getattr(RunConfig.load(tmp_path / "config.json").data, field) == (0.1, 1.2)
    for bad in (["1.2", "0.1"], ["0", "1.2"]):
        with pytest.raises(SystemExit):
            train.parse_args(["--data", "root", "--out", "run", option, *bad])
