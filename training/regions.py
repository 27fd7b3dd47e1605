"""The people of a label one by one: its connected regions and how much of each another mask covers."""

from __future__ import annotations

import cv2
import numpy as np


def regions_of(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 8-connected regions of a 0/1 mask (H, W): their map (H, W; 0 is the background) and each
    region's area in pixels."""
    count, regions = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    return regions, np.bincount(regions.ravel(), minlength=count)


def share_covered(regions: np.ndarray, area: np.ndarray, cover: np.ndarray) -> np.ndarray:
    """The share of each region (`regions_of`) where `cover` (H, W, bool) holds."""
    covered = np.bincount(regions.ravel(), weights=cover.ravel(), minlength=area.size)
    return covered / np.maximum(area, 1)
