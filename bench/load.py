"""Load test against a local server: `python -m bench.load --clients 8 --requests 25 [--megapixels 12] [--proxy]`.

Starts gunicorn with the default configuration on a loopback port (with `--proxy`, the production pair:
nginx in front of gunicorn, deploy/start.sh), sends `clients` x `requests` uploads of a photo of a
person, bounded in count and time, and prints requests/s, p50/p95 latency, status counts, worker
restarts and the workers' resident memory after the first 10 requests and after the run.
"""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from pathlib import Path

from bench.measure import photo as scaled_photo

ROOT = Path(__file__).resolve().parents[1]


def multipart(data: bytes, name: str = "photo.jpg") -> tuple[bytes, str]:
    """A multipart/form-data body with one file in the field `image`."""
    boundary = uuid.uuid4().hex
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"{name}\"\r\n"
            "Content-Type: image/jpeg\r\n\r\n").encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def post(url: str, body: bytes, content_type: str, timeout: float, source: str | None = None) -> tuple[int, float]:
    """(status, seconds) of one upload; status 0 for a connection failure."""
    status, seconds, _ = post_from(url, body, content_type, timeout, source)
    return status, seconds


def post_from(url: str, body: bytes, content_type: str, timeout: float,
              source: str | None = None) -> tuple[int, float, dict[str, str]]:
    """(status, seconds, headers) of one upload sent from the loopback address `source` (127.0.0.2, say:
    nginx then sees another client), or from the default address; status 0 for a connection failure."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout,
                                            source_address=(source, 0) if source else None)
    start = time.perf_counter()
    try:
        connection.request("POST", parts.path + (f"?{parts.query}" if parts.query else ""), body=body,
                           headers={"Content-Type": content_type})
        response = connection.getresponse()
        response.read()
        return response.status, time.perf_counter() - start, dict(response.getheaders())
    except (OSError, http.client.HTTPException):  # refused, reset, timed out
        return 0, time.perf_counter() - start, {}
    finally:
        connection.close()


def header_drip(address: tuple[str, int], stop: threading.Event) -> None:
    """A slow loris: a request line, then one header line every 2 s, reconnecting whenever cut off."""
    while not stop.is_set():
        try:
            with socket.create_connection(address, timeout=5) as sock:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
                while not stop.wait(2.0):
                    sock.sendall(b"X-Drip: 1\r\n")
        except OSError:
            stop.wait(0.2)


def slow_body(address: tuple[str, int], stop: threading.Event, source: str) -> None:
    """An upload from `source` that announces 2 MB and sends 1 KB a second, reconnecting whenever cut off."""
    head = (b"POST /api/remove HTTP/1.1\r\nHost: localhost\r\nContent-Type: multipart/form-data; boundary=x\r\n"
            b"Content-Length: 2097152\r\n\r\n")
    while not stop.is_set():
        try:
            with socket.create_connection(address, timeout=5, source_address=(source, 0)) as sock:
                sock.sendall(head)
                while not stop.wait(1.0):
                    sock.sendall(b"\0" * 1024)
        except OSError:
            stop.wait(0.2)


def worker_rss_mb(master_pid: int) -> float:
    """Resident memory of the gunicorn workers (children of the master), in MB."""
    total = 0
    for child in Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split():
        for line in Path(f"/proc/{child}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def worker_pids(master_pid: int) -> set[str]:
    return set(Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split())


def free_port() -> int:
    """A loopback port that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(port: int, env: dict[str, str] | None = None, proxy: bool = False,
                 output=subprocess.DEVNULL) -> subprocess.Popen:
    """gunicorn with the repository's default configuration on a loopback port (`proxy`: behind nginx, by
    deploy/start.sh), in a session of its own, its log to `output`, once /readyz answers 200."""
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port), "TF_CPP_MIN_LOG_LEVEL": "2", "GUNICORN": gunicorn,
           **(env or {})}
    command = [str(ROOT / "deploy" / "start.sh")] if proxy else [gunicorn, "-c", "gunicorn.conf.py", "wsgi:app"]
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
                              start_new_session=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
                if response.status == 200:
                    return server
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.3)
    server.terminate()
    raise SystemExit(f"the server did not become ready within 180 s (exit status {server.poll()})")


def gunicorn_master(server: subprocess.Popen) -> int:
    """The gunicorn master's pid: the server itself, or the start script's gunicorn child."""
    if b"gunicorn" in Path(f"/proc/{server.pid}/cmdline").read_bytes():
        return server.pid
    children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
    for child in children:
        if b"gunicorn" in Path(f"/proc/{child}/cmdline").read_bytes():
            return int(child)
    return server.pid


def photo(megapixels: float) -> bytes:
    """The benchmark's photo of a person at about `megapixels`, 4:3, as JPEG."""
    height = int((megapixels * 1e6 * 3 / 4) ** 0.5)
    return scaled_photo(int(height * 4 / 3), height)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m bench.load`."""
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=25, help="per client")
    parser.add_argument("--megapixels", type=float, default=12.0)
    parser.add_argument("--max-seconds", type=float, default=1800, help="stop sending after this long")
    parser.add_argument("--timeout", type=float, default=300, help="per request")
    parser.add_argument("--proxy", action="store_true", help="through nginx in front of gunicorn (deploy/start.sh)")
    parser.add_argument("--one-address", action="store_true",
                        help="every client from 127.0.0.2: one user with many uploads in flight (by default each "
                             "client has a loopback address of its own, as different users do)")
    parser.add_argument("--photos-per-client", type=int, default=None,
                        help="with --proxy: nginx's per-client limit (PHOTOS_PER_CLIENT; default: deploy/start.sh's)")
    args = parser.parse_args(argv)
    port = free_port()
    env = {"PHOTOS_PER_CLIENT": str(args.photos_per_client)} if args.photos_per_client else None
    server = start_server(port, env, proxy=args.proxy)
    url = f"http://127.0.0.1:{port}/api/remove"
    body, content_type = multipart(photo(args.megapixels))
    try:
        print("through nginx in front of gunicorn" if args.proxy else "straight to gunicorn")
        return run_load(args, gunicorn_master(server), url, body, content_type)
    finally:
        server.terminate()
        server.wait(30)


def run_load(args, master: int, url: str, body: bytes, content_type: str) -> int:
    workers_before = worker_pids(master)
    results: list[tuple[int, float]] = []
    lock = threading.Lock()
    warm_rss: list[float] = []
    deadline = time.monotonic() + args.max_seconds

    def client(index: int) -> None:
        source = "127.0.0.2" if args.one_address else f"127.0.{10 + index // 250}.{1 + index % 250}"
        for _ in range(args.requests):
            if time.monotonic() > deadline:
                return
            outcome = post(url, body, content_type, args.timeout, source)
            with lock:
                results.append(outcome)
                if len(results) == 10:
                    warm_rss.append(worker_rss_mb(master))

    start = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    final_rss = worker_rss_mb(master)
    latencies = sorted(seconds for _, seconds in results)
    statuses = Counter(status for status, _ in results)
    restarted = worker_pids(master) != workers_before
    print(f"{len(results)} requests ({args.clients} clients x {args.requests}, {len(body) / 1e6:.1f} MB upload of "
          f"{args.megapixels:g} MP) in {elapsed:.1f} s: {len(results) / elapsed:.2f} requests/s")
    print(f"latency p50 {statistics.median(latencies):.2f} s, p95 {latencies[int(0.95 * (len(latencies) - 1))]:.2f} s")
    print(f"status counts: {dict(sorted(statuses.items()))}; workers restarted: {'yes' if restarted else 'no'}")
    if warm_rss:
        growth = (final_rss - warm_rss[0]) / warm_rss[0] * 100
        print(f"worker resident memory: {warm_rss[0]:.0f} MB after 10 requests, {final_rss:.0f} MB after the run "
              f"({growth:+.1f}%)")
    ok = statuses.get(200, 0) == len(results) and not restarted
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
