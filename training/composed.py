"""What the composed held-out sets share (`training.action`, `training.group`): how one of their photos
is written, and the command that composes a set from a run's split."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from training import data as datalib


def write_photo(out: Path, name: str, rgb: np.ndarray, mask: np.ndarray) -> None:
    """Write one composed photo (RGB uint8) and its mask (uint8 0..255) into the data root `out`."""
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out / "images" / f"{name}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(out / "masks" / f"{name}.png"), mask)


def command(prog: str, description: str, build: Callable[[list[datalib.Pair], Path], int], what: str,
            argv: list[str] | None = None) -> int:
    """`python -m PROG --run RUN_DIR --split val|test --out ROOT`: compose the set of `build` from the
    run's split into ROOT; 2 with a one-line reason where the run or the split's photos are missing."""
    parser = argparse.ArgumentParser(prog=prog, description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, type=Path, help="the run whose split the set is composed from")
    parser.add_argument("--split", choices=("val", "test"), default="val")
    parser.add_argument("--out", required=True, type=Path, help="the data root to write (e.g. runs/SET-val)")
    args = parser.parse_args(argv)
    try:
        count = build(datalib.load_manifest(args.run / "manifest.json")[args.split], args.out)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"composed {count} photos of {what} from {args.run}'s {args.split} split into {args.out}")
    return 0
