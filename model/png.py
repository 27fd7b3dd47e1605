"""PNG encoding: libpng's "up" row filter in NumPy, deflated by Intel's ISA-L (python-isal).

Written out here rather than through an image library because no encoder that installs as a wheel
lets the deflate step be ISA-L's: at level 1 it deflates the filtered 12-megapixel cutout about five
times faster than zlib's level 1 (libpng, as OpenCV and Pillow use it) into a slightly smaller file
(`python -m bench.levers`, docs/PERFORMANCE.md). The container is the standard one: signature, IHDR,
one IDAT holding the zlib stream, IEND, each chunk with its CRC-32.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

import numpy as np
from isal import isal_zlib

SIGNATURE = b"\x89PNG\r\n\x1a\n"
COLOUR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> PNG colour type: grey, grey+alpha, RGB, RGBA
FILTER_UP = 2  # each byte minus the byte above it: cheap, and the smallest files of libpng's filters at level 1
LEVEL = 1  # ISA-L's levels are 0-3; 1 compresses about as well as zlib's 1


def encode_png(picture: np.ndarray, level: int = LEVEL,
               deflate: Callable[[np.ndarray, int], bytes] = isal_zlib.compress) -> bytes:
    """PNG bytes of a grey (H, W), or grey+alpha, RGB or RGBA (H, W, C) uint8 picture.

    `deflate(filtered rows, level)` must return a zlib stream; other libraries' (zlib, zlib-ng,
    libdeflate) are there for `python -m bench.levers` to compare.
    """
    if picture.dtype != np.uint8 or picture.ndim not in (2, 3):
        raise ValueError(f"expected a uint8 (H, W) or (H, W, C) picture, got {picture.dtype} {picture.shape}")
    height, width = picture.shape[:2]
    channels = 1 if picture.ndim == 2 else picture.shape[2]
    if channels not in COLOUR_TYPES or height < 1 or width < 1:
        raise ValueError(f"cannot write a PNG of shape {picture.shape}")
    rows = np.ascontiguousarray(picture).reshape(height, width * channels)
    filtered = np.empty((height, width * channels + 1), np.uint8)
    filtered[:, 0] = FILTER_UP
    filtered[0, 1:] = rows[0]  # the row above the first is zeros
    np.subtract(rows[1:], rows[:-1], out=filtered[1:, 1:])  # uint8 arithmetic wraps modulo 256, as PNG wants
    header = struct.pack(">IIBBBBB", width, height, 8, COLOUR_TYPES[channels], 0, 0, 0)
    return b"".join([SIGNATURE, _chunk(b"IHDR", header), _chunk(b"IDAT", deflate(filtered, level)),
                     _chunk(b"IEND", b"")])


def _chunk(kind: bytes, body: bytes) -> bytes:
    crc = isal_zlib.crc32(body, isal_zlib.crc32(kind))
    return b"".join([struct.pack(">I", len(body)), kind, body, struct.pack(">I", crc)])
