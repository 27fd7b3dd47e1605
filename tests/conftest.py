"""Shared fixtures: the shipped model (loaded once), the app built through create_app, real photos."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

from app import create_app
from model import SHIPPED_MODEL
from model.segmenter import get_segmenter


@pytest.fixture(scope="session")
def segmenter():
    assert SHIPPED_MODEL.is_file(), f"the shipped model {SHIPPED_MODEL} is missing"
    return get_segmenter(str(SHIPPED_MODEL))


@pytest.fixture()
def app(segmenter):
    return create_app({"TESTING": True, "SEGMENTER": segmenter, "WARM_UP": False})


@pytest.fixture()
def client(app):
    return app.test_client()


def encode(array: np.ndarray, fmt: str = "JPEG", **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt, **options)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """A public-domain photo of a person (512x512), shipped with scikit-image."""
    return skdata.astronaut()


@pytest.fixture(scope="session")
def astronaut_jpeg(astronaut) -> bytes:
    return encode(astronaut, "JPEG", quality=92)


def decode_png(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def post_image(client, data: bytes, name: str = "astronaut.jpg", field: str = "image", query: str = "", **options):
    """POST one file to /api/remove as multipart.

    The body is encoded in memory: the test client's own encoder spools bodies over 500 KB to a
    temporary file that it never closes (a ResourceWarning, an error under our warning filter).
    """
    from werkzeug.datastructures import FileStorage
    from werkzeug.test import encode_multipart

    boundary, body = encode_multipart({field: FileStorage(io.BytesIO(data), filename=name), **options})
    return client.post("/api/remove" + query, data=body, content_type=f"multipart/form-data; boundary={boundary}")
