"""A held-out set of two people, one smaller: `python -m training.group --run RUN_DIR --split val --out ROOT`.

A run that learns that people in front of an audience are the only people can start to drop a smaller
person who stands beside the subject (model card, Choosing: the smaller second person of a group), and
the data has no photo that would show it: its group photos are few and unlabelled as such. This set is
composed from a run's split alone, so it shares no photo with training: every hand-labelled person of
the split (`ccp` full-body, `eg1800` portraits) stands on one side of a person-free photo of the split
(`negatives`), 60-80% of the frame tall (at most 60% wide), and a person from another photo of the
split stands on the other side, 25-45% of the frame tall (at most 35% wide and 75% of the subject's
height), every second time in a piece of their own photo (a collage: `tests/test_app.py`'s two
astronauts). Both are in the label: `people=all` keeps them both. It is seeded per photo, so every model is
measured on the same photos. The pieces are those of the training augmentation (`training.augment`).

ROOT is a data root (images/, masks/) that `python -m training.evaluate --run RUN_DIR --data ROOT` scores
beside the run's split; the selection score counts it as a set of its own (by its folder name). Its
recall falls when the smaller person is dropped, but it hardly saw a run that dropped `tests/test_app.py`'s
small astronaut (model card, Choosing): that test stays the measure of it.
"""

from __future__ import annotations

import sys
import zlib
from pathlib import Path

import cv2
import numpy as np

from model.compose import to_alpha8
from training import augment, composed
from training import data as datalib
from training.config import AugmentConfig

SIZE = 384  # the composed photos' side
SUBJECTS, BACKGROUNDS = ("ccp", "eg1800"), "negatives"
SUBJECT_SCALE = (0.6, 0.8)  # the subject's height, relative to the frame
SECOND_SCALE = (0.25, 0.45)  # the smaller second person's height, relative to the frame
SUBJECT_WIDTH, SECOND_WIDTH = 0.6, 0.35  # at most, relative to the frame: the two stand apart
SECOND_AT_MOST = 0.75  # the second person's height relative to the subject's, at most
INSET_EVERY, INSET_MARGIN = 2, 0.15  # every second photo's second person comes in a photo of their own (a collage)


def _height(sample: datalib.Sample, scale: tuple[float, float], max_width: float, rng: np.random.Generator) -> float:
    """A person's height relative to the frame, drawn from `scale` but lower where the person would be
    wider than `max_width` of the frame (a portrait's shoulders)."""
    _, person, _ = augment.person_cutout(sample.image, sample.target())
    return min(rng.uniform(*scale), max_width * person.shape[0] / person.shape[1])


def paste_inset(rgb: np.ndarray, label: np.ndarray, image: np.ndarray, mask: np.ndarray, height: float,
                across: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Paste a person with their own photo around them (their bounding box grown by INSET_MARGIN, cut at
    the photo's edges) into the frame: `height` of the frame tall, inside it, at `across` of the room
    beside them, at the bottom where the person is cut off there (a portrait). The label is their mask."""
    rows, columns = np.nonzero(mask >= augment.SOFT_EDGE)
    grow_y, grow_x = (round(INSET_MARGIN * (np.ptp(side) + 1)) for side in (rows, columns))
    y0, y1 = max(0, rows.min() - grow_y), min(mask.shape[0], rows.max() + 1 + grow_y)
    x0, x1 = max(0, columns.min() - grow_x), min(mask.shape[1], columns.max() + 1 + grow_x)
    size = rgb.shape[0]
    factor = min(size * height / (rows.max() - rows.min() + 1), size / (x1 - x0))
    inset_h, inset_w = (min(size, max(2, round(side * factor))) for side in (y1 - y0, x1 - x0))
    photo = cv2.resize(image[y0:y1, x0:x1].astype(np.float32), (inset_w, inset_h), interpolation=cv2.INTER_AREA)
    person = cv2.resize(mask[y0:y1, x0:x1].astype(np.float32), (inset_w, inset_h), interpolation=cv2.INTER_AREA)
    top = size - inset_h if y1 == mask.shape[0] else int(rng.integers(0, size - inset_h + 1))
    left = round(across * (size - inset_w))
    rgb, label = rgb.copy(), label.copy()
    rgb[top:top + inset_h, left:left + inset_w] = photo
    label[top:top + inset_h, left:left + inset_w, 0] = person
    return rgb, label


def compose(index: int, subject: datalib.Sample, second: datalib.Sample,
            background: datalib.Sample) -> tuple[np.ndarray, np.ndarray]:
    """The `index`-th photo of the set: RGB uint8 (SIZE, SIZE, 3) and its mask uint8 0..255, the subject
    on one side, the smaller second person on the other, every INSET_EVERY-th in a photo of their own."""
    rng = np.random.default_rng([zlib.crc32(subject.pair.id.encode()), index])
    backdrop = augment.background_crop(background.image, AugmentConfig(size=SIZE), rng)
    rgb = cv2.resize(backdrop, (SIZE, SIZE), interpolation=cv2.INTER_LINEAR)
    label = np.zeros((SIZE, SIZE, 1), np.float32)
    subject_across = 0.0 if rng.uniform() < 0.5 else 1.0  # the left or the right edge; the second opposite
    subject_height = _height(subject, SUBJECT_SCALE, SUBJECT_WIDTH, rng)
    second_height = min(_height(second, SECOND_SCALE, SECOND_WIDTH, rng), SECOND_AT_MOST * subject_height)
    rgb, label = augment.add_person(rgb, label, subject.image, subject.target(), (subject_height,) * 2, rng,
                                    across=subject_across)
    if index % INSET_EVERY == INSET_EVERY - 1:
        rgb, label = paste_inset(rgb, label, second.image, second.target(), second_height, 1.0 - subject_across, rng)
    else:
        rgb, label = augment.add_person(rgb, label, second.image, second.target(), (second_height,) * 2, rng,
                                        across=1.0 - subject_across)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8), to_alpha8(label[..., 0])


def build(pairs: list[datalib.Pair], out: Path) -> int:
    """Write the set composed from `pairs` (one split of a run) into the data root `out`; returns its size."""
    people = [s for s in datalib.read_pairs([p for p in pairs if Path(p.root).name in SUBJECTS]) if s.mask.any()]
    backgrounds = [s for s in datalib.read_pairs([p for p in pairs if Path(p.root).name == BACKGROUNDS])
                   if not s.mask.any()]
    if len(people) < 2 or not backgrounds:
        raise ValueError(f"the split needs two photos of {' or '.join(SUBJECTS)} (people) and one of "
                         f"{BACKGROUNDS} (person-free)")
    for index, subject in enumerate(people):
        rng = np.random.default_rng([zlib.crc32(subject.pair.id.encode()), index, 1])
        second = people[(index + 1 + rng.integers(len(people) - 1)) % len(people)]  # never the subject
        rgb, mask = compose(index, subject, second, backgrounds[rng.integers(len(backgrounds))])
        composed.write_photo(out, f"group{index:04d}", rgb, mask)
    return len(people)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m training.group`."""
    return composed.command("python -m training.group", __doc__, build, "two people", argv)


if __name__ == "__main__":
    sys.exit(main())
