"""The fast forward pass (the shipped model's LiteRT file) gives the Keras graph's answers, and a missing,
damaged or stale fast file falls back to the Keras graph with one log line."""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pytest
from skimage import data as skdata

from model import SHIPPED_MODEL, litert
from model.pipeline import alpha_for
from model.segmenter import Segmenter
from training.showcase import load_photo


def test_the_shipped_model_serves_on_its_fast_file(segmenter):
    assert litert.fast_path(SHIPPED_MODEL).is_file() and litert.stamp_path(SHIPPED_MODEL).is_file()
    assert segmenter.engine == "LiteRT (XNNPACK)"
    assert set(segmenter.looks) <= set(segmenter.fast.shapes)


@pytest.fixture(scope="module")
def keras_only(segmenter):
    """The same network with the forward pass by TensorFlow's traced graph."""
    return Segmenter(segmenter.network, segmenter.size, segmenter.second_look)


@pytest.mark.parametrize("name", ["astronaut", "grace_hopper", "camera", "coffee", "chelsea", "street"])
def test_served_alpha_matches_the_keras_graph_on_real_photos(segmenter, keras_only, name):
    if name == "street":  # the astronaut at the side of a wide frame: the 16:9 canvas
        photo = np.ascontiguousarray(np.pad(skdata.astronaut(), ((0, 0), (0, 400), (0, 0)), mode="edge"))
    else:
        photo = load_photo(name)
    assert keras_only.engine == "TensorFlow graph"
    fast, keras = alpha_for(segmenter, photo, refine=True), alpha_for(keras_only, photo, refine=True)
    close = np.abs(fast.astype(int) - keras.astype(int)) <= 1
    assert close.mean() >= 0.999, close.mean()
    probability = np.abs(segmenter.predict(photo) - keras_only.predict(photo)).max()
    assert probability < 1e-3  # measured at most 3.8e-4 (the astronaut); one alpha level is 3.9e-3


def _copy(tmp_path, fast: bool = True, stamp: bool = True):
    path = tmp_path / "model.keras"
    shutil.copy(SHIPPED_MODEL, path)
    if fast:
        shutil.copy(litert.fast_path(SHIPPED_MODEL), litert.fast_path(path))
    if stamp:
        shutil.copy(litert.stamp_path(SHIPPED_MODEL), litert.stamp_path(path))
    return path


def test_a_copy_with_its_fast_file_serves_on_it(tmp_path):
    assert Segmenter.load(_copy(tmp_path)).engine == "LiteRT (XNNPACK)"


@pytest.mark.parametrize("case, message", [
    ("missing", "no fast LiteRT file"),
    ("no stamp", "no fast LiteRT file"),
    ("corrupt", "could not be loaded"),
    ("truncated", "could not be loaded"),
    ("stale", "is stale"),
    ("bad stamp", "unreadable"),
])
def test_a_missing_or_broken_fast_file_falls_back_with_a_log_line(tmp_path, caplog, astronaut, case, message):
    path = _copy(tmp_path, fast=case != "missing", stamp=case != "no stamp")
    fast = litert.fast_path(path)
    if case == "corrupt":
        fast.write_bytes(b"not a flatbuffer" * 100)
    elif case == "truncated":
        fast.write_bytes(fast.read_bytes()[: fast.stat().st_size // 3])
    elif case == "stale":
        path.write_bytes(path.read_bytes() + b"\0")  # another Keras file than the one the fast file came from
    elif case == "bad stamp":
        litert.stamp_path(path).write_text("{")
    with caplog.at_level(logging.WARNING, logger="model.litert"):
        segmenter = Segmenter.load(path) if case != "stale" else _load_stale(path)
    lines = [record.getMessage() for record in caplog.records if record.name == "model.litert"]
    assert len(lines) == 1 and message in lines[0] and "serving with the Keras graph" in lines[0], lines
    assert segmenter.engine == "TensorFlow graph"
    assert segmenter.predict(astronaut)[100:150, 200:250].mean() > 0.5  # still serves: her face


def _load_stale(path):
    """A Keras file changed after its fast file was written: still a model that loads (zip tolerates the
    trailing byte), with a fingerprint that no longer matches."""
    return Segmenter.load(path)
