"""The production pair under hostile and heavy traffic: real nginx in front of real gunicorn with the shipped
model (deploy/start.sh), from 127.0.0.1."""

from __future__ import annotations

import os
import signal
import socket
import statistics
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.measure import photo
from bench.load import gunicorn_master, header_drip, multipart, post_from, slow_body

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


def _upload(proxy, body: bytes, content_type: str, timeout: float = 120,
            source: str | None = None) -> tuple[int, float, str | None]:
    """(status, seconds, Retry-After) of one upload, from the loopback address `source` where given."""
    status, seconds, headers = post_from(proxy.base + "/api/remove", body, content_type, timeout, source)
    return status, seconds, headers.get("Retry-After")


def test_slow_clients_do_not_stop_health_checks_or_photos(proxy):
    address, stop = _address(proxy), threading.Event()
    attackers = [threading.Thread(target=header_drip, args=(address, stop), daemon=True) for _ in range(64)]
    # 16 slow uploaders, each from an address of its own (from one address, the per-client limit
    # would refuse all but PHOTOS_PER_CLIENT of them at once: test_one_greedy_client_...).
    attackers += [threading.Thread(target=slow_body, args=(address, stop, f"127.0.2.{i + 1}"), daemon=True)
                  for i in range(16)]
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
        with ThreadPoolExecutor(max_workers=40) as pool:  # 40 clients, each from an address of its own
            answers = list(pool.map(lambda i: _upload(proxy, body, content_type, source=f"127.0.1.{i + 1}"),
                                    range(40)))
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



def test_one_greedy_client_does_not_take_the_service_from_another(proxy):
    # 127.0.0.2 keeps 20 uploads in flight while 127.0.0.3 sends ten photos, one at a time. Without
    # the per-client limit the greedy address holds every place of the queue (MODEL_THREADS + QUEUE_DEPTH
    # = 8) and the other gets 503s; with it, the excess is the greedy client's own 429.
    body, content_type = multipart(photo(1000, 750))
    alone = sorted(_upload(proxy, body, content_type, source="127.0.0.3")[1] for _ in range(3))[1]
    stop, greedy = threading.Event(), []

    def hog() -> None:
        while not stop.is_set():
            greedy.append(_upload(proxy, body, content_type, source="127.0.0.2"))

    hogs = [threading.Thread(target=hog) for _ in range(20)]
    for thread in hogs:
        thread.start()
    others = []
    try:
        time.sleep(2.0)
        # A count, not a deadline: on a slow CI machine 13 s held only 9 uploads of 0.7 s and pauses of 0.5 s.
        for _ in range(10):
            others.append(_upload(proxy, body, content_type, timeout=30, source="127.0.0.3"))
            time.sleep(0.5)
        hogs_alive = all(thread.is_alive() for thread in hogs)
    finally:
        stop.set()
        for thread in hogs:
            thread.join(60)
    assert hogs_alive and all(status == 200 for status, _, _ in others), others
    statuses = Counter(status for status, _, _ in greedy)
    assert set(statuses) <= {200, 429} and statuses[429] > 0 and statuses[200] > 0, statuses
    typical = statistics.median([seconds for _, seconds, _ in others])
    greedy_typical = statistics.median([seconds for status, seconds, _ in greedy if status == 200])
    # The other's photo waits at most behind the greedy client's PHOTOS_PER_CLIENT photos, as each of the
    # greedy client's own admitted photos does: so it takes about as long as those, on whatever machine. A
    # bound in the photo's time alone failed on a slow CI day (1.3 s against 0.17 s alone: the 20 greedy
    # threads and nginx's 429s share the two cores with the service). Measured beside a training run: the
    # other 0.4-0.6 s, the greedy client's admitted 0.5-0.6 s; without the per-client limit the other gets 503s.
    assert typical < 2 * greedy_typical, (typical, greedy_typical, alone)
    assert all(retry is not None and int(retry) >= 1 for status, _, retry in greedy if status == 429)


def test_the_excess_is_a_json_429_in_the_service_shape(proxy):
    body, content_type = multipart(photo(4000, 3000))
    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(lambda _: post_from(proxy.base + "/api/remove", body, content_type, 120,
                                                    "127.0.0.4"), range(12)))
    refused = [(status, headers) for status, _, headers in answers if status == 429]
    assert refused and len(refused) < 12
    status, headers = refused[0]
    assert headers["Content-Type"] == "application/json" and headers["Retry-After"] == "1"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert _health(proxy)[0] == 200
