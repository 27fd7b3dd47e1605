"""The main person: the person region that fills the most of the photo, without the others."""

from __future__ import annotations

import cv2
import numpy as np

OPAQUE = 128  # alpha from which a pixel counts as person when the regions are found (the 0.5 threshold)
# Person pixels closer than this share of the photo's longer side are one region: a head that a thin,
# faint neck parts from its body, or a hand, stays with its person; it is also the soft edge kept around it.
# 0.02 was chosen on the validation split (model card: ccp gains, one-person viton photos lose least).
JOIN_SHARE = 0.02
WORK_SIDE = 512  # the regions are found with the longer side at most this (a 12 MP photo: 3 s -> ms)


def main_region(person: np.ndarray) -> np.ndarray | None:
    """Where to keep alpha, (H, W) uint8 0/1, given the person pixels (H, W) bool: the largest region of
    person pixels joined across gaps under JOIN_SHARE of the photo's side; None when there is at most
    one region (nothing to clear)."""
    height, width = person.shape
    scale = min(1.0, WORK_SIDE / max(height, width))
    small = person.astype(np.uint8)
    if scale < 1.0:  # area-averaged, so that a thin limb still marks its low-resolution pixel
        small = (cv2.resize(small, (max(1, round(width * scale)), max(1, round(height * scale))),
                            interpolation=cv2.INTER_AREA) > 0).astype(np.uint8)
    radius = max(1, round(JOIN_SHARE * max(small.shape)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    count, labels = cv2.connectedComponents(cv2.dilate(small, kernel), connectivity=8)
    if count <= 2:  # background only, or one region
        return None
    largest = 1 + int(np.argmax(np.bincount(labels[small > 0], minlength=count)[1:]))  # the most person pixels
    keep = (labels == largest).astype(np.uint8)
    return keep if scale == 1.0 else cv2.resize(keep, (width, height), interpolation=cv2.INTER_NEAREST)


def main_person(alpha8: np.ndarray) -> np.ndarray:
    """The alpha (H, W) uint8 with every person region but the largest cleared.

    For a photo of one person among passers-by (street fashion, a portrait with someone behind): the
    network cuts out everyone it sees, and the largest region is whom the photo is of.
    """
    keep = main_region(alpha8 >= OPAQUE)
    return alpha8 if keep is None else alpha8 * keep
