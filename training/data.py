"""Data roots of photos and masks: discovery, the split manifest, and decoding into memory."""

from __future__ import annotations

import dataclasses
import json
import logging
import random
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from model.letterbox import letterbox

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
LAYOUT = "<root>/images/<id>.jpg|.jpeg|.png|.webp with <root>/masks/<id>.png (0 = background, >127 = person)"
SPLITS = ("train", "val", "test")


@dataclasses.dataclass(frozen=True)
class Pair:
    """One photo and its mask, named by the root it comes from and its id."""

    root: str
    id: str

    @property
    def image_path(self) -> Path:
        folder = Path(self.root) / "images"
        for suffix in IMAGE_SUFFIXES:
            path = folder / f"{self.id}{suffix}"
            if path.exists():
                return path
        return folder / f"{self.id}.jpg"

    @property
    def mask_path(self) -> Path:
        return Path(self.root) / "masks" / f"{self.id}.png"


@dataclasses.dataclass
class Sample:
    """A decoded pair at training size: RGB uint8 (H, W, 3) and mask uint8 0/1 (H, W).

    `soft` is the mask's own levels, uint8 0..255 (H, W), where the pair was read with `soft=True` and its
    mask holds levels between 0 and 255 (a teacher's soft label, `training.teach`); None otherwise.
    `labels` is what its root's masks mark (`training.config.LABELS`). `bystanders`, uint8 0/1 (H, W), are the
    people of its root's every-person mask that its label leaves out (`training.targets.bystanders`), where
    the root has such masks; None otherwise.
    """

    pair: Pair
    image: np.ndarray
    mask: np.ndarray
    soft: np.ndarray | None = None
    labels: str = "both"
    bystanders: np.ndarray | None = None

    def target(self) -> np.ndarray:
        """What training learns: the soft label where there is one, else the mask; float32 0..1 (H, W)."""
        if self.soft is not None:
            return self.soft.astype(np.float32) / 255.0
        return self.mask.astype(np.float32)


def find_pairs(root: str | Path) -> list[Pair]:
    """List the pairs of one root; a photo without a mask is skipped with a warning."""
    root = str(root)
    images = Path(root) / "images"
    if not images.is_dir():
        raise FileNotFoundError(f"no images/ folder in data root {root!r}; expected layout {LAYOUT}")
    pairs = []
    for path in sorted(images.iterdir()):
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        pair = Pair(root, path.stem)
        if pair.mask_path.is_file():
            pairs.append(pair)
        else:
            log.warning("skipping %s: no mask at %s", path, pair.mask_path)
    if not pairs:
        raise ValueError(f"data root {root!r} has no usable pairs; expected layout {LAYOUT}")
    return pairs


def group_of(pair_id: str) -> str:
    """The split group: the id's prefix before its last `_` (a video sequence), else the id itself."""
    prefix, sep, _ = pair_id.rpartition("_")
    return prefix if sep else pair_id


def group_weights(samples: list[Sample]) -> np.ndarray:
    """Drawing probabilities that give every split group (a video sequence, else one photo) the same share.

    The frames of one video look alike: drawn per frame, a 16-frame sequence would count sixteen
    times as much as a single photo, and the few, varied single photos of a root would rarely be seen.
    """
    groups = [group_of(s.pair.id) for s in samples]
    sizes = Counter(groups)
    weights = np.array([1.0 / sizes[group] for group in groups])
    return weights / weights.sum()


def drawable_roots(by_root: list[tuple[float, list[Sample]]]) -> tuple[list[tuple[float, list[Sample]]], ...]:
    """What the training pipeline draws from: the roots with a weight above 0 and samples; of those the
    person-free samples (the backgrounds people are pasted onto); and the samples with a person (the
    further people of group scenes); each with its root's weight, roots left without samples dropped."""
    pairs = [(weight, samples) for weight, samples in by_root if weight > 0 and samples]
    if not pairs:
        raise ValueError("no training samples with a sampling weight above 0")
    free = [(weight, [s for s in samples if not s.mask.any()]) for weight, samples in pairs]
    people = [(weight, [s for s in samples if s.mask.any()]) for weight, samples in pairs]
    return pairs, [(w, s) for w, s in free if s], [(w, s) for w, s in people if s]


def split_root(pairs: list[Pair], val_fraction: float, test_fraction: float, seed: int) -> dict[str, list[Pair]]:
    """Deterministic seeded split of one root's pairs, keeping each group in one split.

    A root with the Kaggle Person Segmentation lists (`segmentation/train.txt`, `val.txt`) keeps
    them: its train list trains, its val list is halved by group into validation and test.
    """
    lists = _kaggle_lists(pairs[0].root) if pairs else None
    if lists is not None:
        train_ids, val_ids = lists
        train = [p for p in pairs if p.id in train_ids]
        held = _split_groups([p for p in pairs if p.id in val_ids], [0.5, 0.5], seed)
        return {"train": train, "val": held[0], "test": held[1]}
    parts = _split_groups(pairs, [1.0 - val_fraction - test_fraction, val_fraction, test_fraction], seed)
    return dict(zip(SPLITS, parts))


def default_test_pairs(root: str | Path, count: int | None = None) -> list[Pair]:
    """The first `count` pairs of the test split `training.train` gives a root with its default fractions
    and seed (the photos a model trained so never saw): for checks and showcases outside a run."""
    from training.config import DataConfig, TrainConfig

    split = split_root(find_pairs(root), DataConfig.val_fraction, DataConfig.test_fraction, TrainConfig.seed)
    return split["test"][:count]


def _kaggle_lists(root: str) -> tuple[set[str], set[str]] | None:
    folder = Path(root) / "segmentation"
    train, val = folder / "train.txt", folder / "val.txt"
    if not (train.is_file() and val.is_file()):
        return None
    read = lambda path: {Path(line.strip()).stem for line in path.read_text().splitlines() if line.strip()}
    return read(train), read(val)


def _split_groups(pairs: list[Pair], fractions: list[float], seed: int) -> list[list[Pair]]:
    groups: dict[str, list[Pair]] = {}
    for pair in sorted(pairs, key=lambda p: p.id):
        groups.setdefault(group_of(pair.id), []).append(pair)
    names = sorted(groups)
    random.Random(seed).shuffle(names)
    bounds = np.cumsum(fractions) / sum(fractions) * len(pairs)
    parts: list[list[Pair]] = [[] for _ in fractions]
    count = 0
    for name in names:
        index = min(int(np.searchsorted(bounds, count, side="right")), len(parts) - 1)
        parts[index].extend(groups[name])
        count += len(groups[name])
    if len(names) >= len(parts) and not all(part for part, fraction in zip(parts, fractions) if fraction > 0):
        return _split_few_groups(groups, names, fractions)
    return parts


def _split_few_groups(groups: dict[str, list[Pair]], names: list[str], fractions: list[float]) -> list[list[Pair]]:
    """A root of a few long groups (video sequences) that the proportional split leaves a split empty:
    every split with a share gets at least one group, the smallest ones, and the rest go to the first."""
    parts: list[list[Pair]] = [[] for _ in fractions]
    by_size = sorted(names, key=lambda name: len(groups[name]))  # stable: ties keep the seeded order
    held_out = [index for index in range(1, len(parts)) if fractions[index] > 0]
    for index, name in zip(held_out, by_size):
        parts[index].extend(groups[name])
    for name in by_size[len(held_out):]:
        parts[0].extend(groups[name])
    return parts


def make_manifest(roots: list[str], val_fraction: float, test_fraction: float, seed: int) -> dict[str, list[Pair]]:
    """Split every root and join the splits."""
    manifest: dict[str, list[Pair]] = {split: [] for split in SPLITS}
    for root in roots:
        for split, pairs in split_root(find_pairs(root), val_fraction, test_fraction, seed).items():
            manifest[split].extend(pairs)
    return manifest


def save_manifest(manifest: dict[str, list[Pair]], path: Path) -> None:
    """Write the split as JSON: {split: [[root, id], ...]}."""
    payload = {split: [[p.root, p.id] for p in pairs] for split, pairs in manifest.items()}
    path.write_text(json.dumps(payload, indent=1) + "\n")


def load_manifest(path: Path) -> dict[str, list[Pair]]:
    """Read what `save_manifest` wrote."""
    payload = json.loads(path.read_text())
    return {split: [Pair(root, pair_id) for root, pair_id in payload[split]] for split in SPLITS}


def read_pair(pair: Pair, max_side: int | None = None, soft: bool = False) -> Sample | None:
    """Decode one pair (RGB, 0/1 mask at 127), optionally shrunk to `max_side`; None with a warning if
    unreadable. With `soft`, a mask with levels between 0 and 255 also keeps them (`Sample.soft`)."""
    image = cv2.imread(str(pair.image_path), cv2.IMREAD_COLOR)
    if image is None:
        log.warning("skipping %s: unreadable photo", pair.image_path)
        return None
    mask = cv2.imread(str(pair.mask_path), cv2.IMREAD_UNCHANGED)
    if mask is None or mask.dtype != np.uint8:
        log.warning("skipping %s: missing, unreadable or not 8-bit mask", pair.mask_path)
        return None
    if mask.ndim == 3:
        mask = mask[:, :, 0]
    soft = soft and bool(np.any((mask > 0) & (mask < 255)))
    height, width = image.shape[:2]
    if mask.shape != (height, width):
        mask = cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST)
    if max_side and max(height, width) > max_side:
        scale = max_side / max(height, width)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        mask = cv2.resize(mask, size, interpolation=cv2.INTER_AREA if soft else cv2.INTER_NEAREST)
    return Sample(pair, cv2.cvtColor(image, cv2.COLOR_BGR2RGB), (mask > 127).astype(np.uint8),
                  mask if soft else None)


def read_everyone(sample: Sample, folder: str) -> np.ndarray | None:
    """The mask of every person of a sample's photo, from `folder` beside its root's masks/, uint8 0/1 at the
    sample's size (nearest); None where the root has no such mask for it."""
    mask = cv2.imread(str(Path(sample.pair.root) / folder / f"{sample.pair.id}.png"), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        return None
    height, width = sample.mask.shape
    return (cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST) > 127).astype(np.uint8)


def read_pairs(pairs: list[Pair], max_side: int | None = None, workers: int = 4,
               soft: bool = False) -> list[Sample]:
    """Decode many pairs with a thread pool (OpenCV releases the GIL); unreadable ones are left out."""
    with ThreadPoolExecutor(workers) as pool:
        samples = pool.map(lambda pair: read_pair(pair, max_side, soft), pairs)
        return [sample for sample in samples if sample is not None]


def letterboxed_arrays(samples: list[Sample], size: int, outputs: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Samples letterboxed as serving does: images (N, size, size, 3) uint8, masks (N, size, size, 1) uint8,
    or for a two-output network (N, size, size, 4): each output's truth and where it is known
    (`training.targets.held_out`)."""
    from training.targets import held_out

    images = np.stack([letterbox(s.image, size)[0] for s in samples])
    masks = np.stack([letterbox(s.mask, size, cv2.INTER_NEAREST)[0] for s in samples])
    if outputs == 2:
        masks = np.stack([held_out(mask, s.labels) for mask, s in zip(masks, samples)]).astype(np.uint8)
    return images, masks
