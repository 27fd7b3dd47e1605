"""Bad input through the real app: every case gets a 4xx (or a 200 for awkward-but-valid photos) and a
one-line reason, never a 500, and the next good request still works; each test both straight to the app
and through the production pair (nginx in front of gunicorn, deploy/start.sh)."""

from __future__ import annotations

import io
import logging

import numpy as np
import pytest

from tests.conftest import decode_png, encode, post_image as post
from tests.formats import jpeg_declaring, png_declaring, variants


@pytest.fixture(params=["app", "proxy"])
def client(request, app):
    """The app's test client, or real HTTP through nginx and gunicorn."""
    return app.test_client() if request.param == "app" else request.getfixturevalue("proxy")


@pytest.mark.parametrize("name", sorted(variants(np.zeros((8, 8, 3), np.uint8))))
def test_awkward_but_valid_photos_are_cut_out(client, astronaut, name):
    response = post(client, variants(astronaut)[name], name)
    assert response.status_code == 200, response.get_json()
    image = decode_png(response.data)
    assert image.mode == "RGBA" and image.size == (512, 512)


@pytest.mark.parametrize("size", [(1, 1), (2, 2)])
def test_tiny_images(client, size):
    response = post(client, encode(np.full((size[1], size[0], 3), 128, np.uint8), "PNG"), "tiny.png")
    assert response.status_code == 200 and decode_png(response.data).size == size


def hostile(astronaut) -> dict[str, tuple[bytes, int, str]]:
    jpeg, png = encode(astronaut, "JPEG"), encode(astronaut, "PNG")
    return {
        "zero bytes": (b"", 400, "empty"),
        "text named .jpg": (b"just some text\n" * 20, 400, "not an image"),
        "html named .jpg": (b"<!doctype html><html><script>alert(1)</script></html>", 400, "not an image"),
        "truncated jpeg": (jpeg[: len(jpeg) // 2], 400, "truncated"),
        "truncated png": (png[: len(png) // 2], 400, "truncated"),
        "png bomb 30000x30000": (png_declaring(30000, 30000), 413, "pixels"),
        "jpeg claiming 60000x60000": (jpeg_declaring(astronaut, 60000, 60000), 413, "pixels"),
        "svg": (b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>', 415, "SVG"),
        "heic": (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64, 415, "HEIC"),
        # Formats Pillow reads and the service does not: 415 whatever Pillow can open.
        "tga": (encode(astronaut, "TGA"), 415, "TGA is not supported"),
        "ppm": (encode(astronaut, "PPM"), 415, "PPM is not supported"),
        "ico": (encode(astronaut[:64, :64], "ICO"), 415, "ICO is not supported"),
        "jpeg 2000": (encode(astronaut, "JPEG2000"), 415, "JPEG2000 is not supported"),
        "pcx": (encode(astronaut, "PCX"), 415, "PCX is not supported"),
    }


@pytest.mark.parametrize("case", sorted(hostile(np.zeros((64, 64, 3), np.uint8))))
def test_hostile_uploads_get_a_clear_4xx(client, astronaut, astronaut_jpeg, case, caplog):
    data, status, reason = hostile(astronaut)[case]
    with caplog.at_level(logging.INFO, logger="app"):
        response = post(client, data, "evil<script>.jpg")
    assert response.status_code == status
    message = response.get_json()["error"]
    assert reason in message and "\n" not in message and "Traceback" not in message
    served = client.server_log() if hasattr(client, "server_log") else ""
    assert "evil<script>" not in caplog.text + served  # the client's file name never reaches the log
    assert post(client, astronaut_jpeg).status_code == 200


def test_several_files_and_wrong_field(client, astronaut_jpeg):
    two = client.post("/api/remove", data={"image": [(io.BytesIO(astronaut_jpeg), "a.jpg"),
                                                     (io.BytesIO(astronaut_jpeg), "b.jpg")]},
                      content_type="multipart/form-data")
    assert two.status_code == 400 and "exactly one" in two.get_json()["error"]
    wrong = client.post("/api/remove", data={"file": (io.BytesIO(astronaut_jpeg), "a.jpg")},
                        content_type="multipart/form-data")
    assert wrong.status_code == 400 and "'image'" in wrong.get_json()["error"]


def test_body_over_the_byte_limit(segmenter, astronaut_jpeg):
    from app import create_app

    client = create_app({"SEGMENTER": segmenter, "WARM_UP": False, "MAX_CONTENT_LENGTH": 50_000}).test_client()
    response = post(client, astronaut_jpeg + b"\x00" * 60_000)
    assert response.status_code == 413 and "MB" in response.get_json()["error"]


def test_unknown_routes_and_methods_are_json(client):
    not_allowed = client.get("/api/remove")
    assert not_allowed.status_code == 405 and "POST" in not_allowed.headers["Allow"]
    missing = client.get("/nowhere")
    assert missing.status_code == 404 and missing.get_json()["error"]


def test_debug_is_off_by_default(app):
    assert not app.debug
