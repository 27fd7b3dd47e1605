"""What the guard tests measure, for any model file: `python -m training.guards MODEL.keras ... [--data DIR]`.

Four guard tests judge the shipped file:
- `tests/test_app.py`, `tests/test_api.py` and `tests/test_cli.py` ask that the small astronaut beside the
  large one (`two_people`) stays found under `people=all`: more than 20% of SMALL_PERSON at alpha 128 or more.
- `tests/test_shipped_model.py` asks that the negatives' test split (animals, vehicles, rooms) stays empty:
  under 1% person area on average, and no photo over 10%;
- and that the flag and the rocket in the astronaut photo's top corners (FLAG_CORNER, ROCKET_CORNER) are not
  taken in whole: their highest alpha under 200 and 150 (the shipped model leaves 164 and 0 there).

This command prints the same figures for candidate files, served as the service serves them, so that the
candidates are compared on them before one is shipped (model card, How it was chosen). The subject's share
of the small astronaut is printed beside everyone's, and the most-marked negatives photo's id beside its share.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from skimage import data as skdata

from model.api import remove
from model.pipeline import alpha_for
from model.segmenter import get_segmenter
from training import data as datalib

# Two real people in one photo: the astronaut, and beside her the same photo at a third of the size.
SMALL_PERSON = (slice(256, 426), slice(578, 748))
# The astronaut photo's top corners: the flag behind her on the left, the shuttle model on the right.
FLAG_CORNER = (slice(0, 30), slice(0, 30))
ROCKET_CORNER = (slice(0, 30), slice(-30, None))
DEFAULT_DATA = Path("../shared/data")


def two_people(astronaut: np.ndarray) -> np.ndarray:
    """768 x 512 RGB: the astronaut (512 x 512) on the left, the same photo at a third of her size at
    SMALL_PERSON."""
    scene = np.zeros((512, 768, 3), np.uint8)
    scene[:, :512] = astronaut
    scene[SMALL_PERSON] = astronaut[::3, ::3][:170, :170]
    return scene


def small_person_share(model: str, people: str) -> float:
    """The share of the small astronaut that comes back at alpha 128 or more."""
    alpha = remove(two_people(skdata.astronaut()), people=people, mask=True, model=model).array()
    return float((alpha[SMALL_PERSON] >= 128).mean())


def corner_alphas(model: str) -> tuple[int, int]:
    """The highest alpha in the astronaut photo's flag and rocket corners (the default people)."""
    alpha = alpha_for(get_segmenter(model), skdata.astronaut(), refine=True)
    return int(alpha[FLAG_CORNER].max()), int(alpha[ROCKET_CORNER].max())


def person_areas(model: str, samples: list[datalib.Sample]) -> list[float]:
    """The share of each photo that comes back at alpha 128 or more (the default people)."""
    segmenter = get_segmenter(model)
    return [float((alpha_for(segmenter, sample.image, refine=True) >= 128).mean()) for sample in samples]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.guards", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", help="saved serving models (.keras)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data (its negatives set)")
    args = parser.parse_args(argv)
    negatives = args.data / "negatives"
    if not negatives.is_dir():
        print(f"{negatives} is absent: the negatives' test split is read from it", file=sys.stderr)
        return 2
    samples = [datalib.read_pair(pair) for pair in datalib.default_test_pairs(negatives)]
    print("| model | small astronaut, all (> 20%) | small astronaut, subject | negatives test mean (< 1%) | "
          "most-marked (< 10%) | flag corner (< 200) | rocket corner (< 150) |\n|---|---:|---:|---:|---:|---:|---:|")
    for model in args.models:
        areas = person_areas(model, samples)
        most = int(np.argmax(areas))
        flag, rocket = corner_alphas(model)
        print(f"| {model} | {small_person_share(model, 'all'):.1%} | {small_person_share(model, 'subject'):.1%} | "
              f"{np.mean(areas):.2%} | {areas[most]:.1%} ({samples[most].pair.id}) | {flag} | {rocket} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
