"""The two-output network (subject, everyone): what each training set teaches each output, the losses on
known pixels only, the network's structure, starting it from a one-output model, and serving either."""

import cv2
import numpy as np
import pytest

from app import create_app
from model.pipeline import PEOPLE
from model.segmenter import Segmenter, channel
from tests.conftest import decode_png, encode, post_image
from training import augment
from training.config import AugmentConfig, DataRoot, ModelConfig
from training.deeplab import build_deeplabv3plus, transplant
from training.metrics import KNOWN, bce_person_dice_loss, bce_person_lovasz_loss, half_sure, keras_metrics
from training.targets import bystanders, held_out, two_outputs

SUBJECT, EVERYONE, SUBJECT_KNOWN, EVERYONE_KNOWN = range(4)


@pytest.mark.parametrize("text, path, weight, labels", [
    ("../shared/data/ccp", "../shared/data/ccp", 1.0, "subject"),  # the set's own meaning
    ("../shared/data/ccp:2", "../shared/data/ccp", 2.0, "subject"),
    ("../shared/data/camvid:0.3", "../shared/data/camvid", 0.3, "everyone"),
    ("../shared/data/negatives:0.8", "../shared/data/negatives", 0.8, "both"),
    ("my/photos", "my/photos", 1.0, "both"),  # your own data: every person is the subject
    ("my/photos:0.5:subject", "my/photos", 0.5, "subject"),
    ("../shared/data/ccp:everyone", "../shared/data/ccp", 1.0, "everyone"),  # said on the command line
])
def test_a_data_root_says_what_its_masks_mark(text, path, weight, labels):
    assert DataRoot.parse(text) == DataRoot(path, weight, labels)


def test_a_subject_root_reads_its_every_person_masks_where_it_has_them(tmp_path):
    (tmp_path / "mine" / "masks-everyone").mkdir(parents=True)
    assert DataRoot.parse(f"{tmp_path}/mine:subject").everyone_masks == "masks-everyone"
    assert DataRoot.parse(f"{tmp_path}/mine").everyone_masks == ""  # "both": every person is the subject
    assert DataRoot.parse(f"{tmp_path}/other:subject").everyone_masks == ""
    har = "../shared/data/har"
    if __import__("os").path.isdir(f"{har}/masks-mediapipe"):
        assert DataRoot.parse(har).everyone_masks == "masks-mediapipe"  # MediaPipe's labels of every person


def test_a_subject_label_teaches_everyone_only_where_it_marks_a_person():
    label = np.zeros((8, 8), np.float32)
    label[2:6, 2:4] = 1.0
    none = np.zeros_like(label)
    truth = two_outputs(label, none, "subject", everyone_labelled=False)
    assert truth.shape == (8, 8, 4)
    np.testing.assert_array_equal(truth[..., SUBJECT], label)
    assert truth[..., SUBJECT_KNOWN].all(), "who the photo is about is known everywhere"
    np.testing.assert_array_equal(truth[..., EVERYONE_KNOWN], label), "an unlabelled passer-by may stand anywhere else"
    pasted = two_outputs(label, none, "subject", everyone_labelled=True)
    assert pasted[..., EVERYONE_KNOWN].all(), "on a person-free photo nobody else can be there"


def test_a_band_around_a_subject_label_teaches_everyone_its_background_there():
    label = np.zeros((40, 40), np.float32)
    label[10:30, 15:25] = 1.0
    truth = two_outputs(label, np.zeros_like(label), "subject", everyone_labelled=False, band=0.05)
    known = truth[..., EVERYONE_KNOWN] > 0
    assert known[label > 0].all() and (truth[..., EVERYONE][known & (label == 0)] == 0).all()
    # a ring of round(0.05 * 56.6) = 3 pixels: beside the person known background, farther unknown
    assert known[20, 12] and known[20, 27] and not known[20, 11] and not known[20, 28]
    assert not known[0, 0] and not known[39, 39], "an unlabelled passer-by may still stand farther away"
    np.testing.assert_array_equal(truth[..., SUBJECT], label)  # the subject's truth does not change
    street = two_outputs(label, np.zeros_like(label), "everyone", everyone_labelled=False, band=0.05)
    assert street[..., EVERYONE_KNOWN].all() and not street[..., SUBJECT_KNOWN].any()
    empty = two_outputs(np.zeros_like(label), np.zeros_like(label), "subject", everyone_labelled=False, band=0.05)
    assert not empty[..., EVERYONE_KNOWN].any(), "no person, no ring"


def test_an_audience_is_background_for_the_subject_and_people_for_everyone():
    label, audience = np.zeros((8, 8), np.float32), np.zeros((8, 8), np.float32)
    label[4:8, 3:5] = 1.0
    audience[0:3, :] = 1.0
    truth = two_outputs(label, audience, "subject", everyone_labelled=False)
    assert truth[0:3, :, SUBJECT].max() == 0 and truth[0:3, :, SUBJECT_KNOWN].all()
    assert truth[0:3, :, EVERYONE].min() == 1 and truth[0:3, :, EVERYONE_KNOWN].all()


def test_bystanders_are_the_people_the_subject_label_leaves_out():
    label, everyone = np.zeros((20, 20), np.uint8), np.zeros((20, 20), np.uint8)
    label[4:16, 2:7] = 1
    everyone[3:17, 1:8] = 1  # the subject, drawn blobbier
    everyone[10:18, 12:15] = 1  # somebody the label leaves out
    found = bystanders(label, everyone)
    assert found[10:18, 12:15].all() and found.sum() == 24, "the subject's own blob is not a bystander"


def test_a_photo_whose_every_person_is_known_teaches_everyone_its_background(shapes_people):
    image, mask = shapes_people
    beside = np.zeros_like(mask)
    beside[5:40, 2:10] = 1.0  # a bystander at the left edge, away from the drawn person
    beside *= 1.0 - mask
    config = AugmentConfig(size=64, paste_probability=0.0, group_probability=0.0, audience_probability=0.0)
    made = augment.composed_sample(image, mask, None, config, np.random.default_rng(5), bystanders=beside)
    plain = augment.composed_sample(image, mask, None, config, np.random.default_rng(5))
    np.testing.assert_array_equal(made.label, plain.label), "the bystanders change nothing of the subject"
    assert made.everyone_labelled and not plain.everyone_labelled
    assert made.audience.max() == 1.0 and made.audience[..., 0][made.label[..., 0] > 0].max() == 0
    truth = two_outputs(made.label[..., 0], made.audience[..., 0], "subject", made.everyone_labelled)
    standing = made.audience[..., 0] == 1
    assert truth[..., SUBJECT][standing].max() == 0 and truth[..., EVERYONE][standing].min() == 1
    assert truth[..., EVERYONE_KNOWN].all()


def test_a_street_of_pedestrians_says_nothing_of_the_subject_and_a_one_person_set_says_both():
    label = np.zeros((8, 8), np.float32)
    label[1:3, 1:2] = 1.0
    street = two_outputs(label, np.zeros_like(label), "everyone", everyone_labelled=False)
    assert not street[..., SUBJECT_KNOWN].any() and street[..., EVERYONE_KNOWN].all()
    np.testing.assert_array_equal(street[..., EVERYONE], label)
    both = held_out(label.astype(np.uint8), "both")
    np.testing.assert_array_equal(both[..., SUBJECT], both[..., EVERYONE])
    assert both[..., KNOWN:].all()
    with pytest.raises(ValueError, match="labels must be one of"):
        two_outputs(label, label, "nobody", False)


def test_an_unknown_pixel_costs_nothing_whatever_the_network_says():
    truth = np.zeros((1, 6, 6, 4), np.float32)
    truth[0, 1:4, 1:4, SUBJECT] = truth[0, 1:4, 1:4, EVERYONE] = 1.0
    truth[..., SUBJECT_KNOWN] = 1.0
    truth[0, 1:4, 1:4, EVERYONE_KNOWN] = 1.0  # everyone known only where the subject stands
    good = np.where(truth[..., :2] > 0, 0.99, 0.01).astype(np.float32)
    passer_by = good.copy()
    passer_by[0, 5, 5, 1] = 0.99  # everyone marks someone unlabelled: unknown for that output
    for loss in (bce_person_dice_loss, bce_person_lovasz_loss):
        assert float(loss(truth, passer_by)[0]) == pytest.approx(float(loss(truth, good)[0]), abs=1e-6)
        wrong = good.copy()
        wrong[0, 5, 5, 0] = 0.99  # ... but the subject output marking them costs
        assert float(loss(truth, wrong)[0]) > float(loss(truth, good)[0]) + 1e-3


def test_one_output_truths_keep_the_loss_they_had():
    truth = np.zeros((2, 6, 6, 1), np.float32)
    truth[0, 1:4, 1:4] = 1.0
    prediction = np.clip(truth * 0.8 + 0.1, 0, 1).astype(np.float32)
    as_two = np.concatenate([truth, truth, np.ones_like(truth), np.ones_like(truth)], axis=-1)
    two_heads = np.concatenate([prediction, prediction], axis=-1)
    one = bce_person_dice_loss(truth, prediction).numpy()
    np.testing.assert_allclose(bce_person_dice_loss(as_two, two_heads).numpy(), 2 * one, rtol=1e-5)


def test_metrics_count_the_subjects_known_pixels_and_report_everyone_beside():
    names = [metric.name for metric in keras_metrics(2)]
    assert names == ["iou", "precision", "recall", "everyone_iou"]
    iou = keras_metrics(2)[0]
    truth = np.zeros((1, 4, 4, 4), np.float32)
    truth[0, :2, :, SUBJECT] = 1.0
    truth[0, :, :2, SUBJECT_KNOWN] = 1.0  # the right half is unknown
    prediction = np.zeros((1, 4, 4, 2), np.float32)
    prediction[0, :2, :, 0] = 1.0
    prediction[0, 2:, 2:, 0] = 1.0  # wrong, but where the subject is unknown
    iou.update_state(truth, prediction)
    assert float(iou.result()) == pytest.approx(1.0)


def test_the_everyone_output_never_marks_less_than_the_subject():
    network = build_deeplabv3plus(ModelConfig(head_filters=16, outputs=2), 64)
    assert network.output.shape[-1] == 2
    subject = network.get_layer("logits")
    kernel, bias = subject.get_weights()
    network.get_layer("logits_everyone").set_weights([-kernel, bias - 5.0])  # everyone's own logits far below
    photos = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
    probabilities = network.predict(photos, verbose=0)
    assert np.all(probabilities[..., 1] >= probabilities[..., 0])
    np.testing.assert_allclose(probabilities[..., 1], probabilities[..., 0], atol=1e-6)


def test_a_two_output_network_starts_where_the_one_output_model_was():
    one = build_deeplabv3plus(ModelConfig(head_filters=16, outputs=1), 64)
    two = build_deeplabv3plus(ModelConfig(head_filters=16, outputs=2), 64)
    assert transplant(two, one) == []
    photos = np.random.default_rng(1).uniform(0, 255, (1, 64, 64, 3)).astype(np.float32)
    before, after = one.predict(photos, verbose=0), two.predict(photos, verbose=0)
    np.testing.assert_allclose(after[..., 0], before[..., 0], atol=1e-5)
    np.testing.assert_allclose(after[..., 1], before[..., 0], atol=1e-5)
    wider = build_deeplabv3plus(ModelConfig(head_filters=24, outputs=2), 64)
    assert "aspp_1x1" in transplant(wider, one), "a layer of another shape stays as built"


def test_a_one_output_model_answers_both_outputs_with_its_one(segmenter, astronaut):
    probabilities = np.random.default_rng(2).uniform(size=(3, 5, 1)).astype(np.float32)
    np.testing.assert_array_equal(channel(probabilities, "everyone"), probabilities[..., 0])
    two = np.random.default_rng(3).uniform(size=(3, 5, 2)).astype(np.float32)
    np.testing.assert_array_equal(channel(two, "subject"), two[..., 0])
    np.testing.assert_array_equal(channel(two, "everyone"), two[..., 1])
    assert set(segmenter.outputs) <= {"subject", "everyone", "person"}


def test_a_saved_one_output_model_file_serves_every_people_option(tmp_path, astronaut):
    """The shipped file has two outputs; a one-output file (a model of your own, or one from before) still
    loads from disk and answers `people=subject`, `all` and `main` through the real app, all from its one."""
    network = build_deeplabv3plus(ModelConfig(head_filters=16, outputs=1), None)
    kernel, bias = network.get_layer("logits").get_weights()
    # a person wherever the decoder's first feature is above its median: an uneven alpha, not a flat one
    network.get_layer("logits").set_weights([np.eye(kernel.shape[2], 1).reshape(kernel.shape) * 50.0, bias * 0])
    path = tmp_path / "one.keras"
    network.save(path)
    segmenter = Segmenter.load(path, size=64, second_look=None)
    assert segmenter.outputs == ("person",)
    client = create_app({"TESTING": True, "SEGMENTER": segmenter, "WARM_UP": False}).test_client()
    photo = encode(astronaut)
    masks = {}
    for people in PEOPLE:
        response = post_image(client, photo, output="mask", people=people)
        assert response.status_code == 200, response.data
        masks[people] = np.asarray(decode_png(response.data))
    np.testing.assert_array_equal(masks["subject"], masks["all"])
    assert 0 < masks["all"].mean() < 255, "the network marks part of the photo"
    assert (masks["main"] <= masks["subject"]).all()


def test_a_two_output_network_serves_each_output_where_asked(astronaut):
    network = build_deeplabv3plus(ModelConfig(head_filters=16, outputs=2), None)
    kernel, bias = network.get_layer("logits").get_weights()
    network.get_layer("logits").set_weights([kernel * 0, bias * 0 - 4.0])  # subject: nobody
    network.get_layer("logits_everyone").set_weights([kernel * 0, bias * 0 + 4.0])  # everyone: everywhere
    segmenter = Segmenter(network, 64, second_look=None)
    assert segmenter.outputs == ("subject", "everyone")
    assert segmenter.predict(astronaut).max() < 0.05
    assert segmenter.predict(astronaut, "everyone").min() > 0.95


def test_half_sure_counts_ghosts_away_from_the_outline_only():
    truth = np.zeros((100, 100), np.uint8)
    truth[20:80, 30:70] = 1
    alpha = truth.astype(np.float32)
    alpha[20:80, 28:32] = 0.5  # a soft edge along the outline: not counted
    assert half_sure(truth, alpha)[0] == 0
    alpha[0:10, 80:100] = 0.4  # a ghost in the corner: 200 pixels
    unsure, judged = half_sure(truth, alpha)
    assert unsure == 200 and judged < truth.size


def test_an_audience_behind_the_person_carries_its_label(shapes_people):
    image, mask = shapes_people
    config = AugmentConfig(size=64, audience_probability=1.0, group_probability=0.0, paste_probability=0.0)
    made = augment.composed_sample(image, mask, None, config, np.random.default_rng(4), [(image, mask)] * 3)
    assert made.audience.shape == (64, 64, 1) and made.audience.max() > 0.5
    assert not made.everyone_labelled
    assert np.all(made.audience[..., 0][made.label[..., 0] >= 0.99] < 0.01), "hidden where the person stands"


def test_a_run_gives_its_training_pairs_their_bystanders(tmp_path):
    """A subject-labelled root with masks-everyone/: the people those masks add become the pairs' bystanders."""
    from tests.shapes import write_root
    from training import data as datalib
    from training.config import DataConfig, RunConfig, TrainConfig
    from training.train import load_samples

    root = write_root(tmp_path / "mine", 2)
    (root / "masks-everyone").mkdir()
    for pair in datalib.find_pairs(root):
        label = cv2.imread(str(pair.mask_path), cv2.IMREAD_GRAYSCALE)
        everyone = label.copy()
        everyone[0:10, 0:10] = 255  # a second person in the corner
        cv2.imwrite(str(root / "masks-everyone" / f"{pair.id}.png"), everyone)
    pairs = datalib.find_pairs(root)
    config = RunConfig(DataConfig(roots=(DataRoot.parse(f"{root}:subject"),), image_size=64),
                       ModelConfig(outputs=2), TrainConfig())
    by_root, _ = load_samples(config, {"train": pairs, "val": [], "test": []})
    for sample in by_root[0][1]:
        assert sample.bystanders[0:10, 0:10].all() and sample.bystanders.sum() == 100


@pytest.fixture
def shapes_people():
    from tests.shapes import draw_pair

    image, mask = draw_pair(3, 96, 64)
    return image, (mask > 0).astype(np.float32)


def test_a_two_output_model_averages_with_the_one_output_model_it_started_from():
    from training.soup import soup

    one = build_deeplabv3plus(ModelConfig(head_filters=16, outputs=1), 64)
    two = build_deeplabv3plus(ModelConfig(head_filters=16, outputs=2), 64)
    photos = np.random.default_rng(5).uniform(0, 255, (1, 64, 64, 3)).astype(np.float32)
    alone = one.predict(photos, verbose=0)[..., 0]
    averaged = soup(two, one, 0.0)  # all of the one-output model: both outputs are its one
    np.testing.assert_allclose(averaged.predict(photos, verbose=0)[..., 0], alone, atol=1e-5)
    np.testing.assert_allclose(averaged.predict(photos, verbose=0)[..., 1], alone, atol=1e-5)
    with pytest.raises(ValueError, match="give the two-output model first"):
        soup(one, two, 0.5)


@pytest.fixture(scope="module")
def split_model(tmp_path_factory):
    """A saved two-output network whose subject output marks nobody and whose everyone output marks every
    pixel, and a data root of drawn shapes."""
    from tests.shapes import write_root

    folder = tmp_path_factory.mktemp("split")
    network = build_deeplabv3plus(ModelConfig(head_filters=16, outputs=2), 64)
    kernel, bias = network.get_layer("logits").get_weights()
    network.get_layer("logits").set_weights([kernel * 0, bias * 0 - 6.0])
    network.get_layer("logits_everyone").set_weights([kernel * 0, bias * 0 + 6.0])
    network.save(folder / "split.keras")
    return folder / "split.keras", write_root(folder / "shapes", 4)


def test_evaluate_scores_the_output_the_people_option_reads(split_model, tmp_path, capsys):
    from training import evaluate

    model, root = split_model
    for people, recall in (("subject", 0.0), ("all", 1.0), ("main", 0.0)):
        assert evaluate.main(["--model", str(model), "--data", str(root), "--refine", "--people", people,
                              "--second-look", "0", "--out", str(tmp_path / people)]) == 0
        summary = __import__("json").loads((tmp_path / people / "summary.json").read_text())["shapes"]
        assert summary["recall"] == pytest.approx(recall, abs=1e-6)
        assert "half_sure" in summary and "undecided_photos" in summary
    assert "people=all (everyone output of subject, everyone)" in capsys.readouterr().out


def test_calibrate_shifts_the_output_the_people_option_reads(split_model):
    from training.calibrate import logits_layer

    model, _ = split_model
    segmenter = Segmenter.load(model, fast=False)
    assert logits_layer(segmenter, "subject").name == "logits"
    assert logits_layer(segmenter, "all").name == "logits_everyone"
