"""The performance levers, each measured against its alternatives: `python -m bench.levers [--repeats N]`.

On the 12-megapixel photo of `python -m bench` (and the serving-size canvas for the network):
- forward pass: the engines on every input shape at batch 1 and 4, interleaved: the LiteRT float32 file on
  XNNPACK (served), TensorFlow's traced graph with a uint8 signature (served on a GPU), LiteRT with float16
  and dynamic-range int8 weights (on the two squares), each with its largest probability difference from
  the traced graph on real photos; and the traced graph with TensorFlow's CPU settings (oneDNN off, one
  intra-op thread) in fresh processes;
- canvas shapes: the first look on every canvas shape (one per aspect, upright and lying), the second
  look's square, and on the photo's canvas the first look with the second look at a large person
  (served) and without, against the square at the serving size, called in turn round after round
  (interleaved, so that the machine's drift falls on all of them alike);
- resize to the photo's canvas: OpenCV INTER_AREA (served), OpenCV INTER_LINEAR, Pillow's reducing resize;
- edge refinement: the fast guided filter at <= 1024 px (served) against itself without the small-people step
  and against the same filter at full resolution, with the largest and mean difference of the alpha they give;
- foreground colour: blur-fusion's two passes at <= 256 px (served), 512, 1024 and full resolution, with the
  largest and mean colour difference from full resolution, and no estimate (the photo's own colours);
- compose: OpenCV's split + merge (served) against RGB2RGBA + insertChannel and numpy `dstack` for the
  RGBA cutout; OpenCV's uint8 blend (served) against uint16 integer and float32 fills;
and on both photos (1 and 12 megapixels):
- JPEG decoding: Pillow, simplejpeg, imagecodecs and pyvips (all libjpeg-turbo), and the network's input
  from the full decode against a DCT-scaled small decode;
- PNG encoding: model.png with each wheel's deflate (ISA-L, zlib-ng, libdeflate, zlib), Pillow, OpenCV
  with each row filter, imagecodecs' libpng and libspng, pyvips, and WebP lossless (served) and lossy:
  seconds and bytes.
Output: markdown tables on the terminal and bench/results/levers.json.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Hashable, TypeVar

import cv2
import numpy as np
from PIL import Image, ImageOps

from bench.measure import SIZES, photo, publish, summary, timed
from model import SHIPPED_MODEL, compose, refine
from model import foreground as foreground_module
from model.decode import decode
from model.foreground import foreground
from model.letterbox import letterbox, nearest_shape
from model.litert import default_threads
from model.pipeline import PNG_COMPRESS_LEVEL, encode
from model.png import LEVEL, encode_png
from model.segmenter import Segmenter

Key = TypeVar("Key", bound=Hashable)  # what names a call in `interleaved`

Row = dict[str, float | int | str]
ROOT = Path(__file__).resolve().parents[1]


def _row(name: str, function: Callable[[], object], repeats: int, **extra: float | int | str) -> Row:
    return {"lever": name, **summary(timed(function, repeats)), **extra}


def forward_levers(segmenter: Segmenter, model: Path, repeats: int) -> list[Row]:
    """The forward pass engines on every input shape at batch 1 and 4, interleaved round by round: the
    LiteRT float32 file (served), TensorFlow's traced graph (served on a GPU), and LiteRT with float16 or
    dynamic-range int8 weights (converted here, on the serving square and the second look's square only);
    each with its largest probability difference from the traced graph on real photos."""
    from ai_edge_litert.interpreter import Interpreter

    from model.litert import FastForward
    from training.litert import convert

    squares = [shape for shape in segmenter.looks if shape[0] == shape[1]]
    engines: dict[str, tuple[Callable[[np.ndarray], np.ndarray], list[tuple[int, int]]]] = {
        "LiteRT float32, XNNPACK (served)": (segmenter.forward_all, segmenter.looks),
        "TensorFlow traced graph, uint8 signature": (segmenter.graph_forward, segmenter.looks),
    }
    for weights in ("float16", "dynamic-int8"):
        interpreter = Interpreter(model_content=convert(segmenter, squares, weights), num_threads=default_threads())
        engines[f"LiteRT {weights} weights"] = (FastForward(interpreter, squares), squares)
    photos = _real_canvases(segmenter)
    rng = np.random.default_rng(0)
    calls: dict[str, Callable[[], object]] = {}
    engine_of: dict[str, str] = {}
    for shape in segmenter.looks:
        for batch in (1, 4):
            canvases = rng.integers(0, 256, (batch, *shape, 3), dtype=np.uint8)
            for name, (forward, shapes) in engines.items():
                if shape in shapes:
                    label = f"{name}, {shape[0]} x {shape[1]}, batch {batch}"
                    calls[label], engine_of[label] = (lambda forward=forward, canvases=canvases: forward(canvases)), name
    times = interleaved(calls, repeats)
    differences = {name: _largest_difference(forward, segmenter.graph_forward, photos, shapes)
                   for name, (forward, shapes) in engines.items()}
    return [{"lever": label, **summary(seconds), "max_probability_difference": f"{differences[engine_of[label]]:.1e}"}
            for label, seconds in times.items()] + _tensorflow_knobs(segmenter, model, repeats)


def _real_canvases(segmenter: Segmenter) -> list[np.ndarray]:
    """Public-domain photos of people and of no one, each fitted into its canvas and into the second look's."""
    from training.showcase import load_photo

    canvases = []
    for picture in map(load_photo, ("astronaut", "grace_hopper", "coffee", "chelsea", "camera")):
        canvases.append(segmenter.canvas(picture)[0])
        canvases += [letterbox(picture, shape)[0] for shape in segmenter.looks if shape[0] == shape[1]]
    return canvases


def _largest_difference(forward, reference, canvases: list[np.ndarray], shapes: list[tuple[int, int]]) -> float:
    """The largest probability difference between two forward passes over the canvases of the given shapes."""
    held = [canvas[None] for canvas in canvases if canvas.shape[:2] in shapes]
    return max(float(np.abs(forward(batch) - reference(batch)).max()) for batch in held)


def _tensorflow_knobs(segmenter: Segmenter, model: Path, repeats: int) -> list[Row]:
    """TensorFlow's traced graph at the serving square, batch 1, in fresh processes with its CPU settings
    (they are read once at start-up): oneDNN off, and one intra-op thread."""
    rows = []
    script = ("import os, sys, time, statistics, numpy as np; from model.segmenter import Segmenter; "
              "import tensorflow as tf; t = os.environ.get('INTRA'); "
              "t and tf.config.threading.set_intra_op_parallelism_threads(int(t)); "
              "s = Segmenter.load(sys.argv[1], fast=False); n = s.size; "
              "x = np.random.default_rng(0).integers(0, 256, (1, n, n, 3), dtype=np.uint8); s.forward(x); "
              "times = []\nfor _ in range(int(sys.argv[2])):\n    a = time.perf_counter(); s.forward(x); "
              "times.append(time.perf_counter() - a)\nprint(' '.join(map(str, times)))")
    for label, env in (("oneDNN off (TF_ENABLE_ONEDNN_OPTS=0)", {"TF_ENABLE_ONEDNN_OPTS": "0"}),
                       ("one intra-op thread", {"INTRA": "1"})):
        result = subprocess.run([sys.executable, "-c", script, str(model), str(repeats)], cwd=ROOT,
                                env={**os.environ, **env, "TF_CPP_MIN_LOG_LEVEL": "3"}, capture_output=True,
                                text=True, timeout=600, check=True)
        seconds = [float(value) for value in result.stdout.split()]
        rows.append({"lever": f"TensorFlow traced graph, {label}, {segmenter.size} x {segmenter.size}, batch 1",
                     **summary(seconds), "max_probability_difference": "-"})
    return rows


def canvas_levers(segmenter: Segmenter, rgb: np.ndarray, repeats: int) -> list[Row]:
    """The first look on every canvas shape, the second look's square, and the benchmark photo's large
    person (the astronaut fills about 60% of it) with both looks and with the first alone, all against the
    square at the serving size, interleaved: the canvases hold about the square's pixels, so they should
    cost about its time, and the second look where it runs 1 + (192 / 320)^2."""
    rng = np.random.default_rng(0)
    looks = segmenter.looks
    photo_canvas, placement = segmenter.canvas(rgb)
    calls: dict[str, Callable[[], object]] = {}
    for height, width in looks:
        canvas = rng.integers(0, 256, (1, height, width, 3), dtype=np.uint8)
        which = "first" if (height, width) in segmenter.shapes else "second"
        calls[f"{height} x {width}, {which} look (served)"] = lambda canvas=canvas: segmenter.forward(canvas)
    calls["a large person: first look and second look (served)"] = lambda: segmenter.look([photo_canvas], [placement])
    calls["a large person: first look only"] = lambda: segmenter.forward(photo_canvas[None])
    times = interleaved(calls, repeats)
    square = statistics.median(next(iter(times.values())))
    rows = []
    for (name, seconds), shape in zip(times.items(), [*looks, None, None]):  # the two large-person rows last
        row: Row = {"lever": name, **summary(seconds), "time_vs_square": f"{statistics.median(seconds) / square:.2f}"}
        if shape:
            row["pixels_vs_square"] = f"{shape[0] * shape[1] / segmenter.size ** 2:.3f}"
        rows.append(row)
    return rows


def interleaved(calls: dict[Key, Callable[[], object]], repeats: int) -> dict[Key, list[float]]:
    """Seconds of each call, called in turn round after round after one warm-up call each, so that the
    machine's drift during the run falls on all of them alike."""
    for call in calls.values():
        call()
    times: dict[Key, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return times


def resize_levers(rgb: np.ndarray, shape: tuple[int, int], repeats: int) -> list[Row]:
    """The photo scaled to fit its canvas of `shape` (height, width)."""
    placement = letterbox(rgb, shape)[1]
    target = (placement.scaled_width, placement.scaled_height)
    pillow = Image.fromarray(rgb)
    return [
        _row("OpenCV INTER_AREA (served)", lambda: letterbox(rgb, shape), repeats),
        _row("OpenCV INTER_LINEAR (aliases)", lambda: cv2.resize(rgb, target, interpolation=cv2.INTER_LINEAR),
             repeats),
        _row("Pillow BILINEAR, reducing_gap=3", lambda: np.asarray(pillow.resize(target, Image.BILINEAR,
                                                                                reducing_gap=3.0)), repeats),
        _row("Pillow from array + BILINEAR, reducing_gap=3",
             lambda: np.asarray(Image.fromarray(rgb).resize(target, Image.BILINEAR, reducing_gap=3.0)), repeats),
    ]


def refine_levers(rgb: np.ndarray, probability: np.ndarray, repeats: int) -> list[Row]:
    """Fast guided filter (coefficients at <= WORK_SIDE) against itself without the small-people step and
    against the full-resolution guided filter."""
    whole = max(rgb.shape[:2])  # the same filter with every box computed at full resolution
    fast, full = refine.guided_alpha(rgb, probability), refine.guided_alpha(rgb, probability, work_side=whole)
    full_row = _row("guided filter at full resolution",
                    lambda: refine.guided_alpha(rgb, probability, work_side=whole), repeats)
    difference = np.abs(compose.to_alpha8(fast).astype(np.int16) - compose.to_alpha8(full).astype(np.int16))
    fast_row = _row(f"fast guided filter at <= {refine.WORK_SIDE} px (served)", lambda: refine.guided_alpha(rgb, probability),
                    repeats, max_alpha_difference=int(difference.max()),
                    mean_alpha_difference=round(float(difference.mean()), 3))
    bare_row = _row("fast guided filter without the small-people step",
                    lambda: refine.guided_alpha(rgb, probability, small_people=False), repeats)
    return [fast_row, bare_row, full_row]


def foreground_levers(rgb: np.ndarray, alpha8: np.ndarray, repeats: int) -> list[Row]:
    """The person's colour under the soft edge with its two passes at several work sides, each with its
    largest and mean difference in the soft pixels from the passes at full resolution, and no estimate."""
    whole = max(rgb.shape[:2])
    full = foreground(rgb, alpha8, work_side=whole).astype(np.int16)
    soft = cv2.inRange(alpha8, 1, 254) > 0
    rows = []
    for side in (foreground_module.WORK_SIDE, 512, 1024, whole):
        difference = np.abs(foreground(rgb, alpha8, work_side=side).astype(np.int16) - full)[soft]
        label = f"blur-fusion, passes at <= {side} px" + (" (served)" if side == foreground_module.WORK_SIDE else "")
        rows.append(_row(label if side != whole else "blur-fusion, passes at full resolution",
                         lambda side=side: foreground(rgb, alpha8, work_side=side), repeats,
                         max_colour_difference=int(difference.max(initial=0)),
                         mean_colour_difference=round(float(difference.mean()) if difference.size else 0.0, 3)))
    rows.append(_row("none: the photo's colours, transparent pixels black (cv2.min)",
                     lambda: cv2.min(rgb, cv2.merge([alpha8] * 3)), repeats))
    return rows


def compose_levers(rgb: np.ndarray, alpha8: np.ndarray, repeats: int) -> list[Row]:
    """The RGBA cutout and the colour fill of the estimated colours, each two ways."""
    rgb = foreground(rgb, alpha8)

    def float_fill() -> np.ndarray:
        a = alpha8[..., None].astype(np.float32) * (1.0 / 255.0)
        return (rgb * a + np.float32(255.0) * (1.0 - a) + 0.5).astype(np.uint8)

    def uint16_fill() -> np.ndarray:
        a = alpha8[..., None].astype(np.uint16)
        return ((rgb.astype(np.uint16) * a + 255 * (255 - a) + 127) // 255).astype(np.uint8)

    return [
        _row("cutout: OpenCV split + merge (served)", lambda: compose.with_alpha(rgb, alpha8), repeats),
        _row("cutout: OpenCV cvtColor RGB2RGBA + insertChannel", lambda: _insert_alpha(rgb, alpha8), repeats),
        _row("cutout: numpy dstack", lambda: np.dstack([rgb, alpha8]), repeats),
        _row("fill: OpenCV uint8 multiply/add (served)", lambda: compose.blend(rgb, alpha8, (255, 255, 255)),
             repeats),
        _row("fill: numpy uint16 integer", uint16_fill, repeats),
        _row("fill: numpy float32", float_fill, repeats),
    ]


def _pillow_png(rgba: np.ndarray, level: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgba).save(buffer, format="PNG", compress_level=level)
    return buffer.getvalue()


def _insert_alpha(rgb: np.ndarray, alpha8: np.ndarray) -> np.ndarray:
    rgba = cv2.cvtColor(rgb, cv2.COLOR_RGB2RGBA)
    cv2.insertChannel(alpha8, rgba, 3)
    return rgba


def _pillow_webp(rgba: np.ndarray) -> bytes:
    """Lossy WebP, the service's format=webp until the cutout's transparent pixels had to stay black."""
    buffer = io.BytesIO()
    Image.fromarray(rgba).save(buffer, format="WEBP", quality=90, method=0)
    return buffer.getvalue()


def _opencv_png(rgba: np.ndarray, png_filter: int) -> bytes:
    """OpenCV's libpng at zlib level 1 with one row filter (the service's encoder until issue 19)."""
    ok, data = cv2.imencode(".png", cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA),
                            [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESS_LEVEL, cv2.IMWRITE_PNG_FILTER, png_filter])
    return data.tobytes()


def _vips_png(rgba: np.ndarray) -> bytes:
    import pyvips

    height, width, bands = rgba.shape
    image = pyvips.Image.new_from_memory(np.ascontiguousarray(rgba).data, width, height, bands, "uchar")
    return image.pngsave_buffer(compression=PNG_COMPRESS_LEVEL, filter="up")


def _deflaters() -> dict[str, Callable[[np.ndarray, int], bytes]]:
    """zlib-stream compressors for model.png's writer: the served ISA-L and the other wheels' deflate."""
    import zlib

    import imagecodecs
    from isal import isal_zlib
    from zlib_ng import zlib_ng

    return {"ISA-L": isal_zlib.compress, "zlib-ng": zlib_ng.compress, "stdlib zlib": zlib.compress,
            "libdeflate (imagecodecs)": lambda data, level: imagecodecs.deflate_encode(data, level=level)}


def encode_levers(rgba: np.ndarray, repeats: int) -> list[Row]:
    """Seconds and bytes of each way to encode the RGBA cutout; every PNG is checked to be lossless."""
    import imagecodecs

    cases: list[tuple[str, Callable[[], bytes]]] = [
        (f"model.png: NumPy up filter + {name} level {level}" + (" (served)" if name == "ISA-L" and level == LEVEL
                                                                   else ""),
         lambda deflate=deflate, level=level: encode_png(rgba, level, deflate))
        for name, deflate in _deflaters().items() for level in ((0, 1, 2) if name == "ISA-L" else (1,))
    ]
    cases += [(f"Pillow PNG level {level}" + (" (the floor)" if level == PNG_COMPRESS_LEVEL else ""),
               lambda level=level: _pillow_png(rgba, level)) for level in (1, 6)]
    filters = {"none": cv2.IMWRITE_PNG_FILTER_NONE, "sub": cv2.IMWRITE_PNG_FILTER_SUB,
               "up": cv2.IMWRITE_PNG_FILTER_UP, "paeth": cv2.IMWRITE_PNG_FILTER_PAETH}
    cases += [(f"OpenCV PNG level {PNG_COMPRESS_LEVEL}, filter {name}",
               lambda f=f: _opencv_png(rgba, f)) for name, f in filters.items()]
    cases += [
        ("imagecodecs png_encode (libpng) level 1, filter up", lambda: imagecodecs.png_encode(rgba, level=1, filter=32)),
        ("imagecodecs png_encode level 1, RLE, filter sub (its fast setting)",
         lambda: imagecodecs.png_encode(rgba, level=1, strategy=3, filter=16)),
        ("imagecodecs spng_encode (libspng) level 1", lambda: imagecodecs.spng_encode(rgba, level=1)),
        ("pyvips pngsave level 1, filter up", lambda: _vips_png(rgba)),
    ]
    rows = []
    for name, function in cases:
        data = function()
        with Image.open(io.BytesIO(data)) as image:
            if not np.array_equal(np.asarray(image.convert("RGBA")), rgba):
                raise AssertionError(f"{name} is not lossless")
        rows.append(_row(name, function, repeats, bytes=len(data)))
    rows.append(_row("Pillow WebP lossless, effort 0, method 0 (format=webp)", lambda: encode(rgba, "webp"),
                     repeats, bytes=len(encode(rgba, "webp"))))
    rows.append(_row("Pillow WebP lossy quality 90, method 0 (transparent pixels not black once decoded)",
                     lambda: _pillow_webp(rgba), repeats, bytes=len(_pillow_webp(rgba))))
    return rows


def _pillow_pixels(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(ImageOps.exif_transpose(image).convert("RGB"))


def _vips_pixels(data: bytes) -> np.ndarray:
    import pyvips

    image = pyvips.Image.new_from_buffer(data, "", access="sequential")
    return np.ndarray((image.height, image.width, image.bands), np.uint8, image.write_to_memory())


def decode_levers(data: bytes, shape: tuple[int, int], repeats: int) -> list[Row]:
    """Seconds of each JPEG decoder (all to the same pixels), and of each way to get the network's input."""
    import imagecodecs
    import simplejpeg

    reference = _pillow_pixels(data)
    decoders: list[tuple[str, Callable[[], np.ndarray]]] = [
        ("model.decode: Pillow header + EXIF, simplejpeg pixels (served)", lambda: decode(data, 10**9)),
        ("Pillow decode + exif_transpose + asarray", lambda: _pillow_pixels(data)),
        ("simplejpeg alone", lambda: simplejpeg.decode_jpeg(data)),
        ("imagecodecs jpeg8_decode (libjpeg-turbo)", lambda: imagecodecs.jpeg8_decode(data)),
        ("pyvips jpegload", lambda: _vips_pixels(data)),
    ]
    rows = []
    for name, function in decoders:
        same = bool(np.array_equal(function(), reference))
        rows.append(_row(name, function, repeats, same_pixels_as_pillow=str(same)))
    rgb = reference

    def dct_scaled() -> np.ndarray:
        # libjpeg's 1/2, 1/4, 1/8 scaling, to at least the canvas
        small = simplejpeg.decode_jpeg(data, min_width=shape[1], min_height=shape[0])
        return letterbox(small, shape)[0]

    rows += [
        _row("network input: INTER_AREA from the full decode (served)", lambda: letterbox(rgb, shape), repeats),
        _row("network input: DCT-scaled decode (simplejpeg min size) + INTER_AREA", dct_scaled, repeats,
             max_input_difference=int(np.abs(dct_scaled().astype(int) - letterbox(rgb, shape)[0]).max())),
    ]
    return rows


def measure(segmenter: Segmenter, model: Path, megapixels: str, repeats: int) -> dict[str, list[Row]]:
    """Every lever on the benchmark photo of the given size, then the codecs on every size."""
    rgb = decode(photo(*SIZES[megapixels]), 10**9)
    probability = segmenter.predict(rgb)
    alpha8 = compose.to_alpha8(refine.guided_alpha(rgb, probability))
    levers = {
        "forward pass": forward_levers(segmenter, model, repeats),
        "canvas shapes": canvas_levers(segmenter, rgb, repeats),
        "resize to serving size": resize_levers(rgb, nearest_shape(*rgb.shape[:2], segmenter.shapes), repeats),
        "upsample + refine": refine_levers(rgb, probability, repeats),
        "foreground colour": foreground_levers(rgb, alpha8, repeats),
        "compose": compose_levers(rgb, alpha8, repeats),
    }
    for label, (width, height) in SIZES.items():
        data = photo(width, height)
        rgb = decode(data, 10**9)
        alpha8 = compose.to_alpha8(refine.guided_alpha(rgb, segmenter.predict(rgb)))
        levers[f"decode {label}"] = decode_levers(data, nearest_shape(*rgb.shape[:2], segmenter.shapes), repeats)
        levers[f"encode {label}"] = encode_levers(compose.cutout(rgb, alpha8), repeats)
    return levers


def format_tables(report: dict) -> str:
    """One markdown table per stage."""
    lines = [f"device: {report['device']}, serving size {report['serving_size']}, photo {report['photo']}"]
    for stage, rows in report["levers"].items():
        extras = sorted({key for row in rows for key in row} - {"lever", "median_s", "p95_s", "runs"})
        lines += ["", f"### {stage}", "", "| " + " | ".join(["lever", "median s", "p95 s", *extras]) + " |",
                  "|---|" + "---:|" * (2 + len(extras))]
        for row in rows:
            cells = [f"{row[key]:,}" if isinstance(row.get(key), int) else str(row.get(key, "")) for key in extras]
            lines.append("| " + " | ".join([str(row["lever"]), f"{row['median_s']:.4f}", f"{row['p95_s']:.4f}",
                                             *cells]) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m bench.levers`."""
    parser = argparse.ArgumentParser(prog="python -m bench.levers", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--photo", choices=tuple(SIZES), default="12MP")
    parser.add_argument("--model", type=Path, default=SHIPPED_MODEL)
    parser.add_argument("--out", type=Path, default=Path("bench/results/levers.json"))
    args = parser.parse_args(argv)
    segmenter = Segmenter.load(args.model)
    report = {"device": segmenter.device, "serving_size": segmenter.size, "photo": args.photo,
              "levers": measure(segmenter, args.model, args.photo, args.repeats)}
    publish(format_tables(report), report, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
