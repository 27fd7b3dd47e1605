"""training.calibrate: the output bias is scored as served, and the best one is folded into the saved file."""

import cv2
import keras
import numpy as np
from skimage import data as skdata

from model import SHIPPED_MODEL
from model.pipeline import alpha_for
from model.segmenter import Segmenter
from training import calibrate
from training import data as datalib


def _write_run(tmp_path, photos: dict[str, tuple[np.ndarray, np.ndarray]]):
    root = tmp_path / "data"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for name, (rgb, mask) in photos.items():
        cv2.imwrite(str(root / "images" / f"{name}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(root / "masks" / f"{name}.png"), mask.astype(np.uint8) * 255)
    run = tmp_path / "run"
    run.mkdir()
    pairs = [datalib.Pair(str(root), name) for name in photos]
    datalib.save_manifest({"train": [], "val": pairs, "test": []}, run / "manifest.json")
    return run


def test_the_bias_that_matches_the_labels_is_chosen_and_saved(tmp_path, capsys):
    astronaut = skdata.astronaut()
    segmenter = Segmenter.load(SHIPPED_MODEL, fast=False)  # its own copy: the shared fixture's network must stay as shipped
    original = segmenter.network.get_layer("logits").bias.numpy().copy()
    # Labels as the network itself draws the person one logit unit towards "person": bias +1 matches them.
    calibrate.shift_logits(segmenter, original, 1.0)
    labels = alpha_for(segmenter, astronaut, refine=True) >= 128
    run = _write_run(tmp_path, {"astronaut": (astronaut, labels),
                                "coffee": (skdata.coffee(), np.zeros(skdata.coffee().shape[:2], bool))})
    out = tmp_path / "calibrated.keras"

    assert calibrate.main(["--model", str(SHIPPED_MODEL), "--run", str(run), "--biases", "-1", "0", "1", "2",
                           "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "best-scoring bias +1.00" in printed and "| -1.00 |" in printed and "| +2.00 |" in printed
    saved = keras.saving.load_model(out, compile=False)
    np.testing.assert_allclose(saved.get_layer("logits").bias.numpy(), original + 1.0, rtol=1e-6)
    served = Segmenter(saved, segmenter.size)
    assert np.array_equal(alpha_for(served, astronaut, refine=True) >= 128, labels)


def test_a_chosen_bias_is_folded_in_and_nothing_is_written_without_out(tmp_path):
    astronaut = skdata.astronaut()
    run = _write_run(tmp_path, {"astronaut": (astronaut, np.zeros(astronaut.shape[:2], bool))})
    out = tmp_path / "chosen.keras"
    assert calibrate.main(["--model", str(SHIPPED_MODEL), "--run", str(run), "--biases", "0", "--bias", "-0.75",
                           "--out", str(out)]) == 0
    shipped = keras.saving.load_model(SHIPPED_MODEL, compile=False).get_layer("logits").bias.numpy()
    saved = keras.saving.load_model(out, compile=False).get_layer("logits").bias.numpy()
    np.testing.assert_allclose(saved, shipped - 0.75, rtol=1e-6)
    assert calibrate.main(["--model", str(SHIPPED_MODEL), "--run", str(run), "--biases", "0"]) == 0
    assert sorted(path.name for path in tmp_path.iterdir()) == ["chosen.keras", "data", "run"]


def test_a_larger_bias_marks_more_person(tmp_path):
    astronaut = skdata.astronaut()
    segmenter = Segmenter.load(SHIPPED_MODEL, fast=False)
    run = _write_run(tmp_path, {"astronaut": (astronaut, alpha_for(segmenter, astronaut, refine=True) >= 128)})
    results = calibrate.calibrate(segmenter, datalib.load_manifest(run / "manifest.json")["val"], [-2.0, 0.0, 2.0])
    areas = [summary["overall"]["mean_person_area"] for _, _, summary in results]
    assert areas[0] < areas[1] < areas[2]
    assert [bias for bias, _, _ in results] == [-2.0, 0.0, 2.0] and max(results, key=lambda r: r[1])[0] == 0.0
    # the network is left as it was
    untouched = Segmenter.load(SHIPPED_MODEL, fast=False)
    assert np.array_equal(alpha_for(segmenter, astronaut, refine=True), alpha_for(untouched, astronaut, refine=True))


def test_an_empty_validation_split_is_one_clear_error(tmp_path, capsys):
    run = _write_run(tmp_path, {})
    assert calibrate.main(["--model", str(SHIPPED_MODEL), "--run", str(run), "--out", str(tmp_path / "x.keras")]) == 2
    assert "validation split" in capsys.readouterr().err and not (tmp_path / "x.keras").exists()


def test_an_everyone_labelled_root_is_scored_beside_or_instead_of_the_run(tmp_path, capsys):
    astronaut = skdata.astronaut()
    run = _write_run(tmp_path / "run-side", {"coffee": (skdata.coffee(), np.zeros(skdata.coffee().shape[:2], bool))})
    labels = alpha_for(Segmenter.load(SHIPPED_MODEL, fast=False), astronaut, refine=True) >= 128
    group = _write_run(tmp_path / "group-side", {"astronaut": (astronaut, labels)}).parent / "data"
    assert calibrate.main(["--model", str(SHIPPED_MODEL), "--run", str(run), "--biases", "0",
                           "--data", str(group)]) == 0
    both = capsys.readouterr().out
    assert "(2 photos)" in both and "data IoU / recall / missed" in both
    assert calibrate.main(["--model", str(SHIPPED_MODEL), "--run", str(run), "--biases", "0", "--data", str(group),
                           "--sets", "nothing-by-this-name"]) == 2
    assert "no pair left" in capsys.readouterr().err
