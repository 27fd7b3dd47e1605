"""The Python API: `model.remove(photo, **options) -> Cutout`, the service's pipeline for scripts and notebooks.

    from model import remove
    remove("photo.jpg").save("cutout.png")

Whatever the photo is given as (encoded bytes, a path, a PIL image, an RGB array), the answer is one type,
`Cutout`, from which PNG or WebP bytes, a PIL image and a NumPy array are one call away. The model loads
once per process on first use and is shared by every thread.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image

from model import SHIPPED_MODEL
from model.decode import UnreadableImage, check_pixels, decode, to_rgb
from model.pipeline import PEOPLE, CutoutOptions, alpha_from, encode, parse_choice, parse_colour, render
from model.segmenter import ModelId, get_segmenter

# A script reads its own files: the ceiling of the command line, higher than the web service's (40 MP).
MAX_PIXELS = 100_000_000

Photo = Union[bytes, bytearray, memoryview, str, os.PathLike, Image.Image, np.ndarray]
Colour = Union[str, tuple[int, int, int], None]


@dataclasses.dataclass(frozen=True)
class Cutout:
    """What `remove` returns: the output picture and the model that made it.

    `pixels` is uint8: (H, W, 4) RGBA for a cutout (alpha 0 pixels are (0, 0, 0, 0): nothing of the
    background is kept), (H, W, 3) RGB with a background colour, (H, W) grey for a mask.
    """

    pixels: np.ndarray
    model: ModelId

    @property
    def mode(self) -> str:
        """The PIL mode of the picture: "RGBA", "RGB" or "L"."""
        return "L" if self.pixels.ndim == 2 else {3: "RGB", 4: "RGBA"}[self.pixels.shape[2]]

    @property
    def size(self) -> tuple[int, int]:
        """(width, height), as PIL gives it."""
        return self.pixels.shape[1], self.pixels.shape[0]

    def png(self) -> bytes:
        """The picture as PNG bytes (the service's encoder)."""
        return encode(self.pixels, "png")

    def webp(self) -> bytes:
        """The picture as lossless WebP bytes."""
        return encode(self.pixels, "webp")

    def image(self) -> Image.Image:
        """The picture as a PIL image (a copy)."""
        return Image.fromarray(self.pixels.copy(), self.mode)

    def array(self) -> np.ndarray:
        """The picture as a NumPy array (a copy)."""
        return self.pixels.copy()

    def save(self, path: str | os.PathLike) -> None:
        """Write the picture to `path`: WebP where it ends in .webp, else PNG."""
        path = Path(path)
        path.write_bytes(self.webp() if path.suffix.lower() == ".webp" else self.png())


def remove(photo: Photo, *, people: str = PEOPLE[0], background: Colour = None, crop: bool = False, mask: bool = False,
           refine: bool = True, model: str | os.PathLike | None = None, max_pixels: int = MAX_PIXELS) -> Cutout:
    """Cut the people out of `photo`.

    Args:
        photo: encoded image bytes (JPEG, PNG, WebP, BMP, TIFF, GIF), a path to such a file, a PIL image,
            or an RGB uint8 array (H, W, 3).
        people: "subject" (the people the photo is about: the performer, not the audience), "all" (every
            person) or "main" (only the largest region of the subject).
        background: fill the background with this colour ("#ffffff", "fff" or (255, 255, 255)).
        crop: crop to the people plus a margin.
        mask: return the alpha as a grey picture instead of the cutout.
        refine: sharpen the edge along the photo's edges.
        model: a saved .keras model (training.export's output); the shipped one by default.
        max_pixels: a larger photo is refused.

    Raises:
        CutoutError (model.errors): a photo that cannot be read or an option out of range, with the
            one-line reason the HTTP API gives.
        ModelLoadError (model.segmenter): the model file is missing or damaged.
    """
    options = CutoutOptions(output="mask" if mask else "cutout", background=_colour(background), crop=crop,
                            refine=refine, people=parse_choice("people", people, PEOPLE))
    rgb = to_pixels(photo, max_pixels)
    segmenter = get_segmenter(str(model or SHIPPED_MODEL))
    alpha = alpha_from(rgb, segmenter.predict(rgb, options.network_output), options.refine)
    return Cutout(render(rgb, alpha, options), segmenter.model_id)


def to_pixels(photo: Photo, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Any accepted photo -> upright RGB uint8 (H, W, 3); CutoutError where it is not a photo."""
    if isinstance(photo, (bytes, bytearray, memoryview)):
        return decode(bytes(photo), max_pixels)
    if isinstance(photo, (str, os.PathLike)):
        try:
            data = Path(photo).read_bytes()
        except OSError as error:
            raise UnreadableImage(f"the file {os.fspath(photo)!r} could not be read ({error.strerror})") from None
        return decode(data, max_pixels)
    if isinstance(photo, Image.Image):
        check_pixels(photo.width, photo.height, max_pixels)
        return np.ascontiguousarray(to_rgb(photo))
    if isinstance(photo, np.ndarray):
        if photo.dtype != np.uint8 or photo.ndim != 3 or photo.shape[2] != 3 or 0 in photo.shape:
            raise UnreadableImage(f"an array photo must be RGB uint8 of shape (H, W, 3), got {photo.dtype} "
                                  f"{photo.shape}")
        check_pixels(photo.shape[1], photo.shape[0], max_pixels)
        return np.ascontiguousarray(photo)
    raise UnreadableImage(f"a photo must be bytes, a path, a PIL image or an RGB array, got {type(photo).__name__}")


def _colour(background: Colour) -> tuple[int, int, int] | None:
    """A background colour from a hex string or an (r, g, b) tuple of 0-255; None for transparent."""
    if background is None or isinstance(background, str):
        return parse_colour(background or "")
    values = tuple(background)
    if len(values) != 3 or not all(isinstance(v, (int, np.integer)) and 0 <= v <= 255 for v in values):
        return parse_colour(str(background))  # the one-line reason of a bad colour
    return tuple(int(v) for v in values)
