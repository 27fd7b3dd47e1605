"""Stage-by-stage timings of a request: `python -m bench [--repeats N] [--out bench/results/bench.json]`.

For a 1- and a 12-megapixel JPEG of a person it reports median and p95 seconds of decode + EXIF,
resize to the serving size, forward pass (as served: with the second look where the person is large),
upsampling + edge refinement, composing (and within it the person's colour under the soft edge), PNG
encoding and the whole `/api/remove` request through the WSGI app; the bare forward pass at batch 1 and 8;
the floor (Pillow JPEG decode + RGBA PNG encode at the service's level) and the whole request's ratio
to it, with and without the forward pass added to the floor; the peak memory of a request.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from app import create_app
from bench.load import free_port, start_server
from bench.measure import SIZES, photo, publish, summary, timed
from model import SHIPPED_MODEL, compose
from model.decode import decode
from model.foreground import foreground
from model.letterbox import unletterbox
from model.pipeline import PNG_COMPRESS_LEVEL, CutoutOptions, encode, render
from model.refine import guided_alpha
from model.segmenter import Segmenter

def stages(segmenter: Segmenter, client, data: bytes, repeats: int) -> dict[str, dict[str, float]]:
    """Each stage of the pipeline on one photo, then the whole request and the floor."""
    rgb = decode(data, 10**9)
    canvas, placement = segmenter.canvas(rgb)
    probability = segmenter.look([canvas], [placement])[0]
    full = unletterbox(probability, placement)
    alpha8 = compose.to_alpha8(guided_alpha(rgb, full))
    picture = render(rgb, alpha8, CutoutOptions())
    results = {
        "decode + EXIF": timed(lambda: decode(data, 10**9), repeats),
        "resize to serving size": timed(lambda: segmenter.canvas(rgb), repeats),
        "forward pass": timed(lambda: segmenter.look([canvas], [placement]), repeats),  # as served
        "upsample + refine": timed(lambda: compose.to_alpha8(guided_alpha(rgb, unletterbox(probability, placement))),
                                   repeats),
        "compose (with the foreground colour)": timed(lambda: render(rgb, alpha8, CutoutOptions()), repeats),
        "  of which foreground colour": timed(lambda: foreground(rgb, alpha8), repeats),
        "PNG encode": timed(lambda: encode(picture), repeats),
        "whole request (WSGI)": timed(lambda: _request(client, data), repeats),
        "floor: Pillow decode + PNG encode": timed(lambda: _floor(data), repeats),
    }
    return {name: summary(times) for name, times in results.items()}


def _request(client, data: bytes) -> bytes:
    response = client.post("/api/remove", data={"image": (io.BytesIO(data), "photo.jpg")},
                           content_type="multipart/form-data")
    assert response.status_code == 200, response.get_json()
    return response.data


def _floor(data: bytes) -> bytes:
    image = Image.open(io.BytesIO(data)).convert("RGBA")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue()


def _rss_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def one_request(client, data: bytes) -> tuple[float | None, int]:
    """The peak resident memory of one request above the resident memory before it (Linux only, else
    None), and the bytes of the PNG cutout it answered."""
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets the peak (VmHWM) to the current size
    except OSError:
        return None, len(_request(client, data))
    before = _rss_kb("VmRSS")
    answer = _request(client, data)
    return (_rss_kb("VmHWM") - before) / 1024, len(answer)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m bench`."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--model", type=Path, default=SHIPPED_MODEL)
    parser.add_argument("--out", type=Path, default=Path("bench/results/bench.json"))
    args = parser.parse_args(argv)
    startup, segmenter = start_up(args.model)
    client = create_app({"SEGMENTER": segmenter, "WARM_UP": False, "MAX_PIXELS": 10**9,
                         "MAX_CONTENT_LENGTH": 10**9}).test_client()
    report = {"device": segmenter.device, "serving_size": segmenter.size, "engine": segmenter.engine,
              "start_up": startup, "photos": {}}
    for label, (width, height) in SIZES.items():
        data = photo(width, height)
        peak_mb, cutout_bytes = one_request(client, data)
        report["photos"][label] = {"bytes": len(data), "stages": stages(segmenter, client, data, args.repeats),
                                   "peak_request_mb": peak_mb, "cutout_bytes": cutout_bytes}
    batch = {n: summary(timed(lambda n=n: segmenter.forward(np.zeros((n, segmenter.size, segmenter.size, 3),
                                                                       np.uint8)), args.repeats))
             for n in (1, 8)}
    report["bare_forward"] = {f"batch {n}": value for n, value in batch.items()}
    publish(format_report(report), report, args.out)
    return 0


def start_up(model: Path) -> tuple[dict[str, float], Segmenter]:
    """Seconds to load the model and to warm it up in this process, and from starting gunicorn to its
    first 200 on /readyz (imports, load and warm-up together); and the loaded, warm segmenter."""
    start = time.perf_counter()
    segmenter = Segmenter.load(model)
    loaded = time.perf_counter()
    segmenter.warm_up()
    warm = time.perf_counter()
    server = start_server(free_port(), {"MODEL_PATH": str(model)})
    ready = time.perf_counter() - warm
    server.terminate()
    server.wait(30)
    return {"load_s": loaded - start, "warm_up_s": warm - loaded, "gunicorn_start_to_readyz_s": ready}, segmenter


def format_report(report: dict) -> str:
    """Markdown tables of medians and p95s, and the targets' ratios."""
    lines = [f"device: {report['device']}, serving size {report['serving_size']}, forward pass by {report['engine']}"]
    if report.get("start_up"):
        up = report["start_up"]
        lines.append(f"start-up: model loaded in {up['load_s']:.1f} s, warm in {up['warm_up_s']:.1f} s more; gunicorn "
                     f"started to /readyz 200 in {up['gunicorn_start_to_readyz_s']:.1f} s")
    lines.append("")
    for label, result in report["photos"].items():
        lines += [f"### {label} JPEG ({result['bytes']:,} bytes)", "", "| stage | median s | p95 s |", "|---|---:|---:|"]
        for name, value in result["stages"].items():
            lines.append(f"| {name} | {value['median_s']:.4f} | {value['p95_s']:.4f} |")
        st = result["stages"]
        whole, floor = st["whole request (WSGI)"]["median_s"], st["floor: Pillow decode + PNG encode"]["median_s"]
        with_network = floor + st["forward pass"]["median_s"]
        lines += ["", f"whole request / floor = {whole / floor:.2f}; whole request / (floor + forward pass) = "
                      f"{whole / with_network:.2f}; peak memory of a request: {result['peak_request_mb']:.0f} MB "
                      f"above the process before it; the cutout PNG: {result['cutout_bytes']:,} bytes", ""]
    lines += ["| bare forward pass | median s | p95 s |", "|---|---:|---:|"]
    for name, value in report["bare_forward"].items():
        lines.append(f"| {name} | {value['median_s']:.4f} | {value['p95_s']:.4f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
