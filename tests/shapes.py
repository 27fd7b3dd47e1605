"""A tiny generated data set for the training tests: drawn ellipses and rectangles as the "people"."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def draw_pair(index: int, height: int = 72, width: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """A textured RGB photo with one bright shape (the "person") and its 0/255 mask."""
    rng = np.random.default_rng(index)
    image = rng.integers(0, 90, (height, width, 3), dtype=np.uint8)
    mask = np.zeros((height, width), dtype=np.uint8)
    centre = (int(rng.integers(20, width - 20)), int(rng.integers(20, height - 20)))
    axes = (int(rng.integers(8, 16)), int(rng.integers(12, 22)))
    cv2.ellipse(mask, centre, axes, 0, 0, 360, 255, -1)
    colour = rng.integers(150, 256, 3)
    image[mask > 0] = colour
    return image, mask


def write_root(root: Path, count: int, empty: int = 0, prefix: str = "s") -> Path:
    """`count` pairs with a shape and `empty` person-free pairs in <root>/images + <root>/masks."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    for i in range(count + empty):
        image, mask = draw_pair(i)
        if i >= count:
            mask[:] = 0
            image = np.random.default_rng(1000 + i).integers(0, 90, image.shape, dtype=np.uint8)
        cv2.imwrite(str(root / "images" / f"{prefix}{i:03d}.jpg"), image)
        cv2.imwrite(str(root / "masks" / f"{prefix}{i:03d}.png"), mask)
    return root
