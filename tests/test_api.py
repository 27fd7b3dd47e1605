"""The Python API, `model.remove`: every input kind on real photos, one answer type, the HTTP API's errors,
one model per process shared by threads, another model file, and the README's example as written."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model import SHIPPED_MODEL, Cutout, CutoutError, remove
from model.segmenter import get_segmenter
from tests.conftest import decode_png, encode, post_image
from training.guards import SMALL_PERSON

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def reference(astronaut_jpeg) -> np.ndarray:
    """The cutout the HTTP API gives for the astronaut JPEG."""
    return remove(astronaut_jpeg).array()


@pytest.mark.parametrize("kind", ["bytes", "bytearray", "str path", "Path", "PIL image", "array"])
def test_every_input_kind_gives_the_same_cutout(kind, astronaut_jpeg, reference, tmp_path):
    path = tmp_path / "astronaut.jpg"
    path.write_bytes(astronaut_jpeg)
    decoded = np.asarray(Image.open(io.BytesIO(astronaut_jpeg)).convert("RGB"))
    photos = {"bytes": lambda: astronaut_jpeg, "bytearray": lambda: bytearray(astronaut_jpeg),
              "str path": lambda: str(path), "Path": lambda: path, "PIL image": lambda: Image.open(path),
              "array": lambda: decoded}
    photo = photos[kind]()
    cutout = remove(photo)
    if isinstance(photo, Image.Image):
        photo.close()
    assert isinstance(cutout, Cutout) and cutout.mode == "RGBA" and cutout.size == (512, 512)
    # The same pixels, up to one level: Pillow and simplejpeg both decode with libjpeg-turbo.
    assert np.abs(cutout.array().astype(int) - reference).max() <= 1
    alpha = cutout.array()[..., 3]
    assert alpha[110, 225] > 200 and alpha[:60, 90:140].max() < 60  # her face in, the wall above her shoulder out


def test_the_answer_converts_to_png_webp_pil_and_an_array(astronaut_jpeg, client, tmp_path):
    cutout = remove(astronaut_jpeg)
    served = decode_png(post_image(client, astronaut_jpeg).data)
    assert np.array_equal(np.asarray(decode_png(cutout.png())), np.asarray(served)), "the service's own pixels"
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(cutout.webp()))), cutout.array())  # lossless
    image = cutout.image()
    assert image.mode == "RGBA" and np.array_equal(np.asarray(image), cutout.array())
    rgba = cutout.array()
    assert rgba.dtype == np.uint8 and rgba.shape == (512, 512, 4)
    assert rgba[rgba[..., 3] == 0, :3].max() == 0, "nothing of the background under transparent pixels"
    rgba[...] = 0  # a copy: the cutout keeps its pixels
    assert cutout.array().any()
    cutout.save(tmp_path / "c.webp")
    cutout.save(tmp_path / "c.png")
    for name, fmt in (("c.webp", "WEBP"), ("c.png", "PNG")):
        with Image.open(tmp_path / name) as image:
            assert image.format == fmt


def test_the_service_options_as_keywords(astronaut_jpeg, two_people):
    filled = remove(astronaut_jpeg, background="#00ff00")
    clear = remove(astronaut_jpeg).array()[..., 3] == 0
    assert filled.mode == "RGB" and clear.any() and (filled.array()[clear] == (0, 255, 0)).all()
    assert np.array_equal(remove(astronaut_jpeg, background=(0, 255, 0)).array(), filled.array())
    mask = remove(astronaut_jpeg, mask=True, refine=False)
    assert mask.mode == "L" and mask.array().shape == (512, 512) and mask.array()[110, 225] > 200
    everyone = remove(two_people, mask=True, people="all").array()
    main = remove(two_people, mask=True, people="main").array()
    assert (everyone[SMALL_PERSON] >= 128).mean() > 0.2 and main[SMALL_PERSON].max() == 0
    cropped = remove(two_people, crop=True, people="main")
    assert cropped.size[0] < 768 and cropped.size[1] <= 512


@pytest.mark.parametrize("photo, options", [
    (b"", {}), (b"GIF89a broken", {}), (b"<svg xmlns='http://www.w3.org/2000/svg'/>", {}),
    (None, {"people": "crowd"}), (None, {"background": "purple-ish"}), (None, {"background": (1, 2)}),
])
def test_bad_input_raises_one_type_with_the_http_apis_reason(photo, options, client, astronaut_jpeg):
    photo = astronaut_jpeg if photo is None else photo
    with pytest.raises(CutoutError) as raised:
        remove(photo, **options)
    fields = {"people": options.get("people"), "bg": options.get("background")}
    response = post_image(client, photo, **{k: str(v) for k, v in fields.items() if v is not None})
    assert response.status_code == raised.value.status and response.get_json()["error"] == str(raised.value)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("photo, reason", [
    (np.zeros((10, 10, 3), np.float32), "RGB uint8 of shape"), (np.zeros((10, 10), np.uint8), "RGB uint8 of shape"),
    (42, "bytes, a path, a PIL image or an RGB array"), ("/no/such/photo.jpg", "could not be read"),
    (np.zeros((3000, 3000, 3), np.uint8), "more than the limit of 1,000,000"),
    (Image.new("RGB", (2000, 1000)), "more than the limit of 1,000,000"),
])
def test_what_is_not_a_photo_is_one_clear_error(photo, reason):
    with pytest.raises(CutoutError, match=re.escape(reason)):
        remove(photo, max_pixels=1_000_000)


def test_a_pil_image_is_turned_upright_by_its_exif(astronaut):
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned: shown turned a quarter clockwise
    turned = np.ascontiguousarray(np.rot90(astronaut))  # the camera's sensor order
    stored = Image.open(io.BytesIO(encode(turned, "JPEG", quality=95, exif=exif.tobytes())))
    cutout = remove(stored, mask=True)
    assert cutout.size == (512, 512) and cutout.array()[110, 225] > 200


def test_the_model_loads_once_and_threads_share_it(astronaut):
    results, errors = [], []

    def cut(i: int) -> None:
        try:
            results.append(remove(astronaut[:, i * 10:], mask=True).size)
        except Exception as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=cut, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors and sorted(results) == [(512 - i * 10, 512) for i in (3, 2, 1, 0)]
    assert get_segmenter(str(SHIPPED_MODEL)) is get_segmenter(str(SHIPPED_MODEL.parent / "." / SHIPPED_MODEL.name))


def test_another_model_file_is_named_in_the_answer(astronaut_jpeg, tmp_path):
    from model.litert import fast_path, stamp_path

    copy = tmp_path / "my-model.keras"
    for source, target in ((SHIPPED_MODEL, copy), (fast_path(SHIPPED_MODEL), fast_path(copy)),
                           (stamp_path(SHIPPED_MODEL), stamp_path(copy))):
        target.write_bytes(source.read_bytes())
    cutout = remove(astronaut_jpeg, model=copy)
    assert cutout.model.file == "my-model.keras" and cutout.model.sha256 == remove(astronaut_jpeg).model.sha256
    assert np.array_equal(cutout.array(), remove(astronaut_jpeg).array())
    from model.segmenter import ModelLoadError

    with pytest.raises(ModelLoadError, match="not found"):
        remove(astronaut_jpeg, model=tmp_path / "missing.keras")


def test_the_readmes_python_example_runs_as_written(astronaut_jpeg, tmp_path):
    readme = (ROOT / "README.md").read_text()
    example = re.search(r"## Python\n.*?```python\n(.*?)```", readme, re.S)
    assert example, "the README has a Python section with a python code block"
    (tmp_path / "photo.jpg").write_bytes(astronaut_jpeg)
    result = subprocess.run([sys.executable, "-c", example.group(1)], cwd=tmp_path, capture_output=True, text=True,
                            timeout=300, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-2000:]
    with Image.open(tmp_path / "cutout.png") as image:
        assert image.mode == "RGBA" and image.size == (512, 512)
