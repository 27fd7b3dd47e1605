"""Memory soak through the production pair: `python -m bench.soak [--requests 2000] [--clients 2]`.

Starts nginx in front of gunicorn (deploy/start.sh) with the default configuration, then sends a fixed,
seeded mix of varied uploads: public-domain photos from 0.01 to 12 megapixels in every format the service
reads (JPEG, CMYK JPEG, PNG, 16-bit and palette PNG, WebP, BMP, TIFF, GIF), with every option, beside odd
files (truncated, bit-flipped, formats it does not read, text). It reads the gunicorn worker's resident
memory every 100 requests and prints the series, the status counts and the growth from request 200 to
the last (the allocator's and caches' warm-up comes before request 200).
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
from bench.load import free_port, gunicorn_master, multipart, post, start_server, worker_rss_mb

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
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--every", type=int, default=100, help="read the worker's memory every this many requests")
    parser.add_argument("--out", default="bench/results/soak.json")
    args = parser.parse_args(argv)
    uploads = corpus(args.requests)
    port = free_port()
    server = start_server(port, proxy=True)
    master = gunicorn_master(server)
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

    try:
        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        server.terminate()
        server.wait(60)
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
    publish("\n".join(lines), report, Path(args.out))
    return 0 if 500 not in statuses and 0 not in statuses else 1


if __name__ == "__main__":
    sys.exit(main())
