"""Edge refinement: the low-resolution probability map, sharpened along the photo's own edges."""

from __future__ import annotations

import math

import cv2
import numpy as np

# Guided-filter window radius in pixels when the coefficients are computed at WORK_SIDE, for a person covering
# RADIUS_SHARE of the photo; it grows with the person's size (the square root of their share, window_radius).
# Chosen on the validation split (model card, "Edge refinement"): a fixed 8 pixels at 1024 smoothed close-up
# portraits' outlines too little (eg1800 Boundary IoU 0.680; in proportion to the person's size 0.693) while
# full-length people in ccp photos kept theirs (0.747 and 0.746).
RADIUS = 8
RADIUS_SHARE = 0.13
EPSILON = 1e-3  # regularisation on a 0..1 guide: lower keeps finer edges, higher smooths more
WORK_SIDE = 1024  # the filter's coefficients are computed with the longer side at most this
# Person regions (probability >= 0.5) under this share of the photo's area keep at least the network's own
# probability: a window that sharpens a large person's edge averages a person a few dozen pixels tall away.
# Chosen on the validation split of every set (model card, "Small people"): CamVid's pedestrians missed 7 -> 4.
# Specks under SPECK_SHARE (a few of the network's own pixels) are not people: they stay refined away.
SMALL_SHARE = 0.005
SPECK_SHARE = 0.0001
# Decisive alpha: farther than this share of the photo's diagonal from the person's outline (alpha 0.5), a
# pixel is clear or, within a person the network is sure of, opaque (`decisive`): no faint ghost of a flag,
# a crowd or an object. Hair, fingers and motion blur stay soft, within the band along the outline. Chosen on the
# validation split (model card, "Decisive alpha"): 1% left eg1800 1.55% half-sure, mostly the guided filter's
# even halo around the whole person rather than hair; 0.5% leaves 0.82% and a soft rim of 0.5% either side.
# guided_alpha's decide_share=None turns it off (only to measure it).
DECIDE_SHARE = 0.005
DECIDE_WORK_SIDE = 512  # the band is found with the longer side at most this (a 12 MP photo: milliseconds)
SURE = 0.9  # a person region with a pixel at this alpha or more is one the network is sure of


def guided_alpha(rgb: np.ndarray, probability: np.ndarray, work_side: int = WORK_SIDE,
                 small_people: bool = True, decide_share: float | None = DECIDE_SHARE) -> np.ndarray:
    """Alpha (H, W) float32 in 0..1 from the photo (H, W, 3) uint8 and the upsampled probability.

    A fast guided filter (He and Sun, 2015): the linear coefficients are computed at a reduced
    resolution, upsampled, and applied to the full-resolution grey photo. Small people (`small_regions`)
    keep at least the probability itself (`small_people`, on when served; off only to measure it), and the
    alpha is made decisive away from the outline (`decisive`, with `decide_share`). OpenCV's
    `cv2.ximgproc.guidedFilter` only works at one resolution, which costs seconds at 12 megapixels,
    so the few box filters are written out here with OpenCV's own `boxFilter` and `resize`.
    """
    height, width = probability.shape
    guide = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) * (1.0 / 255.0)
    scale = min(1.0, work_side / max(height, width))
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        small_guide = cv2.resize(guide, size, interpolation=cv2.INTER_AREA)
        small_p = cv2.resize(probability, size, interpolation=cv2.INTER_AREA)
    else:
        small_guide, small_p = guide, probability
    person = small_p >= 0.5
    radius = window_radius(max(small_guide.shape), float(np.count_nonzero(person)) / person.size)
    a, b = _coefficients(small_guide, small_p.astype(np.float32), radius)
    if scale < 1.0:
        a = cv2.resize(a, (width, height), interpolation=cv2.INTER_LINEAR)
        b = cv2.resize(b, (width, height), interpolation=cv2.INTER_LINEAR)
    alpha = cv2.multiply(a, guide)
    cv2.add(alpha, b, dst=alpha)
    np.clip(alpha, 0.0, 1.0, out=alpha)
    if small_people:
        _keep_small_people(alpha, probability, person)
    if decide_share:
        decisive(alpha, decide_share)
    return alpha


def decisive(alpha: np.ndarray, share: float = DECIDE_SHARE) -> np.ndarray:
    """In place, and returned: the alpha (H, W) float32 made decisive farther than `share` of the diagonal from
    the outline (where the alpha crosses 0.5). There, a pixel under 0.5 is cleared, and a pixel of a person
    region that the network is sure of somewhere (alpha SURE or more) is made opaque. A region it is nowhere
    sure of (a flag or an object beside a person, at 0.6-0.8) keeps its alpha: made opaque it would be cut
    out whole, an error the network did not make. Thresholded at 0.5, nothing changes.

    The band and the regions are found at most DECIDE_WORK_SIDE on the longer side; a reduced pixel that
    mixes person and background is outline, so outside the band every photo pixel of a reduced pixel is on
    the same side, and the full resolution is only written, never compared again."""
    height, width = alpha.shape
    # uint8 0/255 (cv2.compare with a scalar took 300 ms at 12 MP; NumPy's comparison 6 ms)
    person = np.greater_equal(alpha, np.float32(0.5)).view(np.uint8) * np.uint8(255)
    # An integer reduction (OpenCV's fast path for area averaging: a fraction costs 4x more at 1 MP).
    factor = -(-max(height, width) // DECIDE_WORK_SIDE)
    small, small_alpha = person, alpha
    if factor > 1:  # area-averaged: a reduced pixel strictly between 0 and 255 mixes both sides
        size = (max(1, -(-width // factor)), max(1, -(-height // factor)))
        small = cv2.resize(person, size, interpolation=cv2.INTER_AREA)
        small_alpha = cv2.resize(alpha, size, interpolation=cv2.INTER_AREA)
    inside = (small >= 128).astype(np.uint8)
    radius = max(1, round(share * float(np.hypot(*small.shape))))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    # Within `radius` of the outline: where the dilated and eroded person differ, or near a mixed pixel.
    band = cv2.dilate(inside, kernel) - cv2.erode(inside, kernel)
    if factor > 1:
        cv2.max(band, cv2.dilate(((small > 0) & (small < 255)).astype(np.uint8), kernel), dst=band)
    count, regions = cv2.connectedComponents(inside, connectivity=8)
    sure = np.zeros(count, bool)
    sure[np.unique(regions[(small_alpha >= SURE) & (inside > 0)])] = True
    sure[0] = False  # the background
    opaque = (sure[regions] & (band == 0)).astype(np.uint8)
    clear = ((inside == 0) & (band == 0)).astype(np.uint8)
    if factor > 1:
        opaque, clear = (cv2.resize(m, (width, height), interpolation=cv2.INTER_NEAREST) for m in (opaque, clear))
    np.copyto(alpha, 1.0, where=opaque.view(bool))
    np.copyto(alpha, 0.0, where=clear.view(bool))
    return alpha


def _keep_small_people(alpha: np.ndarray, probability: np.ndarray, person: np.ndarray) -> None:
    """In place: alpha at least the probability over the small regions of `person` (found at its own,
    possibly reduced, resolution)."""
    small = small_regions(person)
    if small is None:
        return
    if small.shape != alpha.shape:
        small = cv2.resize(small, alpha.shape[::-1], interpolation=cv2.INTER_NEAREST)
    np.maximum(alpha, probability, out=alpha, where=small.astype(bool))


def small_regions(person: np.ndarray) -> np.ndarray | None:
    """(H, W) uint8 0/1: the regions of person pixels (H, W) bool from SPECK_SHARE to SMALL_SHARE of the
    area, widened by a pixel for their soft edge; None when there is none."""
    _, labels, stats, _ = cv2.connectedComponentsWithStats(person.astype(np.uint8), connectivity=8)
    pixels = stats[1:, cv2.CC_STAT_AREA]
    small = 1 + np.flatnonzero((pixels >= SPECK_SHARE * person.size) & (pixels < SMALL_SHARE * person.size))
    if small.size == 0:
        return None
    return cv2.dilate(np.isin(labels, small).astype(np.uint8), np.ones((3, 3), np.uint8))


def window_radius(side: int, person_share: float = RADIUS_SHARE) -> int:
    """The window radius for coefficients computed with the longer side `side`, where `person_share` of the
    photo is person (probability 0.5 or more): RADIUS at WORK_SIDE and in proportion to it, so the window
    covers the same share of every photo, as the network sees every photo at one size (a fixed 8 pixels
    smoothed people a few dozen pixels tall out of small photos: on the validation split of every set it
    missed 27 photos against 17, CamVid and everyday photos; MODEL_CARD.md); and in proportion to the
    person's size, the square root of their share against RADIUS_SHARE, so a close-up's outline is
    followed over as much of the person as a full-length figure's."""
    return max(1, round(RADIUS * side / WORK_SIDE * math.sqrt(person_share / RADIUS_SHARE)))


def _coefficients(guide: np.ndarray, p: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean-filtered a, b of the guided filter: q = a * I + b, over windows of (2 radius + 1) pixels."""
    box = lambda x: cv2.boxFilter(x, -1, (2 * radius + 1, 2 * radius + 1), borderType=cv2.BORDER_REFLECT)
    mean_i, mean_p = box(guide), box(p)
    var_i = box(guide * guide) - mean_i * mean_i
    cov_ip = box(guide * p) - mean_i * mean_p
    a = cov_ip / (var_i + EPSILON)
    b = mean_p - a * mean_i
    return box(a), box(b)
