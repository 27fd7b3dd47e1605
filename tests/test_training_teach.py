"""training.teach: the ensemble's mean and agreement, labelling a data root (person-free labels kept, runs
resumed), and the two packaged teachers where `make teachers` has fetched them."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data as skdata

from model import SHIPPED_MODEL
from training import teach


def test_ensemble_is_the_mean_and_agreement_the_mean_pairwise_iou():
    a = np.zeros((4, 4), np.float32)
    a[:2] = 0.9  # 8 pixels
    b = np.zeros((4, 4), np.float32)
    b[:1] = 0.8  # 4 of them
    assert np.allclose(teach.ensemble([a, b]), (a + b) / 2)
    assert teach.agreement([a, b]) == pytest.approx(0.5)
    assert teach.agreement([a, a, b]) == pytest.approx((1.0 + 0.5 + 0.5) / 3)
    assert teach.agreement([np.zeros((4, 4)), np.zeros((4, 4))]) == 1.0


def test_a_member_that_finds_no_one_is_left_out_where_two_others_find_a_person():
    person = np.zeros((10, 10), np.float32)
    person[2:8, 3:7] = 1.0  # 24% of the photo
    nobody, salient = np.zeros_like(person), np.zeros_like(person)
    salient[0:5, 0:5] = 1.0  # a member that marks something else alone
    # Two find the person, one finds no one: the person stays opaque in the label, not two-thirds.
    assert np.array_equal(teach.ensemble([person, person, nobody]), person)
    # One member alone finds something: everyone counts (two votes of no one against it).
    assert np.allclose(teach.ensemble([salient, nobody, nobody]), salient / 3)
    # Everyone finds a person: the plain mean.
    assert np.allclose(teach.ensemble([person, salient, person]), (2 * person + salient) / 3)


def test_the_label_is_the_vote_inside_and_the_mean_along_the_outline():
    mean = np.zeros((100, 100), np.float32)
    mean[20:80, 20:80] = 0.67  # two of three members: a person, whom the third does not see
    mean[20:80, 78:80] = 0.55  # a soft edge on the right
    mean[5:10, 5:10] = 0.33  # one member alone: no one
    label = teach.soft_label(mean)
    assert label.dtype == np.uint8
    assert label[50, 50] == 255 and label[7, 7] == 0, "opaque where most members see a person, clear elsewhere"
    assert label[50, 79] == round(0.55 * 255) and label[20, 50] == round(0.67 * 255), "the mean at the outline"
    assert label[20:80, 20:80][label[20:80, 20:80] < 255].size < 0.2 * 60 * 60, "a band, not the inside"


def test_a_person_the_teachers_dropped_and_the_student_finds_is_put_back():
    own = np.zeros((100, 100), np.uint8)
    own[10:90, 5:45] = 1  # the subject
    own[50:90, 60:75] = 1  # a smaller person beside them (6% of the photo)
    own[5:10, 90:95] = 1  # a speck under KEEP_AREA
    own[20:40, 80:95] = 1  # a blob of the data's label that nobody else sees (foliage, say)
    soft = np.zeros((100, 100), np.uint8)
    soft[10:90, 5:45] = 255  # the teachers' label holds the subject alone
    student = np.zeros((100, 100), np.float32)
    student[10:90, 5:45] = student[50:90, 60:75] = student[5:10, 90:95] = 0.9
    kept = teach.keep_found_people(soft, own, student)
    assert (kept[50:90, 60:75] == 255).all(), "the smaller person: the data's label and the student outvote the teachers"
    assert not kept[20:40, 80:95].any(), "what only the data's label holds stays background"
    assert not kept[5:10, 90:95].any() and np.array_equal(kept[10:90, 5:45], soft[10:90, 5:45])
    covered = soft.copy()
    covered[50:70, 60:75] = 200  # the teachers took in half of the smaller person: their outline stands
    assert np.array_equal(teach.keep_found_people(covered, own, student), covered)


@pytest.fixture(scope="module")
def student():
    return teach.student(SHIPPED_MODEL)


def _root(tmp_path):
    """A data root of two real photos: the astronaut (labelled) and the coffee cup (labelled person-free)."""
    root = tmp_path / "root"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for name, photo, person in (("astronaut", skdata.astronaut(), True), ("coffee", skdata.coffee(), False)):
        cv2.imwrite(str(root / "images" / f"{name}.jpg"), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
        mask = np.zeros(photo.shape[:2], np.uint8)
        if person:
            mask[80:, 100:400] = 255
        cv2.imwrite(str(root / "masks" / f"{name}.png"), mask)
    return root


def test_labels_a_root_keeps_person_free_labels_and_resumes(tmp_path, student):
    root, out = _root(tmp_path), tmp_path / "taught"
    members = {"student": student, "student mirrored": lambda rgb: student(rgb[:, ::-1])[:, ::-1]}
    assert teach.teach([root], out, members, min_agreement=0.0) == 2
    soft = cv2.imread(str(out / "masks" / "astronaut.png"), cv2.IMREAD_GRAYSCALE)
    assert soft.shape == (512, 512) and soft[100:150, 200:250].mean() > 200  # her face
    assert 0 < soft.min() < 255 or soft.max() == 255  # a soft label, not a copy of the hand mask
    assert not cv2.imread(str(out / "masks" / "coffee.png"), cv2.IMREAD_GRAYSCALE).any()  # stays person-free
    rows = teach.read_agreement(out)
    assert 0.8 < float(rows["astronaut"]["agreement"]) < 1.0 and rows["coffee"]["agreement"] == "1.0000"
    assert teach.teach([root], out, members, min_agreement=0.0) == 0  # done ids are skipped
    from training.data import find_pairs

    assert [pair.id for pair in find_pairs(out)] == ["astronaut", "coffee"]  # a root training reads


def test_photos_the_members_disagree_on_are_left_out(tmp_path, student):
    root, out = _root(tmp_path), tmp_path / "strict"
    members = {"student": student, "student mirrored": lambda rgb: student(rgb[:, ::-1])[:, ::-1]}
    teach.teach([root], out, members, min_agreement=0.9999)
    rows = teach.read_agreement(out)
    assert rows["astronaut"]["kept"] == "False" and not (out / "masks" / "astronaut.png").exists()


def test_a_missing_teacher_is_one_clear_error(tmp_path, capsys):
    assert teach.main(["photos", "--out", str(tmp_path / "o"), "--members", "u2net",
                       "--teachers", str(tmp_path)]) == 2
    assert "make teachers" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["u2net", "modnet"])
def test_the_packaged_teachers_find_the_astronaut(name):
    if not (teach.TEACHERS / teach.WHEELS[name][0]).is_file():
        pytest.skip(f"{name}'s wheel is not in {teach.TEACHERS}/ (`make teachers`)")
    pytest.importorskip("onnxruntime", reason="requirements-teach.txt")
    member = teach.load_members([name], SHIPPED_MODEL)[name]
    probability = member(skdata.astronaut())
    assert probability.shape == (512, 512) and probability[100:150, 200:250].mean() > 0.5
    assert probability[:, :40].mean() < probability[100:400, 150:350].mean()


def test_an_unlabelled_data_root_is_labelled(tmp_path, student):
    root, out = _root(tmp_path), tmp_path / "taught"
    for mask in (root / "masks").iterdir():
        mask.unlink()
    (root / "masks").rmdir()  # ROOT/images/ alone: the commonest layout of photos to label
    assert [item[0] for item in teach.photos_of([root])] == ["astronaut", "coffee"]
    assert teach.teach([root], out, {"student": student}, min_agreement=0.0) == 2
    soft = cv2.imread(str(out / "masks" / "astronaut.png"), cv2.IMREAD_GRAYSCALE)
    assert soft.shape == (512, 512) and soft[100:150, 200:250].mean() > 200  # her face
    assert teach.main([str(root), "--out", str(tmp_path / "cli"), "--members", "student"]) == 0
    assert sorted(p.name for p in (tmp_path / "cli" / "masks").iterdir()) == ["astronaut.png", "coffee.png"]
