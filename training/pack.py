"""Copy data roots in a compact form, to train on another machine: `python -m training.pack ROOT ... --out DIR`.

Each root becomes DIR/<root's folder name>/images/<id>.webp and masks/<id>.png: photos longer than
--max-side shrunk (area-averaged; masks nearest-neighbour, 0/255), photos re-encoded as WebP. Ids are
kept, so a run on the packed roots is split exactly as a run on the originals (the split depends only
on the ids and the seed), and `training.evaluate` can score its models on the originals. Training
keeps photos in memory at 1.5 x the training size at most (`training.train`), so a --max-side below
that loses some detail of zoomed-in crops; the shipped model's card says what it was trained from.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2

from training import data as datalib


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m training.pack", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("roots", nargs="+", type=Path, help="data roots (<root>/images + <root>/masks)")
    parser.add_argument("--out", required=True, type=Path, help="folder to write the packed roots into")
    parser.add_argument("--max-side", type=int, default=480, help="longest side kept, in pixels (default 480)")
    parser.add_argument("--quality", type=int, default=85, help="WebP quality 1-100 (default 85)")
    args = parser.parse_args(argv)
    if not 1 <= args.quality <= 100:
        parser.error(f"--quality must be within 1..100, got {args.quality}")
    if args.max_side < 16:
        parser.error(f"--max-side must be at least 16, got {args.max_side}")
    return args


def pack_root(root: Path, out: Path, max_side: int, quality: int) -> int:
    """Write one root's readable pairs into `out`; returns how many."""
    pairs = datalib.find_pairs(root)  # first: a wrong root leaves no empty folders behind
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    written = 0
    for pair in pairs:
        sample = datalib.read_pair(pair, max_side)
        if sample is None:  # read_pair has said why
            continue
        bgr = cv2.cvtColor(sample.image, cv2.COLOR_RGB2BGR)
        cv2.imwrite(str(out / "images" / f"{pair.id}.webp"), bgr, [cv2.IMWRITE_WEBP_QUALITY, quality])
        cv2.imwrite(str(out / "masks" / f"{pair.id}.png"), sample.mask * 255, [cv2.IMWRITE_PNG_COMPRESSION, 9])
        written += 1
    return written


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m training.pack`."""
    args = parse_args(argv)
    names = [root.resolve().name for root in args.roots]
    if len(set(names)) != len(names):
        print(f"error: two roots share a folder name ({', '.join(names)}); pack them into separate --out folders",
              file=sys.stderr)
        return 2
    for root, name in zip(args.roots, names):
        try:
            count = pack_root(root, args.out / name, args.max_side, args.quality)
        except (FileNotFoundError, ValueError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        print(f"{root} -> {args.out / name}: {count} pairs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
