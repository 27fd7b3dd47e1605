"""Batch CLI: `python -m model INPUT... -o OUTDIR [--mask] [--bg COLOR] [--crop] [--no-refine]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from model import SHIPPED_MODEL
from model.decode import ImageError
from model.pipeline import CutoutOptions, OptionError, parse_colour, remove_background
from model.segmenter import ModelLoadError, Segmenter

SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".heic", ".heif")
MAX_PIXELS = 100_000_000  # the CLI reads local files: a higher ceiling than the web service's


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m model", description=__doc__)
    parser.add_argument("inputs", nargs="+", type=Path, help="photos and folders of photos")
    parser.add_argument("-o", "--out", required=True, type=Path, help="output folder for <stem>.png")
    parser.add_argument("--mask", action="store_true", help="write the alpha mask as a grey PNG")
    parser.add_argument("--bg", default="", help="fill the background with this hex colour, e.g. #ffffff")
    parser.add_argument("--crop", action="store_true", help="crop to the person plus a margin")
    parser.add_argument("--no-refine", action="store_true", help="skip the edge refinement")
    parser.add_argument("--model", type=Path, default=SHIPPED_MODEL, help="a saved .keras model")
    return parser.parse_args(argv)


def collect(inputs: list[Path]) -> list[Path]:
    """The files named, and the photos inside the folders named (sorted, not recursive)."""
    files = []
    for path in inputs:
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES))
        else:
            files.append(path)
    return files


def run(files: list[Path], out: Path, segmenter: Segmenter, options: CutoutOptions) -> int:
    """Process every file, reporting a bad one on one line; returns the number that failed."""
    out.mkdir(parents=True, exist_ok=True)
    failed = 0
    for index, path in enumerate(files, 1):
        try:
            result = remove_background(path.read_bytes(), segmenter, options, MAX_PIXELS)
        except (ImageError, OSError) as error:
            failed += 1
            print(f"[{index}/{len(files)}] {path}: skipped: {error}", file=sys.stderr)
            continue
        target = out / f"{path.stem}.png"
        target.write_bytes(result)
        print(f"[{index}/{len(files)}] {path} -> {target}", file=sys.stderr)
    return failed


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m model`; exit status 1 if any file failed."""
    args = parse_args(argv)
    try:
        options = CutoutOptions(output="mask" if args.mask else "cutout", background=parse_colour(args.bg),
                                crop=args.crop, refine=not args.no_refine)
        segmenter = Segmenter.load(args.model)
    except (OptionError, ModelLoadError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    files = collect(args.inputs)
    if not files:
        print("error: no photos found in the inputs given", file=sys.stderr)
        return 2
    failed = run(files, args.out, segmenter, options)
    print(f"{len(files) - failed} written, {failed} failed", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
