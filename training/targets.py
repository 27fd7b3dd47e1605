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
people for everyone (known where its people's labels mark them). So are the bystanders of a subject-labelled
photo whose every person is also labelled (`bystanders`, `training.config.SET_EVERYONE_MASKS`); with them
everyone's background is known, as it is where the person was pasted onto a person-free photo.
With a band (`--everyone-band`), the background of a subject-labelled photo next to the label's people is
known to everyone too: a ring as wide as that share of the frame's diagonal around them, where someone
left unlabelled would have to touch the subject. Without it everyone learns people and hardly any
background on such photos, and marks a halo around people (model card, Known limits).
"""

from __future__ import annotations

import cv2
import numpy as np

from training.config import LABELS
from training.regions import regions_of, share_covered

LEFT_OUT = 0.2  # a person of an every-person mask whom the subject label covers less of than this is a bystander


def bystanders(label: np.ndarray, everyone: np.ndarray) -> np.ndarray:
    """The people of an every-person mask (H, W, 0/1) whom the subject label (H, W, 0/1) leaves out: its
    regions the label covers less than LEFT_OUT of, uint8 0/1. A region the label covers is the subject,
    whose outline the label draws (every-person masks such as MediaPipe's are blobby at the edge)."""
    regions, area = regions_of(everyone)
    left_out = share_covered(regions, area, label > 0) < LEFT_OUT
    left_out[0] = False  # region 0 is the mask's background
    return left_out[regions].astype(np.uint8)


def ring(people: np.ndarray, band: float) -> np.ndarray:
    """The pixels (H, W) bool outside `people` (H, W, 0..1) but within `band` of the diagonal of them."""
    marked = (people > 0).astype(np.uint8)
    radius = round(band * float(np.hypot(*people.shape[:2])))
    if radius < 1 or not marked.any():
        return np.zeros(people.shape[:2], bool)
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return (cv2.dilate(marked, disc) > 0) & (marked == 0)


def two_outputs(label: np.ndarray, audience: np.ndarray, labels: str, everyone_labelled: bool,
                band: float = 0.0) -> np.ndarray:
    """The (H, W, 4) truth of a two-output network from a sample's label and its audience's (H, W) float32
    0..1 (people behind or beside the subject), what the root's masks mark (`LABELS`), and whether every
    person in the frame is in one of the two (pasted onto a person-free photo, or bystanders known);
    `band`: the share of the diagonal around a subject label's people where everyone knows the background."""
    if labels not in LABELS:
        raise ValueError(f"labels must be one of {LABELS}, got {labels!r}")
    everyone = np.maximum(label, audience)
    everywhere, nowhere = np.ones_like(label), np.zeros_like(label)
    if labels == "everyone":
        return np.stack([nowhere, everyone, nowhere, everywhere], axis=-1)
    if labels == "both" or everyone_labelled:
        everyone_known = everywhere
    else:
        everyone_known = ((everyone > 0) | ring(everyone, band)).astype(np.float32)
    return np.stack([label, everyone, everywhere, everyone_known], axis=-1)


def held_out(mask: np.ndarray, labels: str) -> np.ndarray:
    """The (H, W, 4) truth of a validation photo from its own 0/1 mask, (H, W) or (H, W, 1) (no audience, its
    own background)."""
    mask = mask.reshape(mask.shape[:2]).astype(np.float32)
    return two_outputs(mask, np.zeros_like(mask), labels, everyone_labelled=False)
