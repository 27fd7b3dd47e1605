"""Shared fixtures: the shipped model (loaded once), the app built through create_app, real photos."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

from app import create_app
from model import SHIPPED_MODEL
from model.segmenter import get_segmenter
from training import guards

ROOT = Path(__file__).resolve().parents[1]


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


@pytest.fixture(scope="session")
def two_people(astronaut) -> bytes:
    """A PNG of 768 x 512: the astronaut on the left, the same photo at a third of her size at SMALL_PERSON
    (`training.guards`, which measures the guard on candidate models)."""
    return encode(guards.two_people(astronaut), "PNG")


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


class ServedResponse:
    """An HTTP answer from a real server, with the parts of Flask's test response that the tests read."""

    def __init__(self, status: int, headers, data: bytes):
        self.status_code, self.headers, self.data = status, headers, data
        self.mimetype = (headers.get("Content-Type") or "").split(";")[0].strip()

    def get_json(self):
        import json

        return json.loads(self.data)


class ServedClient:
    """Flask's test-client calls (`get`, `post` with `data` and `content_type`) over real HTTP to `base`."""

    def __init__(self, base: str, log: Path, server=None):
        self.base, self.log, self.server = base, log, server

    def get(self, path: str) -> ServedResponse:
        return self.open("GET", path)

    def post(self, path: str, data=None, content_type: str | None = None) -> ServedResponse:
        return self.open("POST", path, data, content_type)

    def open(self, method: str, path: str, data=None, content_type: str | None = None) -> ServedResponse:
        import urllib.error
        import urllib.request

        from werkzeug.test import EnvironBuilder

        if isinstance(data, (bytes, type(None))):
            body, ctype = data, content_type
        else:  # a Flask-style dict of fields and files, encoded as the test client would
            builder = EnvironBuilder(path=path, method=method, data=data, content_type=content_type)
            try:
                environ = builder.get_environ()
                body, ctype = environ["wsgi.input"].read(), environ.get("CONTENT_TYPE")
            finally:
                builder.close()
        request = urllib.request.Request(self.base + path, data=body, method=method,
                                         headers={"Content-Type": ctype} if ctype else {})
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return ServedResponse(response.status, response.headers, response.read())
        except urllib.error.HTTPError as error:
            with error:
                return ServedResponse(error.code, error.headers, error.read())

    def server_log(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture(scope="session")
def proxy(tmp_path_factory):
    """The production pair, deploy/start.sh: real nginx on a loopback port in front of real gunicorn with
    the shipped model; a ServedClient for it. Skipped without nginx (.ci/run installs Debian's)."""
    import os
    import shutil
    import signal

    from bench.load import free_port, start_server

    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if nginx is None:
        pytest.skip("no nginx: `apt-get install -y nginx` (.ci/run does)")
    port, folder = free_port(), tmp_path_factory.mktemp("proxy")
    log = folder / "server.log"
    with open(log, "wb") as output:
        server = start_server(port, {"RUN_DIR": str(folder / "run"), "NGINX": nginx}, proxy=True, output=output)
    yield ServedClient(f"http://127.0.0.1:{port}", log, server)
    server.send_signal(signal.SIGTERM)
    try:
        assert server.wait(60) == 0, log.read_text()[-3000:]  # drained and exited cleanly
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
