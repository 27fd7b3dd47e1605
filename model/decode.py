"""Safe decoding of uploaded bytes into an upright RGB uint8 array, with Pillow."""

from __future__ import annotations

import functools
import io
import struct
import warnings

import numpy as np
import simplejpeg
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from model.errors import CutoutError

ORIENTATION = ExifTags.Base.Orientation
# What Pillow's plugins raise on damaged or hostile bytes: beside OSError and ValueError, others that
# tests/fuzz.py found (a TIFF whose strip offset is a float: TypeError, from ImageFile.load) and their kin.
# Each means "this file is damaged": a 400, never a 500. MemoryError is not among them.
DAMAGED = (OSError, ValueError, SyntaxError, EOFError, TypeError, IndexError, KeyError, ZeroDivisionError,
           struct.error)
# Formats we read; Pillow's plugins for anything else (EPS, PDF, ...) are never reached.
FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF")  # JPEG covers MPO too


class ImageError(CutoutError):
    """An upload that cannot be turned into a photo; `status` is the HTTP status that fits."""


class UnreadableImage(ImageError):
    status = 400


class UnsupportedFormat(ImageError):
    status = 415


class ImageTooLarge(ImageError):
    status = 413


@functools.cache  # once per process, not on every upload
def _register_heif() -> bool:
    try:
        from pillow_heif import register_heif_opener
    except ImportError:
        return False
    register_heif_opener()
    return True


def open_image(data: bytes, max_pixels: int) -> Image.Image:
    """Identify the image and check its declared size, before any pixel is decoded."""
    if not data:
        raise UnreadableImage("the file is empty")
    formats = FORMATS + (("HEIF",) if _register_heif() else ())
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=formats)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageTooLarge(f"the image declares more than {max_pixels:,} pixels") from None
    except UnidentifiedImageError:
        raise _unidentified(data) from None
    except DAMAGED as error:
        raise UnreadableImage(f"the image could not be read ({_reason(error)})") from None
    check_pixels(*image.size, max_pixels)
    return image


def check_pixels(width: int, height: int, max_pixels: int) -> None:
    """ImageTooLarge where a photo of `width` x `height` has more than `max_pixels` pixels."""
    if width * height > max_pixels:
        raise ImageTooLarge(f"the image has {width}x{height} pixels, more than the limit of {max_pixels:,}")


def _unidentified(data: bytes) -> ImageError:
    head = data[:64].lstrip().lower()
    if head.startswith((b"<svg", b"<?xml")) or b"<svg" in data[:1024].lower():
        return UnsupportedFormat("SVG is not supported: upload a JPEG, PNG, WebP, BMP, TIFF or GIF photo")
    if data[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftypmsf1", b"ftypavif", b"ftyphevc"):
        return UnsupportedFormat("HEIC/AVIF is not supported here: upload a JPEG, PNG or WebP photo")
    other = other_format(data)
    if other is not None:
        return UnsupportedFormat(f"{other} is not supported: upload a JPEG, PNG, WebP, BMP, TIFF or GIF photo")
    return UnreadableImage("the file is not an image this service can read (JPEG, PNG, WebP, BMP, TIFF, GIF)")


# Pillow identifies these from a few header bytes that text and damaged files can match by chance (TGA
# has no signature at all): a file they claim is only called that format (415) where Pillow also reads its
# pixels, at most _WEAK_CHECK_PIXELS of them; else it is unreadable (400).
_WEAK_SIGNATURES = ("TGA", "MPEG", "SPIDER", "PCD", "XVTHUMB", "FTEX", "WMF")
_WEAK_CHECK_PIXELS = 4096 * 4096


def other_format(data: bytes) -> str | None:
    """The name of the image format, outside FORMATS, that Pillow recognises in the file's header (TGA, PSD,
    ICO, JPEG 2000, PPM, EPS, ...), or None. Only the header is read: no other plugin decodes a pixel."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as image:
                name = image.format
                if name in _WEAK_SIGNATURES:
                    if image.width * image.height > _WEAK_CHECK_PIXELS:
                        return None
                    image.load()
    except Exception:  # any plugin's header parser on hostile bytes; the file stays unidentified
        return None
    return None if name in FORMATS else name


def to_rgb(image: Image.Image) -> np.ndarray:
    """Upright RGB uint8: EXIF orientation applied, first frame, any mode (CMYK, 16-bit, palette, grey)."""
    try:
        image.seek(0)
        image = ImageOps.exif_transpose(image)
        if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
            return _wide_to_rgb(np.asarray(image))
        if image.mode == "RGB":
            return np.asarray(image)
        if "A" in image.mode or (image.mode == "P" and "transparency" in image.info):
            # Transparent pixels become white, not whatever colour hides under alpha 0.
            rgba = image.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"))
        return np.asarray(image.convert("RGB"))
    except DAMAGED as error:
        raise UnreadableImage(f"the image data is damaged or truncated ({_reason(error)})") from None


def _reason(error: Exception) -> str:
    """Pillow's message, on one line and short."""
    return " ".join(str(error).split())[:200] or type(error).__name__


def _wide_to_rgb(pixels: np.ndarray) -> np.ndarray:
    """16-bit or float grey -> 8-bit RGB; Pillow's own convert would clip, not scale."""
    pixels = pixels.astype(np.float32)
    peak = 65535.0 if pixels.max(initial=0) > 255 else 255.0
    grey = np.clip(pixels / peak * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


def decode(data: bytes, max_pixels: int) -> np.ndarray:
    """Upload bytes -> upright RGB uint8 (H, W, 3), or an ImageError saying what is wrong."""
    image = open_image(data, max_pixels)
    if min(image.size) < 1:
        raise UnreadableImage("the image has no pixels")
    if image.format == "JPEG" and image.mode == "RGB":  # the common case: a colour camera or phone photo
        return upright(decode_jpeg(data), image.getexif().get(ORIENTATION, 1))
    return np.ascontiguousarray(to_rgb(image))


def decode_jpeg(data: bytes) -> np.ndarray:
    """The pixels of a colour JPEG, RGB uint8, by libjpeg-turbo through simplejpeg.

    Pillow decodes with libjpeg-turbo too, to the same pixels, but then copies them out of its own
    image memory; simplejpeg writes them straight into a NumPy array, faster at 12 megapixels
    (`python -m bench.levers`). `strict` turns libjpeg's warnings (a truncated file) into errors, as
    Pillow does. Pillow still reads the header, the size and the EXIF.
    """
    try:
        return simplejpeg.decode_jpeg(data, colorspace="RGB", strict=True)
    except ValueError as error:  # a damaged or truncated file
        raise UnreadableImage(f"the image data is damaged or truncated ({error})") from None


# EXIF orientation -> the array operation that makes the photo upright, as ImageOps.exif_transpose does.
_UPRIGHT = {
    2: lambda a: a[:, ::-1],  # mirrored
    3: lambda a: a[::-1, ::-1],  # upside down
    4: lambda a: a[::-1],  # mirrored upside down
    5: lambda a: a.transpose(1, 0, 2),  # mirrored, turned
    6: lambda a: a.transpose(1, 0, 2)[:, ::-1],  # turned a quarter clockwise to be upright
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),  # mirrored, turned the other way
    8: lambda a: a.transpose(1, 0, 2)[::-1],  # turned a quarter counter-clockwise to be upright
}


def upright(rgb: np.ndarray, orientation: int) -> np.ndarray:
    """The photo as EXIF `orientation` (1-8) says it should be seen, contiguous."""
    return np.ascontiguousarray(_UPRIGHT.get(orientation, lambda a: a)(rgb))
