"""A held-out set of people in action: `python -m training.action --run RUN_DIR --split val --out ROOT`.

The data has no photo of a dancer upside down, a man in mid-jump or a performer in front of an audience,
and no labels that would say which of its photos show people in action. This set is composed from a run's
split alone, so it shares no photo with training: every hand-labelled full-body person of the split
(`ccp`) is turned 45-180 degrees either way about their centre (upside down, lying, mid-cartwheel), every
second one blurred in motion, and pasted at random into a person-free photo of the split (`negatives`),
or, every third one, in front of an audience made of the split's other photos with people (`har`), who
are background: the label is the turned person alone. It is seeded per photo, so every model is measured
on the same photos. The pieces are those of the training augmentation (`training.augment`): the set
measures what that augmentation teaches, on people and backgrounds that training never saw.

ROOT is a data root (images/, masks/) that `python -m training.evaluate --run RUN_DIR --data ROOT` scores
beside the run's split; the selection score counts it as a set of its own (by its folder name).
"""

from __future__ import annotations

import sys
import zlib
from pathlib import Path

import numpy as np

from model.compose import to_alpha8
from training import augment, composed
from training import data as datalib
from training.config import AugmentConfig

SIZE = 384  # the composed photos' side
SUBJECTS, BACKGROUNDS, AUDIENCES = "ccp", "negatives", "har"
SUBJECT_SCALE = (0.55, 1.0)  # the person's size, relative to fitting the frame
MIN_DEGREES = 45.0
AUDIENCE_EVERY, MOTION_EVERY, AUDIENCE_PHOTOS = 3, 2, 3


def compose(index: int, subject: datalib.Sample, backgrounds: list[datalib.Sample],
            audiences: list[datalib.Sample]) -> tuple[np.ndarray, np.ndarray]:
    """The `index`-th photo of the set: RGB uint8 (SIZE, SIZE, 3) and its mask uint8 0..255."""
    rng = np.random.default_rng([zlib.crc32(subject.pair.id.encode()), index])
    placed = augment.place(subject.image, subject.target(), SIZE, SUBJECT_SCALE, rng)
    placed = augment.turn(placed, rng, 180.0, MIN_DEGREES)
    if index % MOTION_EVERY == 1:
        placed = augment.in_motion(placed, rng)
    backdrop = None
    if index % AUDIENCE_EVERY == 2 and audiences:
        crowd = [audiences[i] for i in rng.choice(len(audiences), min(AUDIENCE_PHOTOS, len(audiences)), replace=False)]
        backdrop = augment.crowd([(s.image, s.target()) for s in crowd], SIZE, rng)
        backdrop = None if backdrop is None else backdrop[..., :3]  # its people are background here
    if backdrop is None:
        background = backgrounds[rng.integers(len(backgrounds))].image
        backdrop = augment.background_crop(background, AugmentConfig(size=SIZE), rng)
    composed = augment.paste(placed, backdrop, SIZE, rng)
    return np.clip(np.rint(composed[..., :3]), 0, 255).astype(np.uint8), to_alpha8(composed[..., 3])


def build(pairs: list[datalib.Pair], out: Path) -> int:
    """Write the set composed from `pairs` (one split of a run) into the data root `out`; returns its size."""
    by_set: dict[str, list[datalib.Sample]] = {}
    for name in (SUBJECTS, BACKGROUNDS, AUDIENCES):
        chosen = [pair for pair in pairs if Path(pair.root).name == name]
        by_set[name] = [s for s in datalib.read_pairs(chosen) if (s.mask.any() == (name != BACKGROUNDS))]
    subjects, backgrounds = by_set[SUBJECTS], by_set[BACKGROUNDS]
    if not subjects or not backgrounds:
        raise ValueError(f"the split needs photos of {SUBJECTS} (people) and {BACKGROUNDS} (person-free)")
    for index, subject in enumerate(subjects):
        rgb, mask = compose(index, subject, backgrounds, by_set[AUDIENCES])
        composed.write_photo(out, f"action{index:04d}", rgb, mask)
    return len(subjects)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m training.action`."""
    return composed.command("python -m training.action", __doc__, build, "people in action", argv)


if __name__ == "__main__":
    sys.exit(main())
