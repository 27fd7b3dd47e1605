"""Memory soak through the production pair: `python -m bench.soak [--requests 2000] [--clients 2]`, or for a
time, `python -m bench.soak --minutes 60` (`make soak SOAK_MINUTES=60`).

Starts nginx in front of gunicorn (deploy/start.sh) with the default configuration, then sends a fixed,
seeded mix of varied uploads: public-domain photos from 0.01 to 12 megapixels in every format the service
reads (JPEG, CMYK JPEG, PNG, 16-bit and palette PNG, WebP, BMP, TIFF, GIF), with every option, beside odd
files (truncated, bit-flipped, formats it does not read, text). It reads the gunicorn worker's resident
memory every 100 requests and prints the series, the status counts and the growth from request 200 to
the last (the allocator's and caches' warm-up comes before request 200).

With --minutes the same mix goes round for that long, beside the clients a service faces on a network:
slow ones (a header every 2 s, a body at 1 KB/s, each from a loopback address of its own) and, every
--burst-every seconds, one address sending --burst-size photos at once (nginx's per-client limit answers
its excess with 429). The worker's memory is read every minute; the growth that counts is from the end
of the warm-up (--warm-up-minutes) to the last reading, and to the highest after it.
"""

from __future__ import annotations

import argparse
import io
import random
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from bench.measure import publish
from bench.load import (free_port, gunicorn_master, header_drip, multipart, post, slow_body, start_server,
                        worker_rss_mb)

SIDES = (100, 320, 640, 1000, 1600, 2400, 4000)  # longer side in pixels: 0.01 to 12 megapixels
OPTIONS = ("", "?output=mask", "?bg=%23ffffff", "?crop=true", "?format=webp", "?people=main", "?refine=false")


def _photos() -> list[np.ndarray]:
    from training.showcase import load_photo

    return [load_photo(name) for name in ("astronaut", "grace_hopper", "coffee", "chelsea", "rocket", "camera")]


def _save(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _encoded(rgb: np.ndarray, kind: str) -> bytes:
    image = Image.fromarray(rgb)
    if kind == "cmyk":
        return _save(image.convert("CMYK"), "JPEG")
    if kind == "grey16":
        return _save(Image.fromarray(np.asarray(image.convert("L")).astype(np.uint16) * 257), "PNG")
    if kind == "palette":
        return _save(image.convert("P", palette=Image.Palette.ADAPTIVE), "PNG", transparency=0)
    return _save(image, kind, **({"quality": 90} if kind == "JPEG" else {}))


def _odd(rng: random.Random, good: bytes, rgb: np.ndarray) -> bytes:
    """A damaged or refused file: truncated, bit-flipped, another format, or not an image."""
    kind = rng.choice(("truncated", "flipped", "TGA", "PPM", "ICO", "text"))
    if kind == "truncated":
        return good[: rng.randint(10, max(11, len(good) - 1))]
    if kind == "flipped":
        data = bytearray(good)
        for _ in range(rng.randint(1, 20)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        return bytes(data)
    if kind == "text":
        return b"not a photo\n" * rng.randint(1, 500)
    return _save(Image.fromarray(rgb[:256, :256] if kind == "ICO" else rgb), kind)


def corpus(count: int, seed: int = 0) -> list[tuple[bytes, str]]:
    """`count` (upload bytes, query string) pairs, the same for the same seed: a tenth odd files, one in 25
    a 12-megapixel photo."""
    rng, photos, uploads = random.Random(seed), _photos(), []
    kinds = ("JPEG", "JPEG", "JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF", "cmyk", "grey16", "palette")
    cache: dict[tuple[int, int, str], bytes] = {}
    for index in range(count):
        which = rng.randrange(len(photos))
        side = 4000 if index % 25 == 0 else rng.choice(SIDES[:-1])
        kind = "JPEG" if side == 4000 else rng.choice(kinds)
        key = (which, side, kind)
        if key not in cache:
            photo = photos[which]
            scale = side / max(photo.shape[:2])
            size = (max(1, round(photo.shape[1] * scale)), max(1, round(photo.shape[0] * scale)))
            cache[key] = _encoded(cv2.resize(photo, size, interpolation=cv2.INTER_AREA), kind)
        data = cache[key]
        if rng.random() < 0.1:
            data = _odd(rng, data, photos[which])
        uploads.append((data, rng.choice(OPTIONS)))
    return uploads


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m bench.soak`."""
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="the uploads (with --minutes: the mix that goes round)")
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--every", type=int, default=100, help="read the worker's memory every this many requests")
    parser.add_argument("--minutes", type=float, default=None, help="run for this long instead, with slow clients and bursts")
    parser.add_argument("--warm-up-minutes", type=float, default=15)
    parser.add_argument("--slow-clients", type=int, default=8, help="with --minutes: half header-drip, half slow-body")
    parser.add_argument("--burst-every", type=float, default=60)
    parser.add_argument("--burst-size", type=int, default=12)
    parser.add_argument("--out", default="bench/results/soak.json")
    args = parser.parse_args(argv)
    uploads = corpus(args.requests)
    port = free_port()
    server = start_server(port, proxy=True)
    try:
        soak = timed_soak if args.minutes else counted_soak
        report, lines = soak(args, uploads, gunicorn_master(server), port)
    finally:
        server.terminate()
        server.wait(60)
    publish("\n".join(lines), report, Path(args.out))
    return 0 if not any(status >= 500 or status == 0 for status in report["statuses"]) else 1


def counted_soak(args, uploads: list[tuple[bytes, str]], master: int, port: int) -> tuple[dict, list[str]]:
    """Every upload once by `args.clients` clients; memory every `args.every` requests."""
    base = f"http://127.0.0.1:{port}/api/remove"
    statuses: Counter[int] = Counter()
    series: list[tuple[int, float]] = [(0, worker_rss_mb(master))]
    lock, position = threading.Lock(), iter(range(len(uploads)))
    start = time.perf_counter()

    def client() -> None:
        while True:
            with lock:
                index = next(position, None)
            if index is None:
                return
            data, query = uploads[index]
            body, content_type = multipart(data)
            status, _ = post(base + query, body, content_type, timeout=120)
            with lock:
                statuses[status] += 1
                done = sum(statuses.values())
                if done % args.every == 0:
                    series.append((done, worker_rss_mb(master)))

    _run_all([threading.Thread(target=client) for _ in range(args.clients)])
    rss = dict(series)
    first = rss.get(200, series[0][1])
    growth = (series[-1][1] - first) / first * 100
    report = {"requests": len(uploads), "clients": args.clients, "seconds": time.perf_counter() - start,
              "statuses": dict(sorted(statuses.items())), "worker_rss_mb": series,
              "growth_from_request_200_percent": growth}
    lines = [f"{len(uploads)} requests ({args.clients} clients) through nginx and gunicorn in "
             f"{report['seconds']:.0f} s; status counts {report['statuses']}", "",
             "| requests | worker RSS MB |", "|---:|---:|"]
    lines += [f"| {done} | {mb:.0f} |" for done, mb in series]
    lines += ["", f"growth from request 200 to the last: {growth:+.1f}%"]
    return report, lines


def timed_soak(args, uploads: list[tuple[bytes, str]], master: int, port: int) -> tuple[dict, list[str]]:
    """The mix round and round for `args.minutes`, beside slow clients and bursts; memory every minute."""
    base = f"http://127.0.0.1:{port}/api/remove"
    statuses: dict[str, Counter[int]] = {"steady": Counter(), "burst": Counter()}
    series: list[tuple[float, int, float]] = []
    lock, stop, position = threading.Lock(), threading.Event(), iter(range(10**9))
    start = time.monotonic()
    deadline = start + args.minutes * 60

    def record(kind: str, status: int) -> None:
        with lock:
            statuses[kind][status] += 1

    def client() -> None:
        while time.monotonic() < deadline:
            with lock:
                index = next(position) % len(uploads)
            data, query = uploads[index]
            record("steady", post(base + query, *multipart(data), timeout=120)[0])

    def bursts() -> None:
        body, content_type = multipart(uploads[0][0])
        while not stop.wait(args.burst_every):
            threads = [threading.Thread(target=lambda: record("burst", post(base, body, content_type, 120,
                                                                            "127.0.3.1")[0]))
                       for _ in range(args.burst_size)]
            _run_all(threads)

    def sample() -> None:
        while True:
            minute = (time.monotonic() - start) / 60
            with lock:
                done = sum(statuses["steady"].values()) + sum(statuses["burst"].values())
            series.append((round(minute, 1), done, worker_rss_mb(master)))
            if stop.wait(60):
                return

    address = ("127.0.0.1", port)
    helpers = [threading.Thread(target=sample), threading.Thread(target=bursts)]
    helpers += [threading.Thread(target=header_drip, args=(address, stop), daemon=True)
                for _ in range(args.slow_clients // 2)]
    helpers += [threading.Thread(target=slow_body, args=(address, stop, f"127.0.4.{i + 1}"), daemon=True)
                for i in range(args.slow_clients - args.slow_clients // 2)]
    for thread in helpers:
        thread.start()
    try:
        _run_all([threading.Thread(target=client) for _ in range(args.clients)])
    finally:
        stop.set()
        for thread in helpers[:2]:
            thread.join(300)
    series.append((round((time.monotonic() - start) / 60, 1), sum(statuses["steady"].values()) +
                   sum(statuses["burst"].values()), worker_rss_mb(master)))
    warm = min(series, key=lambda row: abs(row[0] - args.warm_up_minutes))
    after = [row for row in series if row[0] >= warm[0]]
    growth = (after[-1][2] - warm[2]) / warm[2] * 100
    peak = (max(row[2] for row in after) - warm[2]) / warm[2] * 100
    merged = statuses["steady"] + statuses["burst"]
    report = {"minutes": args.minutes, "clients": args.clients, "slow_clients": args.slow_clients,
              "burst": {"every_s": args.burst_every, "size": args.burst_size},
              "statuses": dict(sorted(merged.items())),
              "statuses_by_kind": {kind: dict(sorted(c.items())) for kind, c in statuses.items()},
              "worker_rss_mb": series, "warm_up_minutes": warm[0], "growth_after_warm_up_percent": growth,
              "peak_after_warm_up_percent": peak}
    lines = [f"{sum(merged.values())} requests in {args.minutes:g} min through nginx and gunicorn: "
             f"{args.clients} steady clients, {args.slow_clients} slow ones, a burst of {args.burst_size} from "
             f"one address every {args.burst_every:g} s", f"statuses: steady {report['statuses_by_kind']['steady']}, "
             f"bursts {report['statuses_by_kind']['burst']}", "",
             "| minute | requests | worker RSS MB |", "|---:|---:|---:|"]
    lines += [f"| {minute:g} | {done} | {mb:.0f} |" for minute, done, mb in series]
    lines += ["", f"from minute {warm[0]:g} to the last: {growth:+.1f}% (highest {peak:+.1f}%)"]
    return report, lines


def _run_all(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


if __name__ == "__main__":
    sys.exit(main())
