"""The production pair under hostile and heavy traffic: real nginx in front of real gunicorn with the shipped
model (deploy/start.sh), from 127.0.0.1."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.measure import photo
from bench.load import gunicorn_master, multipart

HEALTH_LIMIT_S = 3.0


def _address(proxy) -> tuple[str, int]:
    host, port = proxy.base.removeprefix("http://").split(":")
    return host, int(port)


def _health(proxy) -> tuple[int, float]:
    """(status, seconds) of one GET /healthz with the health limit as timeout; status 0 if none came."""
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(proxy.base + "/healthz", timeout=HEALTH_LIMIT_S) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except (urllib.error.URLError, ConnectionError, TimeoutError, socket.timeout):
        status = 0
    return status, time.perf_counter() - start


def _upload(proxy, body: bytes, content_type: str, timeout: float = 120) -> tuple[int, float, str | None]:
    """(status, seconds, Retry-After) of one upload."""
    request = urllib.request.Request(proxy.base + "/api/remove", data=body, method="POST",
                                     headers={"Content-Type": content_type})
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
            return response.status, time.perf_counter() - start, None
    except urllib.error.HTTPError as error:
        with error:
            error.read()
            return error.code, time.perf_counter() - start, error.headers.get("Retry-After")
    except (urllib.error.URLError, ConnectionError, TimeoutError, socket.timeout):
        return 0, time.perf_counter() - start, None


def _header_drip(address: tuple[str, int], stop: threading.Event) -> None:
    """A slow loris: a request line, then one header line every 2 s, reconnecting whenever cut off."""
    while not stop.is_set():
        try:
            with socket.create_connection(address, timeout=5) as sock:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
                while not stop.wait(2.0):
                    sock.sendall(b"X-Drip: 1\r\n")
        except OSError:
            stop.wait(0.2)


def _slow_body(address: tuple[str, int], stop: threading.Event) -> None:
    """An upload that announces 2 MB and sends 1 KB a second, reconnecting whenever cut off."""
    head = (b"POST /api/remove HTTP/1.1\r\nHost: localhost\r\nContent-Type: multipart/form-data; boundary=x\r\n"
            b"Content-Length: 2097152\r\n\r\n")
    while not stop.is_set():
        try:
            with socket.create_connection(address, timeout=5) as sock:
                sock.sendall(head)
                while not stop.wait(1.0):
                    sock.sendall(b"\0" * 1024)
        except OSError:
            stop.wait(0.2)


def test_slow_clients_do_not_stop_health_checks_or_photos(proxy):
    address, stop = _address(proxy), threading.Event()
    attackers = [threading.Thread(target=_header_drip, args=(address, stop), daemon=True) for _ in range(64)]
    attackers += [threading.Thread(target=_slow_body, args=(address, stop), daemon=True) for _ in range(16)]
    for thread in attackers:
        thread.start()
    body, content_type = multipart(photo(1000, 750))
    health, uploads = [], []
    try:
        time.sleep(2.0)  # every slow client connected and sending
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            health.append(_health(proxy))
            uploads.append(_upload(proxy, body, content_type, timeout=30)[:2])
            time.sleep(1.0)
    finally:
        stop.set()
    assert len(health) >= 10
    assert all(status == 200 and seconds < HEALTH_LIMIT_S for status, seconds in health), health
    assert all(status == 200 for status, _ in uploads), uploads


def test_a_burst_of_large_uploads_gets_200_or_a_quick_503_and_health_stays_fast(proxy):
    body, content_type = multipart(photo(4000, 3000))  # 12 megapixels
    health: list[tuple[int, float]] = []
    done = threading.Event()

    def probe() -> None:
        while not done.is_set():
            health.append(_health(proxy))
            done.wait(0.5)

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        with ThreadPoolExecutor(max_workers=40) as pool:
            answers = list(pool.map(lambda _: _upload(proxy, body, content_type), range(40)))
    finally:
        done.set()
        prober.join()
    statuses = [status for status, _, _ in answers]
    assert set(statuses) <= {200, 503}, answers
    assert statuses.count(200) >= 8  # the pool and its queue are always served
    refused = [(seconds, retry) for status, seconds, retry in answers if status == 503]
    assert all(retry is not None and int(retry) >= 1 for _, retry in refused), refused
    assert all(seconds < 5.0 for seconds, _ in refused), refused  # quick, not after a long wait
    assert health and all(status == 200 and seconds < HEALTH_LIMIT_S for status, seconds in health), health


def test_an_upload_over_the_limit_is_refused_by_nginx_in_the_service_shape(proxy):
    limit_mb = float(os.environ.get("MAX_UPLOAD_MB", "25"))
    body, content_type = multipart(b"\0" * int((limit_mb + 1) * 1024 * 1024))
    response = proxy.post("/api/remove", data=body, content_type=content_type)
    assert response.status_code == 413 and response.mimetype == "application/json"
    assert response.get_json() == {"error": f"the upload is larger than the limit of {limit_mb:g} MB"}
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_one_line_per_request_in_the_log_without_file_names(proxy):
    body, content_type = multipart(photo(640, 480), name="holiday-at-the-lake.jpg")
    assert _upload(proxy, body, content_type)[0] == 200
    time.sleep(0.5)
    lines = [line for line in proxy.server_log().splitlines() if "POST /api/remove 200" in line]
    assert lines and "photo=640x480" in lines[-1] and "ms" in lines[-1]
    assert "holiday" not in proxy.server_log()
    assert "UserWarning" not in proxy.server_log()  # Pillow's warnings stay out of the log


def _cpu_seconds(pid: int) -> float:
    """The CPU time a process has used (user and system, /proc/PID/stat fields 14-15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_killed_worker_is_a_503_with_retry_after_and_is_ready_again_soon(proxy):
    master = gunicorn_master(proxy.server)
    worker = int(Path(f"/proc/{master}/task/{master}/children").read_text().split()[0])
    body, content_type = multipart(photo(6000, 4500))  # 27 megapixels: about 2 s in the worker
    idle = _cpu_seconds(worker)
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(_upload, proxy, body, content_type)
        # Killed once the photo is in the worker (it has spent 0.2 s of CPU on it): a fixed sleep of 1 s
        # raced the upload on a fast day, and the answer came back 200 before the kill.
        deadline = time.monotonic() + 30
        while _cpu_seconds(worker) - idle < 0.2 and not pending.done() and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(worker, signal.SIGKILL)
        status, _, retry = pending.result()
    assert status == 503 and retry is not None
    start = time.monotonic()
    while time.monotonic() - start < 60:
        try:
            with urllib.request.urlopen(proxy.base + "/readyz", timeout=2) as response:
                if response.status == 200:
                    break
        except (urllib.error.URLError, ConnectionError, TimeoutError, socket.timeout):
            pass
        time.sleep(0.25)
    ready_s = time.monotonic() - start
    assert ready_s < 30, ready_s  # measured 0.4 s: the LiteRT file loads in 0.1 s and warms in 0.2 s
    assert _upload(proxy, body, content_type)[0] == 200

