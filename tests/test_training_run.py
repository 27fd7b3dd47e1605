"""The training command end to end on a tiny generated set: train, resume, evaluate, export, reload."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from tests.shapes import write_root
from training import data as datalib, evaluate, export, train
from training.callbacks import read_log
from training.config import ModelConfig
from training.deeplab import ENCODER_TAPS, build_deeplabv3plus

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    base = tmp_path_factory.mktemp("data")
    return write_root(base / "shapes", 20), write_root(base / "empty", 0, empty=6, prefix="e")


@pytest.fixture(scope="module")
def run(shapes, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "run"
    people, empty = shapes
    code = train.main(["--data", f"{people}:1", f"{empty}:0.3", "--out", str(out), "--image-size", "64",
                       "--batch-size", "4", "--epochs", "1", "--steps-per-epoch", "3", "--head-filters", "16",
                       "--verbose", "0"])
    assert code == 0
    return out


def test_one_epoch_writes_the_run_folder(run):
    for name in ("config.json", "manifest.json", "log.csv", "curves.png", "best.keras", "last.keras"):
        assert (run / name).is_file(), name
    rows = read_log(run / "log.csv")
    assert [row["epoch"] for row in rows] == [0.0]
    assert {"loss", "iou", "val_iou", "precision", "recall", "images_per_s"} <= set(rows[0])
    config = json.loads((run / "config.json").read_text())
    assert config["data"]["image_size"] == 64 and config["model"]["head_filters"] == 16


def test_resume_continues_from_the_saved_epoch(run):
    assert train.main(["--out", str(run), "--resume", "--epochs", "2", "--verbose", "0"]) == 0
    assert [row["epoch"] for row in read_log(run / "log.csv")] == [0.0, 1.0]


def test_a_resumed_run_goes_on_keeping_every_epoch(shapes, tmp_path):
    people, _ = shapes
    out = tmp_path / "kept"
    assert train.main(["--data", str(people), "--out", str(out), "--image-size", "64", "--batch-size", "4",
                       "--epochs", "1", "--steps-per-epoch", "2", "--head-filters", "16", "--keep-epochs",
                       "--verbose", "0"]) == 0
    assert train.main(["--out", str(out), "--resume", "--epochs", "2", "--verbose", "0"]) == 0
    assert sorted(path.name for path in (out / "epochs").iterdir()) == ["e01.keras", "e02.keras"]


@pytest.mark.parametrize("refine", [[], ["--refine"]])
def test_evaluate_writes_the_five_figures(run, tmp_path, refine):
    out = tmp_path / "eval"
    assert evaluate.main(["--model", str(run / "best.keras"), "--run", str(run), "--out", str(out), *refine]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert {"accuracy", "f1", "jaccard", "recall", "precision", "mae"} <= set(summary["overall"])
    assert (out / "panel.png").is_file() and (out / "per_image.csv").is_file()


def test_evaluate_reports_every_set_with_its_missed_photos_and_person_free_area(run, tmp_path, capsys):
    out = tmp_path / "sets"
    assert evaluate.main(["--model", str(run / "best.keras"), "--run", str(run), "--split", "train",
                          "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary) == {"shapes", "empty", "overall"}
    rows = [line.split(",") for line in (out / "per_image.csv").read_text().splitlines()]
    column = {name: i for i, name in enumerate(rows[0])}
    people = [row for row in rows[1:] if float(row[column["true_area"]]) > 0]
    assert summary["shapes"]["person_photos"] == len(people) and summary["empty"]["person_photos"] == 0
    assert summary["shapes"]["missed"] == sum(row[column["missed"]] == "True" for row in people)
    assert summary["empty"]["free_photos"] == summary["empty"]["images"] > 0
    free = [float(row[column["person_area"]]) for row in rows[1:] if row[column["root"]].endswith("empty")]
    assert summary["empty"]["free_area"] == pytest.approx(np.mean(free))
    outlines = [float(row[column["boundary_iou"]]) for row in people]
    assert summary["shapes"]["boundary_iou"] == pytest.approx(np.mean(outlines))
    assert 0.0 <= summary["shapes"]["boundary_iou"] <= 1.0
    printed = capsys.readouterr().out
    assert "| shapes |" in printed and "| empty |" in printed and "selection score" in printed
    assert "Boundary IoU" in printed


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_evaluate_scores_exactly_the_chosen_split(run, tmp_path, split):
    out = tmp_path / split
    assert evaluate.main(["--model", str(run / "best.keras"), "--run", str(run), "--split", split,
                          "--out", str(out)]) == 0
    expected = {pair_id for _, pair_id in json.loads((run / "manifest.json").read_text())[split]}
    scored = {line.split(",")[1] for line in (out / "per_image.csv").read_text().splitlines()[1:]}
    assert scored == expected


def test_evaluate_scores_further_roots_beside_the_runs_split_as_sets_of_their_own(run, tmp_path, capsys):
    extra = write_root(tmp_path / "action-val", 3, prefix="a")
    out = tmp_path / "beside"
    assert evaluate.main(["--model", str(run / "best.keras"), "--run", str(run), "--split", "val",
                          "--data", str(extra), "--out", str(out)]) == 0
    expected = {pair_id for _, pair_id in json.loads((run / "manifest.json").read_text())["val"]} | {"a000", "a001", "a002"}
    scored = {line.split(",")[1] for line in (out / "per_image.csv").read_text().splitlines()[1:]}
    assert scored == expected
    assert "| action-val | 3 |" in capsys.readouterr().out


def test_evaluate_needs_a_run_or_data():
    with pytest.raises(SystemExit):
        evaluate.parse_args(["--model", "m.keras"])


@pytest.mark.parametrize("only, kept", [(["--sets", "empty"], lambda root, pair_id: Path(root).name == "empty"),
                                        (["--id-prefix", "s0"], lambda root, pair_id: pair_id.startswith("s0"))])
def test_evaluate_scores_only_the_sets_and_ids_asked_for(run, tmp_path, only, kept):
    out = tmp_path / "only"
    assert evaluate.main(["--model", str(run / "best.keras"), "--run", str(run), "--split", "train", *only,
                          "--out", str(out)]) == 0
    train_pairs = json.loads((run / "manifest.json").read_text())["train"]
    expected = {pair_id for root, pair_id in train_pairs if kept(root, pair_id)}
    scored = {line.split(",")[1] for line in (out / "per_image.csv").read_text().splitlines()[1:]}
    assert scored == expected and 0 < len(expected) < len(train_pairs)


def test_evaluate_says_so_when_the_filters_leave_nothing(run, tmp_path, capsys):
    code = evaluate.main(["--model", str(run / "best.keras"), "--run", str(run), "--sets", "shapes",
                          "--id-prefix", "e", "--out", str(tmp_path / "none")])
    assert code == 2 and "no pair left to evaluate" in capsys.readouterr().err


def test_evaluate_close_up_scores_crops_of_the_photos_with_a_person(run, tmp_path):
    out = tmp_path / "close"
    assert evaluate.main(["--model", str(run / "best.keras"), "--run", str(run), "--split", "train", "--close-up",
                          "--out", str(out)]) == 0
    people = {pair_id for root, pair_id in json.loads((run / "manifest.json").read_text())["train"]
              if Path(root).name == "shapes"}
    rows = (out / "per_image.csv").read_text().splitlines()[1:]
    assert {line.split(",")[1] for line in rows} == people


def test_close_up_is_the_head_and_shoulders_box_of_the_mask():
    mask = np.zeros((400, 300), np.uint8)
    mask[100:300, 120:181] = 1  # a standing person 200 px tall, its columns centred on x = 150
    photo = np.zeros((400, 300, 3), np.uint8)
    pair = datalib.Pair(root="r", id="p")
    crop = evaluate.close_up(datalib.Sample(pair, photo, mask))
    # From 0.05 of the height above the head (y 90) to 0.3 below its top (y 160), 0.2 either side (x 110-190).
    assert crop.image.shape == (70, 80, 3) and crop.mask.shape == (70, 80)
    assert crop.mask[:10].sum() == 0 and crop.mask[10:, 10:71].all() and not crop.mask[:, :10].any()
    assert evaluate.close_up(datalib.Sample(pair, photo, np.zeros_like(mask))) is None


def test_export_loads_in_a_fresh_process_with_the_same_output(run, tmp_path):
    path = tmp_path / "exported.keras"
    export.export(run, path, size=64)
    image = np.random.default_rng(0).uniform(0, 255, (1, 64, 64, 3)).astype("float32")
    trained = keras.saving.load_model(run / "best.keras", compile=False)
    expected = trained(image, training=False).numpy()
    np.save(tmp_path / "image.npy", image)
    script = ("import sys, numpy as np, keras; m = keras.saving.load_model(sys.argv[1]); "
              "assert 'training' not in sys.modules; "
              "np.save(sys.argv[3], m(np.load(sys.argv[2]), training=False).numpy())")
    subprocess.run([sys.executable, "-c", script, str(path), str(tmp_path / "image.npy"),
                    str(tmp_path / "out.npy")], check=True, cwd=tmp_path)
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), expected, atol=1e-5)
    assert keras.saving.load_model(path).input_shape == (None, 64, 64, 3)


@pytest.mark.parametrize("encoder", ["mobilenetv2", "resnet50"])
def test_both_encoders_build_and_tap_the_named_layers(encoder):
    model = build_deeplabv3plus(ModelConfig(encoder=encoder, head_filters=16), 64)
    assert model.output_shape == (None, 64, 64, 2)  # the subject and everyone
    taps = model.get_layer(f"{encoder}_encoder")
    low, high = ENCODER_TAPS[encoder]
    assert [t.name for t in taps.outputs] == [taps.get_layer(low).output.name, taps.get_layer(high).output.name]
    # The decoder reads the stride-4 tap, the ASPP the stride-16 one.
    assert model.get_layer("decoder_low").input.shape[1:3] == (16, 16)
    assert model.get_layer("aspp_1x1").input.shape[1:3] == (4, 4)
    out = model(np.full((1, 64, 64, 3), 128, "float32")).numpy()
    assert 0.0 <= out.min() <= out.max() <= 1.0


def test_builder_rejects_bad_arguments():
    with pytest.raises(ValueError, match="encoder must be one of"):
        build_deeplabv3plus(ModelConfig(encoder="vgg"), 64)
    with pytest.raises(ValueError, match="multiple of 16"):
        build_deeplabv3plus(ModelConfig(), 100)
    with pytest.raises(ValueError, match="encoder_weights"):
        build_deeplabv3plus(ModelConfig(encoder_weights="/no/such/file.h5"), 64)


def test_offline_weights_file_loads_into_the_encoder():
    weights = ROOT.parent / "shared" / "weights" / "mobilenet_v2_1.0_imagenet_notop.weights.h5"
    if not weights.is_file():
        pytest.skip(f"{weights} is absent: the ImageNet encoder weights live in ../shared/weights")
    model = build_deeplabv3plus(ModelConfig(encoder_weights=str(weights), head_filters=16), 64)
    reference = keras.applications.MobileNetV2(input_shape=(None, None, 3), include_top=False, weights=str(weights))
    kernel = model.get_layer("mobilenetv2_encoder").get_layer("Conv1").get_weights()[0]
    np.testing.assert_array_equal(kernel, reference.get_layer("Conv1").get_weights()[0])


def test_init_from_starts_a_new_run_from_saved_weights(run, shapes, tmp_path):
    people, _ = shapes
    out = tmp_path / "finetune"
    # Learning rate 0: the new run's weights must be exactly the ones it started from.
    assert train.main(["--data", f"{people}:1", "--out", str(out), "--image-size", "64", "--batch-size", "4",
                       "--epochs", "1", "--steps-per-epoch", "2", "--head-filters", "16", "--learning-rate", "0",
                       "--init-from", str(run / "best.keras"), "--verbose", "0"]) == 0
    assert json.loads((out / "config.json").read_text())["train"]["init_from"] == str(run / "best.keras")
    start = keras.saving.load_model(run / "best.keras", compile=False).get_layer("logits").get_weights()
    after = keras.saving.load_model(out / "last.keras", compile=False).get_layer("logits").get_weights()
    for before, now in zip(start, after, strict=True):
        np.testing.assert_array_equal(before, now)


def test_train_only_changes_the_named_layer_and_keeps_every_other(run, shapes, tmp_path):
    people, _ = shapes
    out = tmp_path / "readout"
    assert train.main(["--data", f"{people}:1", "--out", str(out), "--image-size", "64", "--batch-size", "4",
                       "--epochs", "1", "--steps-per-epoch", "2", "--head-filters", "16", "--learning-rate", "0.01",
                       "--init-from", str(run / "best.keras"), "--train-only", "logits_everyone",
                       "--everyone-band", "0.03", "--verbose", "0"]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["train"]["train_only"] == ["logits_everyone"] and config["data"]["everyone_band"] == 0.03
    before = keras.saving.load_model(run / "best.keras", compile=False)
    after = keras.saving.load_model(out / "last.keras", compile=False)
    changed = {layer.name for layer, then in zip(after.layers, before.layers, strict=True)
               if any(not np.array_equal(a, b) for a, b in zip(layer.get_weights(), then.get_weights(), strict=True))}
    assert changed == {"logits_everyone"}
    with pytest.raises(SystemExit, match="no layer named nothing"):
        train.main(["--data", f"{people}:1", "--out", str(tmp_path / "bad"), "--image-size", "64",
                    "--epochs", "1", "--steps-per-epoch", "1", "--head-filters", "16", "--train-only", "nothing",
                    "--verbose", "0"])


def test_init_from_a_model_of_another_width_is_refused(run, shapes, tmp_path):
    people, _ = shapes
    with pytest.raises(SystemExit, match="not a model of this architecture"):
        train.main(["--data", f"{people}:1", "--out", str(tmp_path / "wide"), "--image-size", "64",
                    "--epochs", "1", "--steps-per-epoch", "1", "--head-filters", "24",
                    "--init-from", str(run / "best.keras"), "--verbose", "0"])
    assert train.main(["--data", f"{people}:1", "--out", str(tmp_path / "x"),
                       "--init-from", str(tmp_path / "missing.keras")]) == 2


def test_mobilenet_blocks_16_adds_the_dilated_deep_blocks_at_stride_16():
    model = build_deeplabv3plus(ModelConfig(head_filters=16, mobilenet_blocks=16), 64)
    deep = model.get_layer("aspp_deep")
    assert deep.input.shape[1:] == (4, 4, 320), "block 16's 320 channels, still at stride 16"
    assert model.get_layer("deep_block_14_depthwise").dilation_rate == (2, 2)
    assert model.get_layer("aspp_1x1").input.shape[1:3] == (4, 4)
    np.testing.assert_array_equal(model.get_layer("aspp_deep_project").get_weights()[0], 0.0)
    with pytest.raises(ValueError, match="mobilenet_blocks must be one of"):
        build_deeplabv3plus(ModelConfig(mobilenet_blocks=14), 64)
    with pytest.raises(ValueError, match="mobilenetv2 encoder only"):
        build_deeplabv3plus(ModelConfig(encoder="resnet50", mobilenet_blocks=16), 64)


def test_offline_weights_file_loads_into_the_deep_blocks_too():
    weights = ROOT.parent / "shared" / "weights" / "mobilenet_v2_1.0_imagenet_notop.weights.h5"
    if not weights.is_file():
        pytest.skip(f"{weights} is absent: the ImageNet encoder weights live in ../shared/weights")
    model = build_deeplabv3plus(ModelConfig(encoder_weights=str(weights), head_filters=16, mobilenet_blocks=16), 64)
    reference = keras.applications.MobileNetV2(input_shape=(None, None, 3), include_top=False, weights=str(weights))
    for name in ("block_13_depthwise", "block_15_expand", "block_16_project_BN"):
        for ours, theirs in zip(model.get_layer(f"deep_{name}").get_weights(),
                                reference.get_layer(name).get_weights(), strict=True):
            np.testing.assert_array_equal(ours, theirs)
    assert not model.get_layer("deep_block_16_project_BN").trainable, "ImageNet batch statistics stay frozen"


def test_a_network_grown_with_the_deep_blocks_starts_as_the_model_it_grew_from(run, shapes, tmp_path):
    people, _ = shapes
    args = ["--data", f"{people}:1", "--image-size", "64", "--batch-size", "4", "--epochs", "1",
            "--steps-per-epoch", "1", "--head-filters", "16", "--mobilenet-blocks", "16",
            "--init-from", str(run / "best.keras"), "--verbose", "0"]
    # The deep branch's projection starts at zero: the grown network, as training gets it, says exactly what
    # the 13-block model said, while every deep layer is there to learn.
    grown = train.build_model(train.config_from_args(train.parse_args([*args, "--out", str(tmp_path / "x")])), 1)
    source = keras.saving.load_model(run / "best.keras", compile=False)
    assert grown.get_layer("deep_block_16_project").count_params() == 960 * 320
    photos = np.random.default_rng(4).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
    np.testing.assert_allclose(grown.predict(photos, verbose=0), source.predict(photos, verbose=0), atol=1e-6)
    out = tmp_path / "deep"
    assert train.main([*args, "--out", str(out)]) == 0
    assert json.loads((out / "config.json").read_text())["model"]["mobilenet_blocks"] == 16
    assert keras.saving.load_model(out / "last.keras", compile=False).get_layer("aspp_deep").built
    # A 13-block network does not start from the 16-block one: dropping the deep branch changes what it says.
    with pytest.raises(SystemExit, match="not a model of this architecture"):
        train.main(["--data", f"{people}:1", "--out", str(tmp_path / "back"), "--image-size", "64",
                    "--epochs", "1", "--steps-per-epoch", "1", "--head-filters", "16",
                    "--init-from", str(out / "last.keras"), "--verbose", "0"])


@pytest.mark.filterwarnings("ignore::UserWarning")  # TensorFlow's notices that tf.lite moves to ai_edge_litert
def test_quantize_reports_float_and_int8_on_the_same_split(run, tmp_path):
    from training import quantize

    model = tmp_path / "serving.keras"
    export.export(run, model, size=64)
    out = tmp_path / "int8"
    assert quantize.main(["--model", str(model), "--run", str(run), "--split", "val", "--calibration", "4",
                          "--out", str(out)]) == 0
    report = json.loads((out / "int8.json").read_text())
    assert set(report["float32 (Keras)"]["summary"]) == set(report["int8 (TFLite)"]["summary"])
    assert report["int8 (TFLite)"]["forward_ms"] > 0 and isinstance(report["keep_int8"], bool)
    for key, drop in report["jaccard_drop"].items():
        float_j = report["float32 (Keras)"]["summary"][key]["jaccard"]
        assert drop == pytest.approx(float_j - report["int8 (TFLite)"]["summary"][key]["jaccard"])
    # The builtin kernels (the fallback when XNNPACK cannot prepare a node) run the written model too.
    assert report["int8_kernels"] in ("XNNPACK", "builtin")
    builtin = quantize.LiteSegmenter((out / "model.tflite").read_bytes(), 64, xnnpack=False)
    probability = builtin.predict(np.full((80, 50, 3), 120, np.uint8))
    assert builtin.kernels == "builtin" and probability.shape == (80, 50)
    assert 0.0 <= probability.min() and probability.max() <= 1.0


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="needs JAX (requirements-dev.txt installs it)")
def test_training_runs_on_jax_without_tensorflow_and_keeps_every_epoch(shapes, tmp_path):
    # A GPU host may have JAX and no TensorFlow: TensorFlow is made unimportable in the child process,
    # so the worker-process pipeline (training.batches) must carry the whole run.
    people, empty = shapes
    out = tmp_path / "jax-run"
    argv = ["--data", f"{people}:1", f"{empty}:0.3", "--out", str(out), "--image-size", "64", "--batch-size", "4",
            "--epochs", "2", "--steps-per-epoch", "2", "--head-filters", "16", "--keep-epochs", "--verbose", "0"]
    code = f"""
import runpy, sys
class NoTensorFlow:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "tensorflow":
            raise ModuleNotFoundError(f"No module named {{name!r}}")
sys.meta_path.insert(0, NoTensorFlow())
sys.argv = ["training.train", *{argv!r}]
runpy.run_module("training.train", run_name="__main__")
"""
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "KERAS_BACKEND": "jax"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "best validation IoU" in result.stdout
    assert sorted(p.name for p in (out / "epochs").iterdir()) == ["e01.keras", "e02.keras"]
    assert [row["epoch"] for row in read_log(out / "log.csv")] == [0.0, 1.0]
    # What JAX trained, TensorFlow serves: the exported file predicts as the checkpoint does.
    served = out / "served.keras"
    assert export.main([str(out), "--checkpoint", "epochs/e02.keras", "--out", str(served), "--size", "64"]) == 0
    image = np.random.default_rng(0).uniform(0, 255, (1, 64, 64, 3)).astype(np.float32)
    trained = keras.saving.load_model(out / "epochs" / "e02.keras", compile=False)
    np.testing.assert_allclose(keras.saving.load_model(served, compile=False).predict(image, verbose=0),
                               trained.predict(image, verbose=0), atol=1e-5)
    # ... and export wrote its fast LiteRT file beside it, which the service runs with the same answers.
    from model.segmenter import Segmenter

    fast = Segmenter.load(served)
    assert fast.engine == "LiteRT (XNNPACK)"
    canvas = np.random.default_rng(1).integers(0, 256, (1, 64, 64, 3), dtype=np.uint8)
    np.testing.assert_allclose(fast.forward_all(canvas), fast.graph_forward(canvas), atol=1e-4)


SHARED_CCP = ROOT.parent / "shared" / "data" / "ccp"


@pytest.mark.filterwarnings("ignore::UserWarning")  # TensorFlow's notices that tf.lite moves to ai_edge_litert
def test_a_model_one_epoch_from_random_weights_exports(tmp_path):
    # A user's first model: one epoch on 40 ccp pairs at 64 px from random weights. Its fast file differs
    # from the Keras graph by about 1.2e-4 in probability (larger logits than the shipped model's), which
    # the old check (1e-4 on noise) refused; the alpha it serves is within one level.
    if not SHARED_CCP.is_dir():
        pytest.skip(f"{SHARED_CCP} is absent: the ccp photos are read from ../shared/data at test time")
    root = tmp_path / "ccp40"
    for folder in ("images", "masks"):
        (root / folder).mkdir(parents=True)
    for image in sorted((SHARED_CCP / "images").iterdir())[:40]:
        (root / "images" / image.name).symlink_to(image)
        (root / "masks" / f"{image.stem}.png").symlink_to(SHARED_CCP / "masks" / f"{image.stem}.png")
    out = tmp_path / "run"
    assert train.main(["--data", str(root), "--epochs", "1", "--image-size", "64", "--batch-size", "4",
                       "--encoder-weights", "none", "--out", str(out), "--verbose", "0"]) == 0
    served = tmp_path / "m.keras"
    assert export.main([str(out), "--out", str(served)]) == 0
    from model.litert import load
    from model.segmenter import Segmenter
    from training import litert

    graph = Segmenter.load(served, fast=False)
    fast = load(served, graph.looks)
    levels = litert.check(fast, graph, np.asarray(keras.utils.load_img(litert.CHECK_PHOTO)))
    assert set(levels) == set(graph.looks) and max(levels.values()) <= litert.ALPHA_LEVELS
    assert Segmenter.load(served).engine == "LiteRT (XNNPACK)"
