"""The batch CLI: `python -m model` on a folder with one good and one broken file."""

import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from tests.conftest import SMALL_PERSON

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "model", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def test_folder_with_one_good_and_one_broken_file(tmp_path, astronaut_jpeg):
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "astronaut.jpg").write_bytes(astronaut_jpeg)
    (photos / "broken.jpg").write_bytes(astronaut_jpeg[:1000])
    out = tmp_path / "out"
    result = run_cli(str(photos), "-o", str(out), "--bg", "#ffffff", "--crop")
    assert result.returncode == 1  # one file failed
    assert [p.name for p in out.iterdir()] == ["astronaut.png"]
    with Image.open(out / "astronaut.png") as image:
        assert image.mode == "RGB" and image.size[0] <= 512
    failures = [line for line in result.stderr.splitlines() if "skipped" in line]
    assert len(failures) == 1 and "broken.jpg" in failures[0]
    assert "1 written, 1 failed" in result.stderr


def test_mask_of_a_single_file(tmp_path, astronaut_jpeg):
    photo = tmp_path / "a.jpg"
    photo.write_bytes(astronaut_jpeg)
    result = run_cli(str(photo), "-o", str(tmp_path / "out"), "--mask", "--no-refine")
    assert result.returncode == 0, result.stderr
    with Image.open(tmp_path / "out" / "a.png") as image:
        mask = np.asarray(image)
    assert mask.shape == (512, 512) and mask[110, 225] > 200


def test_bad_option_is_one_line(tmp_path):
    result = run_cli(str(tmp_path), "-o", str(tmp_path / "o"), "--bg", "purple-ish")
    assert result.returncode == 2 and result.stderr.strip().startswith("error: bg must be a hex colour")


def test_main_person_clears_what_is_apart_from_her(tmp_path, two_people):
    photo = tmp_path / "two.png"
    photo.write_bytes(two_people)
    masks = {}
    for name, extra in (("all", ()), ("main", ("--main-person",))):
        assert run_cli(str(photo), "-o", str(tmp_path / name), "--mask", *extra).returncode == 0
        with Image.open(tmp_path / name / "two.png") as image:
            masks[name] = np.asarray(image)
    assert (masks["all"][SMALL_PERSON] >= 128).mean() > 0.2 and masks["main"][SMALL_PERSON].max() == 0
    assert masks["main"][110, 225] == masks["all"][110, 225] > 200


def test_cutouts_keep_nothing_under_transparent_pixels(tmp_path, astronaut_jpeg):
    photo = tmp_path / "a.jpg"
    photo.write_bytes(astronaut_jpeg)
    for name, extra in (("plain", ()), ("cropped", ("--crop",))):
        assert run_cli(str(photo), "-o", str(tmp_path / name), *extra).returncode == 0
        with Image.open(tmp_path / name / "a.png") as image:
            rgba = np.asarray(image)
        transparent = rgba[..., 3] == 0
        assert image.mode == "RGBA" and transparent.any() and rgba[transparent, :3].max() == 0, name
