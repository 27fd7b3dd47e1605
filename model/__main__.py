"""Command line: `python -m model INPUT... -o OUTDIR [--mask] [--bg COLOR] [--crop] [--people subject|all|main]
[--no-refine] [--engine local|ray]`; a shell pipe: `python -m model - -o - < photo.jpg > cutout.png`;
`python -m model --version` names the model and what runs it."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from model import SHIPPED_MODEL
from model.allocator import keep_freed_buffers
from model.api import MAX_PIXELS
from model.decode import ImageError, decode
from model.errors import CutoutError
from model.pipeline import PEOPLE, CutoutOptions, output_bytes, parse_colour
from model.segmenter import ModelLoadError, Segmenter

SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".heic", ".heif")
STDIO = "-"  # as input: the photo's bytes on standard input; as output: the picture on standard output
LOCAL_BATCH_SIZE = 4  # photos per forward pass on the local engine: 1.4x the photos/s of 1 on 2 CPU cores (bench.batch)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m model", description=__doc__)
    parser.add_argument("inputs", nargs="*", help="photos and folders of photos (with --engine ray also URIs "
                                                  "such as s3://bucket/prefix); - reads one photo on standard input")
    parser.add_argument("-o", "--out", help="output folder for <stem>.png (with --engine ray also a URI); with the "
                                            "input -, the file to write, or - for standard output")
    parser.add_argument("--version", action="store_true", help="name the model (file and SHA-256) and what runs it")
    parser.add_argument("--mask", action="store_true", help="write the alpha mask as a grey PNG")
    parser.add_argument("--bg", default="", help="fill the background with this hex colour, e.g. #ffffff")
    parser.add_argument("--crop", action="store_true", help="crop to the person plus a margin")
    parser.add_argument("--no-refine", action="store_true", help="skip the edge refinement")
    parser.add_argument("--people", choices=PEOPLE, default=PEOPLE[0],
                        help="subject: the people the photo is about (the performer, not the audience); all: every "
                             "person; main: only the largest region of the subject")
    parser.add_argument("--main-person", action="store_const", const="main", dest="people", help="--people main")
    parser.add_argument("--model", type=Path, default=SHIPPED_MODEL, help="a saved .keras model")
    parser.add_argument("--engine", choices=("local", "ray"), default="local",
                        help="local: this process; ray: a Ray Data job (pip install -r requirements-batch.txt)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help=f"photos per forward pass (default: {LOCAL_BATCH_SIZE} local, 8 on Ray)")
    parser.add_argument("--ray-address", default=None, help="join this Ray cluster (default: start a local Ray)")
    parser.add_argument("--workers", type=int, default=None,
                        help="Ray: model actors (default: one per GPU of the cluster, else one per 2 CPUs)")
    parser.add_argument("--gpus-per-worker", type=float, default=None,
                        help="Ray: GPUs per model actor (default: 1 when the cluster has GPUs, else 0)")
    args = parser.parse_args(argv)
    if not args.version and (not args.inputs or args.out is None):
        parser.error("give the photos and -o OUT (or - -o - for a pipe), or --version")
    if STDIO in args.inputs and (len(args.inputs) > 1 or args.engine != "local"):
        parser.error("- reads one photo on standard input: give no other input, and the local engine")
    if args.batch_size is not None and args.batch_size < 1:
        parser.error(f"--batch-size must be at least 1, got {args.batch_size}")
    return args


def collect(inputs: list[Path]) -> list[Path]:
    """The files named, and the photos inside the folders named (sorted, not recursive)."""
    files = []
    for path in inputs:
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES))
        else:
            files.append(path)
    return files


def run(files: list[Path], out: Path, segmenter: Segmenter, options: CutoutOptions, batch_size: int = 1) -> int:
    """Process every file, `batch_size` photos per forward pass, reporting a bad one on one line;
    returns the number that failed."""
    out.mkdir(parents=True, exist_ok=True)
    failed = 0
    for start in range(0, len(files), batch_size):
        decoded = []
        for index, path in enumerate(files[start:start + batch_size], start + 1):
            try:
                decoded.append((index, path, decode(path.read_bytes(), MAX_PIXELS)))
            except (ImageError, OSError) as error:
                failed += 1
                print(f"[{index}/{len(files)}] {path}: skipped: {error}", file=sys.stderr)
        probabilities = segmenter.predict_batch([rgb for _, _, rgb in decoded], options.network_output)
        for (index, path, rgb), probability in zip(decoded, probabilities):
            target = out / f"{path.stem}.png"
            try:
                target.write_bytes(output_bytes(rgb, probability, options))
            except OSError as error:
                failed += 1
                print(f"[{index}/{len(files)}] {path}: skipped: {error}", file=sys.stderr)
                continue
            print(f"[{index}/{len(files)}] {path} -> {target}", file=sys.stderr)
    return failed


def load(path: Path) -> Segmenter | None:
    """The model at `path`, or None after one line on standard error saying why not."""
    try:
        return Segmenter.load(path)
    except ModelLoadError as error:
        print(f"error: {error}", file=sys.stderr)
        return None


def version(args: argparse.Namespace) -> int:
    """Print which model answers and what runs it: `<file> sha256:<12 hex digits>, <engine> on the <device>`."""
    segmenter = load(args.model)
    if segmenter is None:
        return -1
    print(f"{segmenter.model_id}, {segmenter.engine} on the {segmenter.device}, outputs: {', '.join(segmenter.outputs)}")
    return 0


def pipe(args: argparse.Namespace, options: CutoutOptions) -> int:
    """One photo from standard input to the file `args.out` or standard output; returns 0, 1 or -1."""
    data = sys.stdin.buffer.read()
    segmenter = load(args.model)
    if segmenter is None:
        return -1
    try:
        rgb = decode(data, MAX_PIXELS)
    except ImageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    picture = output_bytes(rgb, segmenter.predict(rgb, options.network_output), options)
    if args.out == STDIO:
        sys.stdout.buffer.write(picture)
        sys.stdout.buffer.flush()
        return 0
    try:
        Path(args.out).write_bytes(picture)
    except OSError as error:
        print(f"error: {args.out}: {error.strerror}", file=sys.stderr)
        return 1
    return 0


def run_local(args: argparse.Namespace, options: CutoutOptions) -> int:
    """The local engine: load the model here and process the files in order; returns the failures, or -1."""
    segmenter = load(args.model)
    if segmenter is None:
        return -1
    files = collect([Path(p) for p in args.inputs])
    if not files:
        print("error: no photos found in the inputs given", file=sys.stderr)
        return -1
    keep_freed_buffers()  # one photo's buffers serve the next (model/allocator.py)
    start = time.perf_counter()
    failed = run(files, Path(args.out), segmenter, options, args.batch_size or LOCAL_BATCH_SIZE)
    seconds = time.perf_counter() - start
    done = len(files) - failed
    print(f"{done} written, {failed} failed in {seconds:.1f} s ({done / max(seconds, 1e-9):.2f} photos/s, "
          "local engine)", file=sys.stderr)
    return failed


def run_ray(args: argparse.Namespace, options: CutoutOptions) -> int:
    """The Ray engine (model.ray_engine); returns the failures, or -1."""
    try:
        from model import ray_engine
    except ImportError as error:
        print(f"error: --engine ray needs Ray: pip install -r requirements-batch.txt ({error})", file=sys.stderr)
        return -1
    job = ray_engine.RayJob(model=args.model, options=options, batch_size=args.batch_size or 8,
                            workers=args.workers, gpus_per_worker=args.gpus_per_worker, max_pixels=MAX_PIXELS)
    try:
        return ray_engine.main(args.inputs, args.out, job, args.ray_address, SUFFIXES)
    except (ModelLoadError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return -1


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m model`; exit status 1 if any file failed, 2 if nothing could run."""
    args = parse_args(argv)
    if args.version:
        return 2 if version(args) < 0 else 0
    try:
        options = CutoutOptions(output="mask" if args.mask else "cutout", background=parse_colour(args.bg),
                                crop=args.crop, refine=not args.no_refine, people=args.people)
    except CutoutError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.inputs == [STDIO]:
        failed = pipe(args, options)
    else:
        failed = (run_ray if args.engine == "ray" else run_local)(args, options)
    return 2 if failed < 0 else (1 if failed else 0)


if __name__ == "__main__":
    sys.exit(main())
