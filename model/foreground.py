"""The person's own colour under a soft edge: blur-fusion foreground estimation (Forte and Pitié,
"Approximate Fast Foreground Colour Estimation", ICIP 2021), so a cutout on a new background shows no
fringe of the old one, and nothing of the old background is left under transparent pixels.

Where alpha is between 0 and 1, a photo's pixel is the mix I = a F + (1 - a) B of the person's colour F
and the background's B. Blur-fusion estimates F from box-filtered, alpha-weighted means of F and B
around each pixel, F = F_mean + a (I - a F_mean - (1 - a) B_mean), in two passes: a wide window
(the means start from the photo itself) and a narrow one (the means from the first pass's estimates).
The two passes run on the photo scaled to at most WORK_SIDE pixels (the means are blurs, smooth at
that size); only the final formula runs at the photo's resolution (python -m bench.levers, "foreground
colour": the same spill removal as at 512 or 1024 pixels, a mean colour difference of one level from
the passes at full resolution, in a thirtieth of their time at 12 megapixels).
"""

from __future__ import annotations

import cv2
import numpy as np

WORK_SIDE = 256  # the passes' longer side at most this (python -m bench.levers, "foreground colour")
# Box sizes of the two passes as shares of the work picture's longer side: the paper's 90 and 6 pixels
# for photos of about a megapixel (longer side ~1,100 px).
WIDE_SHARE = 90 / 1100
NARROW_SHARE = 6 / 1100
BLEND_SIDE = 1024  # K (see foreground) at most this side
_EPS = 1e-5
# blendLinear's per-pixel weights from alpha by table: the photo's a, the means' 1 - a but 0 where a is 0.
_PHOTO_WEIGHT = (np.arange(256, dtype=np.float32) / 255.0).reshape(1, 256)
_MEAN_WEIGHT = np.where(np.arange(256) > 0, 1.0 - _PHOTO_WEIGHT, 0.0).astype(np.float32).reshape(1, 256)


def foreground(rgb: np.ndarray, alpha8: np.ndarray, work_side: int = WORK_SIDE,
               blend_side: int = BLEND_SIDE) -> np.ndarray:
    """RGB uint8 (H, W, 3): the person's estimated colour, the photo itself where alpha is 255 and black
    where alpha is 0 (nothing of the removed background survives)."""
    if not cv2.countNonZero(cv2.inRange(alpha8, 1, 254)):
        return cv2.min(rgb, cv2.merge([alpha8, alpha8, alpha8]))  # hard alpha: the photo's colours, black outside
    height, width = alpha8.shape
    # F = F_mean + a (I - a F_mean - (1 - a) B_mean) = a I + (1 - a) K, with K = (1 + a) F_mean - a B_mean.
    # K is smooth (it follows the means, and alpha only linearly): it is made at <= blend_side pixels and
    # upsampled, within 3 levels of K at full resolution in what the cutout shows (python -m bench.levers).
    # Each blend is one multithreaded cv2.blendLinear pass, several times faster than float32 numpy.
    extrapolated = cv2.resize(_extrapolated(*_means(rgb, alpha8, work_side), alpha8, blend_side), (width, height),
                              interpolation=cv2.INTER_LINEAR)
    # Where alpha is 0 both weights are 0 and blendLinear gives 0: black, in the same pass.
    return cv2.blendLinear(np.ascontiguousarray(rgb), extrapolated, cv2.LUT(alpha8, _PHOTO_WEIGHT),
                           cv2.LUT(alpha8, _MEAN_WEIGHT))


def _extrapolated(mean_f: np.ndarray, mean_b: np.ndarray, alpha8: np.ndarray, side: int) -> np.ndarray:
    """K = (1 + a) F_mean - a B_mean, uint8 (saturated), at the photo scaled to at most `side` pixels."""
    size = _size_within(alpha8.shape, side)
    alpha = cv2.LUT(alpha8 if size == alpha8.shape[::-1] else _shrink(alpha8, size), _PHOTO_WEIGHT)
    mean_f, mean_b = (cv2.resize(mean, size, interpolation=cv2.INTER_LINEAR) for mean in (mean_f, mean_b))
    return cv2.blendLinear(mean_f, mean_b, 1.0 + alpha, -alpha)


def _means(rgb: np.ndarray, alpha8: np.ndarray, work_side: int) -> tuple[np.ndarray, np.ndarray]:
    """The second pass's alpha-weighted local means of foreground and background, uint8 (h, w, 3), at the
    photo scaled to at most `work_side` pixels."""
    size = _size_within(alpha8.shape, work_side)
    if size != alpha8.shape[::-1]:
        rgb, alpha8 = (_shrink(x, size) for x in (rgb, alpha8))
    image = rgb.astype(np.float32) * (1.0 / 255.0)
    alpha = alpha8.astype(np.float32)[..., None] * (1.0 / 255.0)
    side = max(image.shape[:2])
    wide, narrow = (max(3, round(share * side)) for share in (WIDE_SHARE, NARROW_SHARE))
    f, b = _blur_fusion(image, image, alpha, wide)
    f = f + alpha * (image - alpha * f - (1.0 - alpha) * b)
    np.clip(f, 0.0, 1.0, out=f)
    return tuple(np.clip(mean * 255.0 + 0.5, 0.0, 255.0).astype(np.uint8) for mean in _blur_fusion(f, b, alpha, narrow))


def _size_within(shape: tuple[int, int], side: int) -> tuple[int, int]:
    """(width, height) of a picture of `shape` (height, width) scaled down to at most `side` pixels."""
    height, width = shape
    scale = min(1.0, side / max(height, width))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _shrink(picture: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`picture` at `size` (width, height): bilinear to twice the size, then INTER_AREA by exactly 2. A
    sampled, slightly aliased mean where the photo is larger, a tenth of INTER_AREA's time from 12
    megapixels (its fast path is for whole ratios); the passes blur it anyway."""
    double = (2 * size[0], 2 * size[1])
    if picture.shape[1] > double[0]:
        picture = cv2.resize(picture, double, interpolation=cv2.INTER_LINEAR)
    return cv2.resize(picture, size, interpolation=cv2.INTER_AREA)


def _blur_fusion(f: np.ndarray, b: np.ndarray, alpha: np.ndarray, box: int) -> tuple[np.ndarray, np.ndarray]:
    """One pass's local means: F_mean = blur(F a) / blur(a), B_mean = blur(B (1 - a)) / blur(1 - a)."""
    blur = lambda x: cv2.blur(x, (box, box))
    mean_alpha = blur(alpha[..., 0])[..., None]
    mean_f = blur(f * alpha) / (mean_alpha + _EPS)
    mean_b = blur(b * (1.0 - alpha)) / ((1.0 - mean_alpha) + _EPS)
    return mean_f, mean_b
