"""A qualitative panel on photos unlike the training data: `python -m training.showcase --model PATH --out PNG`.

Uses public-domain photos that the installed packages ship: scikit-image's (two people, a cat, a cup,
a rocket, grass and gravel textures) and Matplotlib's portrait of Grace Hopper, each as
photo | alpha | cutout on a checkerboard, through the serving pipeline. `--portraits ROOT` adds
head-and-shoulders crops of a data root's test photos (real portraits, e.g. ../shared/data/eg1800);
`--photos FILE_OR_DIR ...` adds your own photos (read like uploads: EXIF orientation applied), to judge
a model on the kind of photo it will serve.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from model.compose import over_checkerboard
from model.decode import ImageError, decode
from model.pipeline import alpha_for
from model.segmenter import Segmenter

PHOTOS = ("astronaut", "camera", "grace_hopper", "chelsea", "coffee", "rocket", "grass", "gravel")
TILE_HEIGHT = 220
SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
MAX_PIXELS = 100_000_000  # local files: the ceiling of the batch command line (model/__main__.py)


def load_photo(name: str) -> np.ndarray:
    """An RGB uint8 photo from skimage.data (grey ones repeated to three channels), or Grace Hopper."""
    if name == "grace_hopper":
        return grace_hopper()
    from skimage import data

    image = getattr(data, name)()
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return np.ascontiguousarray(image[..., :3])


def grace_hopper() -> np.ndarray:
    """Matplotlib's sample portrait of Grace Hopper (US Navy photo, public domain), RGB uint8, 600x512."""
    from matplotlib import cbook
    from PIL import Image

    with Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as image:
        return np.asarray(image.convert("RGB"))


def own_photos(paths: list[Path]) -> Iterator[tuple[str, np.ndarray]]:
    """(file stem, photo) of the named files, and of each folder's image files in name order, decoded
    one at a time; a file that cannot be read or decoded is skipped with one line on stderr.
    """
    for path in paths:
        for file in sorted(f for f in path.iterdir() if f.suffix.lower() in SUFFIXES) if path.is_dir() else [path]:
            try:
                yield file.stem, decode(file.read_bytes(), MAX_PIXELS)
            except (OSError, ImageError) as error:
                print(f"skipped {file}: {error}", file=sys.stderr)


def portrait_crops(root: Path, count: int) -> Iterator[tuple[str, np.ndarray]]:
    """Head-and-shoulders crops (`training.evaluate.close_up`) of the first `count` photos of a data root's
    test split, as `training.train` splits it by default: real portraits closer than the photos show them."""
    from training import data as datalib
    from training.evaluate import close_up

    for pair in datalib.default_test_pairs(root, count):
        sample = datalib.read_pair(pair)
        crop = close_up(sample) if sample is not None else None
        if crop is not None:
            yield f"{pair.id} (close-up)", crop.image


def row(segmenter: Segmenter, rgb: np.ndarray) -> tuple[np.ndarray, float]:
    """photo | alpha | cutout, scaled to TILE_HEIGHT, and the share of person pixels."""
    alpha8 = alpha_for(segmenter, rgb, refine=True)
    tiles = [rgb, np.repeat(alpha8[..., None], 3, axis=2), over_checkerboard(rgb, alpha8)]
    width = round(rgb.shape[1] * TILE_HEIGHT / rgb.shape[0])
    resized = [cv2.resize(t, (width, TILE_HEIGHT), interpolation=cv2.INTER_AREA) for t in tiles]
    return np.hstack(resized), float((alpha8 >= 128).mean())


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m training.showcase`."""
    parser = argparse.ArgumentParser(prog="python -m training.showcase", description=__doc__)
    parser.add_argument("--model", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--photos", nargs="+", type=Path, default=[], metavar="FILE_OR_DIR",
                        help="your own photos, added after the built-in ones")
    parser.add_argument("--portraits", type=Path, default=None, metavar="ROOT",
                        help="add head-and-shoulders crops of the first test-split photos of this data root "
                             "(e.g. ../shared/data/eg1800)")
    parser.add_argument("--portrait-count", type=int, default=4)
    parser.add_argument("--only-mine", action="store_true", help="leave the built-in photos out")
    args = parser.parse_args(argv)
    built_in = () if args.only_mine else PHOTOS
    crops = portrait_crops(args.portraits, args.portrait_count) if args.portraits else iter(())
    # One photo in memory at a time: your folder may hold many large ones.
    photos = itertools.chain(((name, load_photo(name)) for name in built_in), crops, own_photos(args.photos))
    segmenter = Segmenter.load(args.model)
    rows = []
    for name, rgb in photos:
        image, area = row(segmenter, rgb)
        rows.append(image)
        print(f"{name}: person area {area:.1%}")
    if not rows:
        parser.error("no photos to show")
    widest = max(r.shape[1] for r in rows)
    panel = np.vstack([np.pad(r, ((0, 4), (0, widest - r.shape[1]), (0, 0)), constant_values=255) for r in rows])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), cv2.cvtColor(panel, cv2.COLOR_RGB2BGR))
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
