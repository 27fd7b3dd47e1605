"""Awkward and hostile image files, made from real photos at test time."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image


def save(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares width x height pixels (a decompression bomb's calling card)."""
    data = bytearray(save(Image.new("RGB", (1, 1)), "PNG"))
    ihdr = data.index(b"IHDR")
    data[ihdr + 4:ihdr + 12] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr:ihdr + 17])) & 0xFFFFFFFF
    data[ihdr + 17:ihdr + 21] = struct.pack(">I", crc)
    return bytes(data)


def jpeg_declaring(photo: np.ndarray, width: int, height: int) -> bytes:
    """A real JPEG whose frame header is rewritten to claim width x height."""
    data = bytearray(save(Image.fromarray(photo), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def animated(photo: np.ndarray, fmt: str) -> bytes:
    frames = [Image.fromarray(photo), Image.fromarray(255 - photo)]
    return save(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)


def variants(photo: np.ndarray) -> dict[str, bytes]:
    """Readable files in every mode and container the service promises to take."""
    rgb = Image.fromarray(photo)
    grey16 = Image.fromarray((np.asarray(rgb.convert("L")).astype(np.uint16) * 257))
    palette = rgb.convert("P", palette=Image.Palette.ADAPTIVE)
    palette.info["transparency"] = 0
    return {
        "cmyk.jpg": save(rgb.convert("CMYK"), "JPEG"),
        "grey16.png": save(grey16, "PNG"),
        "palette-transparent.png": save(palette, "PNG", transparency=0),
        "grey-alpha.png": save(rgb.convert("LA"), "PNG"),
        "animated.gif": animated(photo, "GIF"),
        "animated.webp": animated(photo, "WEBP"),
        "photo.tiff": save(rgb, "TIFF"),
        "photo.webp": save(rgb, "WEBP"),
        "photo.bmp": save(rgb, "BMP"),
    }
