"""The batch CLI: `python -m model` on a folder with one good and one broken file."""

import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from training.guards import SMALL_PERSON

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
    # "all" asks for everyone, as the small astronaut's guard in test_app and test_api does (training.guards):
    # with a two-output file the default, the subject, need not keep her
    for name, extra in (("all", ("--people", "all")), ("main", ("--main-person",)),
                        ("people main", ("--people", "main"))):
        assert run_cli(str(photo), "-o", str(tmp_path / name), "--mask", *extra).returncode == 0
        with Image.open(tmp_path / name / "two.png") as image:
            masks[name] = np.asarray(image)
    assert (masks["all"][SMALL_PERSON] >= 128).mean() > 0.2 and masks["main"][SMALL_PERSON].max() == 0
    assert masks["main"][110, 225] == masks["all"][110, 225] > 200
    assert np.array_equal(masks["people main"], masks["main"])


def test_cutouts_keep_nothing_under_transparent_pixels(tmp_path, astronaut_jpeg):
    photo = tmp_path / "a.jpg"
    photo.write_bytes(astronaut_jpeg)
    for name, extra in (("plain", ()), ("cropped", ("--crop",))):
        assert run_cli(str(photo), "-o", str(tmp_path / name), *extra).returncode == 0
        with Image.open(tmp_path / name / "a.png") as image:
            rgba = np.asarray(image)
        transparent = rgba[..., 3] == 0
        assert image.mode == "RGBA" and transparent.any() and rgba[transparent, :3].max() == 0, name


def run_pipe(*args: str, stdin: bytes) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "model", *args], cwd=ROOT, input=stdin, capture_output=True,
                          timeout=300)


def test_a_shell_pipe_reads_the_photo_and_writes_the_png(astronaut_jpeg, client):
    from tests.conftest import decode_png, post_image

    result = run_pipe("-", "-o", "-", stdin=astronaut_jpeg)
    assert result.returncode == 0, result.stderr.decode()
    piped = decode_png(result.stdout)
    assert piped.mode == "RGBA" and piped.size == (512, 512)
    assert np.array_equal(np.asarray(piped), np.asarray(decode_png(post_image(client, astronaut_jpeg).data)))
    masked = run_pipe("-", "-o", "-", "--mask", "--people", "main", stdin=astronaut_jpeg)
    assert masked.returncode == 0 and decode_png(masked.stdout).mode == "L"


def test_a_pipe_to_a_file(astronaut_jpeg, tmp_path):
    result = run_pipe("-", "-o", str(tmp_path / "cut.png"), "--bg", "#fff", stdin=astronaut_jpeg)
    assert result.returncode == 0 and result.stdout == b""
    with Image.open(tmp_path / "cut.png") as image:
        assert image.mode == "RGB"


def test_a_bad_photo_on_the_pipe_is_one_line_on_stderr_and_nothing_on_stdout(astronaut_jpeg):
    for data in (b"", b"not a photo", astronaut_jpeg[:1000]):
        result = run_pipe("-", "-o", "-", stdin=data)
        assert result.returncode == 1 and result.stdout == b""
        errors = [line for line in result.stderr.decode().splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and ("empty" in errors[0] or "not an image" in errors[0] or "damaged" in errors[0])


def test_the_pipe_takes_no_other_input(tmp_path):
    result = run_cli("-", str(tmp_path), "-o", "-")
    assert result.returncode == 2 and "standard input" in result.stderr


def test_version_names_the_model_and_what_runs_it():
    import hashlib

    from model import SHIPPED_MODEL

    result = run_cli("--version")
    sha = hashlib.sha256(SHIPPED_MODEL.read_bytes()).hexdigest()[:12]
    assert result.returncode == 0
    assert result.stdout.strip() in (f"{SHIPPED_MODEL.name} sha256:{sha}, LiteRT (XNNPACK) on the CPU, outputs: {outputs}"
                                     for outputs in ("subject, everyone", "person"))
    missing = run_cli("--version", "--model", "/no/such.keras")
    assert missing.returncode == 2 and missing.stderr.strip().startswith("error: model file /no/such.keras not found")
