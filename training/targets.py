"""What each output of a two-output network learns from a training sample, by what its data root's masks
mark (`training.config.LABELS`).

A sample's truth for two outputs is (H, W, 4) float32: the subject's truth, everyone's truth, then where
each is known (1) or not (0); the losses and metrics count the known pixels only (`training.metrics`).

- "both" (one-person and person-free sets, your own data): the label is the subject and everyone.
- "subject" (ccp, eg1800, the teacher ensemble's har and har-action): the label is the subject, known
  everywhere; for everyone it marks people, but its background may hold people left unlabelled (ccp's
  passers-by, har's crowds), so everyone is known only where the label marks a person, unless the person
  was pasted onto a person-free photo: then the background is known to be empty too.
- "everyone" (CamVid): the label is everyone, known everywhere; it says nothing of who the subject is.
An audience composed behind the person (`training.augment.crowd`) is background for the subject and
people for everyone (known where its people's labels mark them).
"""

from __future__ import annotations

import numpy as np

from training.config import LABELS


def two_outputs(label: np.ndarray, audience: np.ndarray, labels: str, clean_background: bool) -> np.ndarray:
    """The (H, W, 4) truth of a two-output network from a sample's label and its audience's (H, W) float32
    0..1, what the root's masks mark (`LABELS`), and whether the person stands on a person-free photo."""
    if labels not in LABELS:
        raise ValueError(f"labels must be one of {LABELS}, got {labels!r}")
    everyone = np.maximum(label, audience)
    everywhere, nowhere = np.ones_like(label), np.zeros_like(label)
    if labels == "everyone":
        return np.stack([nowhere, everyone, nowhere, everywhere], axis=-1)
    if labels == "both" or clean_background:
        everyone_known = everywhere
    else:
        everyone_known = (everyone > 0).astype(np.float32)
    return np.stack([label, everyone, everywhere, everyone_known], axis=-1)


def held_out(mask: np.ndarray, labels: str) -> np.ndarray:
    """The (H, W, 4) truth of a validation photo from its own 0/1 mask, (H, W) or (H, W, 1) (no audience, its
    own background)."""
    mask = mask.reshape(mask.shape[:2]).astype(np.float32)
    return two_outputs(mask, np.zeros_like(mask), labels, clean_background=False)
