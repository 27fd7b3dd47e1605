"""What every benchmark shares: the photo of a person at a given size, timing, and the report's last step."""

from __future__ import annotations

import io
import json
import statistics
import time
from pathlib import Path

import cv2
from PIL import Image

SIZES = {"1MP": (1000, 1000), "12MP": (4000, 3000)}  # (width, height)


def photo(width: int, height: int) -> bytes:
    """scikit-image's astronaut (a public-domain photo of a person) scaled to width x height, as JPEG."""
    from skimage import data

    image = cv2.resize(data.astronaut(), (width, height), interpolation=cv2.INTER_CUBIC)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def timed(function, repeats: int) -> list[float]:
    """Seconds of each of `repeats` calls, after one warm-up call."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return times


def summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return {"median_s": statistics.median(times), "p95_s": p95, "runs": len(times)}


def publish(tables: str, report: dict, out: Path) -> None:
    """Print the tables and write the report as JSON (every benchmark's last step)."""
    print(tables)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten: {out}")
