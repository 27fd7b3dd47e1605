"""The cutout pipeline as a chain of small functions: decode -> predict -> refine -> compose -> encode."""

from __future__ import annotations

import dataclasses
import io
import re
import typing
from collections.abc import Mapping

import numpy as np
from PIL import Image

from model import compose
from model.decode import decode
from model.errors import CutoutError
from model.png import encode_png
from model.refine import guided_alpha
from model.segmenter import EVERYONE, SUBJECT, Segmenter
from model.subject import main_person

# The accepted values of each choice option, its default first.
OUTPUTS = ("cutout", "mask")
# "subject": the people the photo is about (the network's subject output); "all": every person (its everyone
# output); "main": the largest region of the subject. A one-output network answers all three with its one.
PEOPLE = ("subject", "all", "main")
FORMATS = ("png", "webp")
PNG_COMPRESS_LEVEL = 1  # deflate level 1: about 4x faster than the usual 6 for ~28% larger files (bench.levers)
# Lossless WebP at its fastest effort: lossy WebP smears the person's colours into fully transparent blocks
# (libwebp's clean-up of transparent areas) and rings around the edge, so pixels with alpha 0 would not be
# (0, 0, 0, 0) once decoded; lossless keeps every pixel, and at 12 megapixels was faster than lossy
# quality 90 (python -m bench.levers, "encode").
WEBP_OPTIONS = {"lossless": True, "quality": 0, "method": 0}
_TRUE = ("1", "true", "on", "yes")
_FALSE = ("0", "false", "off", "no")
_HEX = re.compile(r"#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})")


class OptionError(CutoutError):
    """A bad option value; the message names the option and what it accepts."""


@dataclasses.dataclass(frozen=True)
class CutoutOptions:
    """What the caller wants back."""

    output: str = "cutout"  # "cutout": RGBA photo; "mask": the alpha as a grey image
    background: tuple[int, int, int] | None = None  # fill the background with this colour
    crop: bool = False  # crop to the person's bounding box plus a margin
    refine: bool = True  # sharpen the edge along the photo's edges
    format: str = "png"  # "png" or "webp" (both lossless)
    people: str = "subject"  # "subject", "all" (everyone) or "main" (the largest subject region): PEOPLE

    @property
    def network_output(self) -> str:
        """The network's output these options read: everyone's for people=all, else the subject's."""
        return output_of(self.people)

    @property
    def mimetype(self) -> str:
        return f"image/{self.format}"


def parse_options(values: Mapping[str, str]) -> CutoutOptions:
    """Options from form fields or query parameters (`output`, `bg`, `crop`, `refine`, `format`, `people`)."""
    return CutoutOptions(output=parse_choice("output", values.get("output", ""), OUTPUTS),
                         background=parse_colour(values.get("bg", "")),
                         crop=parse_flag("crop", values.get("crop", ""), False),
                         refine=parse_flag("refine", values.get("refine", ""), True),
                         format=parse_choice("format", values.get("format", ""), FORMATS),
                         people=parse_choice("people", values.get("people", ""), PEOPLE))


def parse_choice(name: str, text: str, choices: tuple[str, ...]) -> str:
    """One of `choices`, case-insensitive; empty means the first (the default)."""
    text = text.strip().lower() or choices[0]
    if text not in choices:
        raise OptionError(f"{name} must be one of {', '.join(choices)}, got {text!r}")
    return text


def parse_flag(name: str, text: str, default: bool) -> bool:
    """'1/true/on/yes' or '0/false/off/no'; empty means the default."""
    text = text.strip().lower()
    if not text:
        return default
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise OptionError(f"{name} must be true or false, got {text!r}")


def parse_colour(text: str) -> tuple[int, int, int] | None:
    """'#RRGGBB', 'RRGGBB' or '#RGB' -> (r, g, b); empty or 'transparent' -> None."""
    text = text.strip()
    if not text or text.lower() in ("transparent", "none"):
        return None
    match = _HEX.fullmatch(text)
    if match is None:
        raise OptionError(f"bg must be a hex colour such as #ffffff, got {text!r}")
    digits = match.group(1)
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return tuple(int(digits[i:i + 2], 16) for i in (0, 2, 4))


def output_of(people: str) -> str:
    """The network output (model.segmenter.OUTPUTS) that a `people` choice reads."""
    return EVERYONE if people == "all" else SUBJECT


def alpha_for(segmenter: Segmenter, rgb: np.ndarray, refine: bool, people: str = PEOPLE[0]) -> np.ndarray:
    """The alpha (H, W) uint8 at the photo's resolution of the network output `people` reads."""
    return alpha_from(rgb, segmenter.predict(rgb, output_of(people)), refine)


def alpha_from(rgb: np.ndarray, probability: np.ndarray, refine: bool) -> np.ndarray:
    """The alpha (H, W) uint8 from the network's probability at the photo's resolution, refined if asked."""
    if refine:
        probability = guided_alpha(rgb, probability)
    return compose.to_alpha8(probability)


def render(rgb: np.ndarray, alpha8: np.ndarray, options: CutoutOptions) -> np.ndarray:
    """The output picture: mask, photo over a colour, or RGBA cutout; the main person only and cropped if asked."""
    if options.people == "main":
        alpha8 = main_person(alpha8)
    box = compose.person_box(alpha8) if options.crop else None
    rgb, alpha8 = compose.crop(rgb, box), compose.crop(alpha8, box)
    if options.output == "mask":
        return alpha8
    if options.background is not None:
        return compose.fill(rgb, alpha8, options.background)
    return compose.cutout(rgb, alpha8)


def encode(picture: np.ndarray, fmt: str = "png") -> bytes:
    """PNG (fast compression, `model.png`) or lossless WebP bytes."""
    if fmt == "webp":
        buffer = io.BytesIO()
        Image.fromarray(picture).save(buffer, format="WEBP", **WEBP_OPTIONS)
        return buffer.getvalue()
    return encode_png(picture)


def output_bytes(rgb: np.ndarray, probability: np.ndarray, options: CutoutOptions) -> bytes:
    """The encoded output picture from the photo and the network's probability at its resolution."""
    return encode(render(rgb, alpha_from(rgb, probability, options.refine), options), options.format)


class Result(typing.NamedTuple):
    """The encoded output picture and the size of the photo it came from."""

    data: bytes
    width: int
    height: int


def remove_background(data: bytes, segmenter: Segmenter, options: CutoutOptions, max_pixels: int) -> Result:
    """Upload bytes -> encoded output picture; raises ImageError for a bad upload."""
    rgb = decode(data, max_pixels)
    return Result(output_bytes(rgb, segmenter.predict(rgb, options.network_output), options),
                  rgb.shape[1], rgb.shape[0])
