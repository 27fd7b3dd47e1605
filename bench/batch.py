"""The batch command's engines on the same photos: `python -m bench.batch [--photos 200] [--batch-sizes 1 4 8]`.

Writes `--photos` JPEGs (scikit-image's and Matplotlib's public-domain photos at several sizes, about
0.3 to 1.2 megapixels) into a temporary folder, then times the local engine (`python -m model`'s
`run`, the model loaded once beforehand) and the Ray engine (`model.ray_engine.run` on a local Ray with
every CPU, model actors loading the model inside the timing, as a job does) at each batch size, and
prints photos/s. Output: a markdown table and bench/results/batch.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
from PIL import Image

from bench.measure import publish
from model import SHIPPED_MODEL
from model import __main__ as cli
from model.pipeline import CutoutOptions
from model.segmenter import Segmenter
from training.showcase import load_photo

SOURCES = ("astronaut", "grace_hopper", "coffee", "chelsea", "camera", "rocket", "immunohistochemistry", "hubble_deep_field")
SIDES = (640, 800, 960, 1120, 1280)  # the longer side of each photo


def write_photos(folder: Path, count: int) -> tuple[list[Path], float]:
    """`count` JPEGs cycling through the source photos and sides, and their mean megapixels."""
    paths, pixels = [], 0
    for index in range(count):
        photo = load_photo(SOURCES[index % len(SOURCES)])
        side = SIDES[(index // len(SOURCES)) % len(SIDES)]
        scale = side / max(photo.shape[:2])
        photo = cv2.resize(photo, (round(photo.shape[1] * scale), round(photo.shape[0] * scale)),
                           interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
        path = folder / f"{index:04d}.jpg"
        Image.fromarray(photo).save(path, format="JPEG", quality=90)
        paths.append(path)
        pixels += photo.shape[0] * photo.shape[1]
    return paths, pixels / max(count, 1) / 1e6


def time_local(files: list[Path], out: Path, segmenter: Segmenter, batch_size: int) -> float:
    """Seconds of the local engine over the files."""
    start = time.perf_counter()
    with open(os.devnull, "w") as quiet:
        stderr, sys.stderr = sys.stderr, quiet
        try:
            failed = cli.run(files, out, segmenter, CutoutOptions(), batch_size)
        finally:
            sys.stderr = stderr
    assert failed == 0
    return time.perf_counter() - start


def time_ray(files: list[Path], out: Path, model: Path, batch_size: int) -> float:
    """Seconds of the Ray engine's job over the files (the local Ray already started)."""
    from model import ray_engine

    start = time.perf_counter()
    outcomes = ray_engine.run([str(f) for f in files], str(out), ray_engine.RayJob(model=model, batch_size=batch_size))
    assert not [o for o in outcomes if o.error]
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m bench.batch`."""
    parser = argparse.ArgumentParser(prog="python -m bench.batch", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=200)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--engines", nargs="+", choices=("local", "ray"), default=["local", "ray"])
    parser.add_argument("--model", type=Path, default=SHIPPED_MODEL)
    parser.add_argument("--out", type=Path, default=Path("bench/results/batch.json"))
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "photos"
        folder.mkdir()
        files, pixels = write_photos(folder, args.photos)
        if "local" in args.engines:
            segmenter = Segmenter.load(args.model)
            segmenter.warm_up()
            for batch in args.batch_sizes:
                seconds = time_local(files, Path(scratch) / f"local-{batch}", segmenter, batch)
                rows.append({"engine": "local", "batch_size": batch, "seconds": seconds, "photos_per_s": len(files) / seconds})
        if "ray" in args.engines:
            from model import ray_engine

            ray_engine.connect(None)
            for batch in args.batch_sizes:
                seconds = time_ray(files, Path(scratch) / f"ray-{batch}", args.model, batch)
                rows.append({"engine": "ray", "batch_size": batch, "seconds": seconds, "photos_per_s": len(files) / seconds})
    report = {"photos": len(files), "mean_megapixels": round(pixels, 2), "cpus": os.cpu_count(), "rows": rows}
    lines = [f"{report['photos']} photos, {report['mean_megapixels']} MP on average, {report['cpus']} CPUs", "",
             "| engine | batch size | seconds | photos/s |", "|---|---:|---:|---:|"]
    lines += [f"| {r['engine']} | {r['batch_size']} | {r['seconds']:.1f} | {r['photos_per_s']:.2f} |" for r in rows]
    publish("\n".join(lines), report, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
