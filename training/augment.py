"""The training augmentation, in NumPy and OpenCV: placement, background pasting, groups, people in
action (turned, in motion, in front of an audience), things beside people, photometrics.

The one augmentation of the project: it runs under every Keras backend (TensorFlow, JAX, PyTorch),
drawn in worker processes by `training.batches`. Images travel as float32 0..255, masks as float32 0..1:
0/1 for hard labels, levels between for soft ones (a teacher's label, a feathered paste, motion blur).
"""

from __future__ import annotations

import typing

import cv2
import numpy as np

from model.letterbox import PAD_VALUE
from training.config import AugmentConfig

_GREY = np.array([0.2989, 0.587, 0.114], np.float32)  # ITU-R BT.601 luma, as cv2.COLOR_RGB2GRAY
MOTION_LENGTH = (5, 13)  # motion blur, pixels at the training size
# An audience stands further behind than a group poses: its people at most 30% of the frame tall and always
# out of focus. With audiences 15-45% tall and sharp at times, a run learned to drop any smaller person
# (model card, Choosing: the smaller second person of a group).
CROWD_SCALE = (0.1, 0.3)  # an audience's people, height relative to the frame
CROWD_BLUR = (1.0, 3.0)  # the audience's Gaussian blur, sigma in pixels at the training size
AUDIENCE_SUBJECT_SCALE = (0.8, 1.6)  # the subject in front of an audience, relative to fitting the frame
SOFT_EDGE = 0.1  # a soft label's level from which a pixel counts into the person's bounding box
# A thing beside the person (`add_object`): a flag, a poster or a sign (a rectangle), a model, a statue or a
# plant (an ellipse or a polygon), cut out of a person-free photo and standing behind the person, background.
# Every model so far took such things in with the person: the flag and the shuttle model beside the astronaut
# (tests/test_shipped_model.py). Pieces of photos alone, in 30% of the samples for 13 epochs, did not teach the
# grown network the flag away; with painted flags among them (FLAG_SHARE), 6 epochs did (model card, How it was
# chosen: painted flags beside people).
OBJECT_SCALE = (0.25, 0.9)  # the thing's height, relative to the frame
OBJECT_ASPECT = (0.3, 1.5)  # its width over its height
OBJECT_CROP = (0.3, 0.8)  # the share of the person-free photo's shorter side it is cut from
OBJECT_SHAPES = ("rectangle", "ellipse", "polygon")
# A share of the things are painted flags and banners (`flag`): stripes, at times a canton with stars, waving.
# A photo's piece seldom looks like one, and a flag beside a person is what every model so far took in.
FLAG_SHARE = 0.4
FLAG_COLOURS = np.array([(178, 34, 52), (245, 245, 245), (60, 59, 110), (0, 122, 61), (252, 209, 22),
                         (20, 20, 20), (255, 121, 0), (0, 56, 168), (206, 17, 38), (0, 150, 214)], np.float32)


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Area-averaged when shrinking (antialiased), bilinear otherwise."""
    shrinking = height * width < image.shape[0] * image.shape[1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    if image.ndim == 3 and image.shape[2] > 4:  # cv2.resize takes at most 4 channels
        return np.concatenate([_resize(image[..., i:i + 4], height, width)
                               for i in range(0, image.shape[2], 4)], axis=-1)
    resized = cv2.resize(image, (width, height), interpolation=interpolation)
    return resized.reshape(height, width, -1) if image.ndim == 3 else resized


def place(image: np.ndarray, mask: np.ndarray, size: int, scale: tuple[float, float],
          rng: np.random.Generator, extra: np.ndarray | None = None) -> np.ndarray:
    """Scale a photo at random, crop or pad it into size x size; returns (size, size, 5): RGB, mask, valid,
    and a sixth channel, `extra` (H, W) placed as the mask is, where given."""
    height, width = image.shape[:2]
    factor = size / max(height, width) * rng.uniform(*scale)
    new_h, new_w = max(1, round(height * factor)), max(1, round(width * factor))
    image = _resize(image.astype(np.float32), new_h, new_w)
    masks = mask if extra is None else np.stack([mask, extra], axis=-1)
    masks = cv2.resize(masks.astype(np.float32), (new_w, new_h), interpolation=cv2.INTER_NEAREST)
    masks = masks.reshape(new_h, new_w, -1)
    crop_h, crop_w = min(new_h, size), min(new_w, size)
    y, x = rng.integers(0, new_h - crop_h + 1), rng.integers(0, new_w - crop_w + 1)
    top, left = rng.integers(0, size - crop_h + 1), rng.integers(0, size - crop_w + 1)
    canvas = np.zeros((size, size, 4 + masks.shape[2]), np.float32)
    canvas[..., :3] = PAD_VALUE  # padding shows PAD_VALUE, as the serving letterbox does
    inside = (slice(top, top + crop_h), slice(left, left + crop_w))
    canvas[inside][..., :3] = image[y:y + crop_h, x:x + crop_w]
    canvas[inside][..., 3] = masks[y:y + crop_h, x:x + crop_w, 0]
    canvas[inside][..., 4] = 1.0
    canvas[inside][..., 5:] = masks[y:y + crop_h, x:x + crop_w, 1:]
    return canvas


def background_crop(image: np.ndarray, config: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """A random square crop of a person-free photo at its native resolution (side <= config.size)."""
    height, width = image.shape[:2]
    side = max(8, int(min(height, width) * rng.uniform(*config.background_crop)))
    side = min(side, height, width)
    y, x = rng.integers(0, height - side + 1), rng.integers(0, width - side + 1)
    crop = image[y:y + side, x:x + side].astype(np.float32)
    return _resize(crop, config.size, config.size) if side > config.size else crop


def paste(placed: np.ndarray, background: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Composite the placed person onto a background, at the background's own resolution.

    Composing at the background's native resolution, then scaling the whole picture to `size`,
    gives person and background the same sharpness: a sharp person on a soft upscaled background
    would teach the network "sharp = person". The paste edge is feathered and the person's colour
    is pulled part of the way towards the background's.
    """
    side = background.shape[0]
    small = _resize(placed, side, side)
    rgb, alpha = small[..., :3], small[..., 3:4] * small[..., 4:5]
    alpha = cv2.blur(alpha, (3, 3), borderType=cv2.BORDER_CONSTANT)[..., None]  # a feathered edge
    person_mean = (rgb * alpha).sum(axis=(0, 1)) / (alpha.sum() + 1e-3)
    shift = (background.mean(axis=(0, 1)) - person_mean) * rng.uniform(0.0, 0.5)
    composite = alpha * (rgb + shift) + (1.0 - alpha) * background
    composite = cv2.resize(composite, (size, size), interpolation=cv2.INTER_LINEAR)
    return np.concatenate([composite, placed[..., 3:4]], axis=-1)


def photometric(image: np.ndarray, grey_probability: float, rng: np.random.Generator) -> np.ndarray:
    """Colour jitter, occasional grey, blur and sensor noise on a whole float 0..255 image."""
    image = image + rng.uniform(-25.0, 25.0)
    mean = image.mean(axis=(0, 1))
    image = np.clip((image - mean) * rng.uniform(0.75, 1.25) + mean, 0.0, 255.0)
    hsv = cv2.cvtColor(image.astype(np.float32), cv2.COLOR_RGB2HSV)  # float: H 0..360, S 0..1
    hsv[..., 1] = np.clip(hsv[..., 1] * rng.uniform(0.7, 1.3), 0.0, 1.0)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-0.03, 0.03) * 360.0) % 360.0
    image = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    if rng.uniform() < grey_probability:
        image = np.repeat(image @ _GREY[:, None], 3, axis=-1)
    if rng.uniform() < 0.2:
        image = _soften(image, rng)
    if rng.uniform() < 0.3:
        image = image + rng.normal(0.0, rng.uniform(0.0, 6.0), image.shape).astype(np.float32)
    return np.clip(image, 0.0, 255.0)


def _soften(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    height, width = image.shape[:2]
    factor = rng.uniform(1.5, 3.0)
    small = _resize(image, max(1, int(height / factor)), max(1, int(width / factor)))
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


def flip_and_rotate(image: np.ndarray, mask: np.ndarray, max_degrees: float,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Random horizontal flip and small rotation, the same for image and mask (H, W) or (H, W, up to 4)."""
    if rng.uniform() < 0.5:
        image, mask = image[:, ::-1], mask[:, ::-1]
    height, width = image.shape[:2]
    centre = ((width - 1) / 2.0, (height - 1) / 2.0)
    matrix = cv2.getRotationMatrix2D(centre, rng.uniform(-max_degrees, max_degrees), 1.0)
    image = cv2.warpAffine(np.ascontiguousarray(image), matrix, (width, height), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=(PAD_VALUE,) * 3)
    mask = cv2.warpAffine(np.ascontiguousarray(mask), matrix, (width, height), flags=cv2.INTER_NEAREST,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return image, mask.reshape(height, width, -1)


def turn(placed: np.ndarray, rng: np.random.Generator, max_degrees: float = 180.0,
         min_degrees: float = 0.0) -> np.ndarray:
    """A placed person (size, size, 5: RGB, mask, valid) turned about their centre by `min_degrees` to
    `max_degrees` either way: upside down, lying, mid-cartwheel. Where the turn brings in the outside
    of the photo, it is invalid, so a paste shows the background there."""
    rows, columns = np.nonzero(placed[..., 3] >= 0.5)
    if rows.size == 0:
        return placed
    size = placed.shape[0]
    degrees = rng.uniform(min_degrees, max_degrees) * rng.choice((-1.0, 1.0))
    matrix = cv2.getRotationMatrix2D((float(columns.mean()), float(rows.mean())), degrees, 1.0)
    parts = [cv2.warpAffine(np.ascontiguousarray(placed[..., i:j]), matrix, (size, size), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0)
             for i, j in ((0, 3), (3, 5))]  # warpAffine takes at most 4 channels
    return np.concatenate([part.reshape(size, size, -1) for part in parts], axis=-1)


def motion_kernel(rng: np.random.Generator, length: tuple[int, int] = MOTION_LENGTH) -> np.ndarray:
    """A normalised line kernel of random length (pixels) and direction: the blur of a moving subject or
    a panning camera."""
    side = int(rng.integers(length[0], length[1] + 1)) | 1  # odd: centred
    kernel = np.zeros((side, side), np.float32)
    angle = rng.uniform(0.0, np.pi)
    half = (side - 1) / 2.0
    start = (round(half - half * np.cos(angle)), round(half - half * np.sin(angle)))
    end = (round(half + half * np.cos(angle)), round(half + half * np.sin(angle)))
    cv2.line(kernel, start, end, 1.0, 1, lineType=cv2.LINE_AA)
    return kernel / kernel.sum()


def in_motion(placed: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A placed person blurred along one direction, colour and label alike (the label turns soft where
    the person smears over the background, as the alpha of a moving person does). The colour is blurred
    premultiplied by the person's alpha, so the photo the person came from does not smear in."""
    kernel = motion_kernel(rng)
    alpha = placed[..., 3] * placed[..., 4]
    smeared = np.clip(cv2.filter2D(alpha, -1, kernel, borderType=cv2.BORDER_CONSTANT), 0.0, 1.0)
    colour = cv2.filter2D(placed[..., :3] * alpha[..., None], -1, kernel, borderType=cv2.BORDER_CONSTANT)
    colour = colour / np.maximum(smeared, 1e-3)[..., None]
    out = placed.copy()
    out[..., :3] = np.where(smeared[..., None] > 1e-3, colour, placed[..., :3])
    out[..., 3] = smeared
    out[..., 4] = np.maximum(placed[..., 4], (smeared > 0).astype(np.float32))
    return out


def crowd(others: list[tuple[np.ndarray, np.ndarray]], size: int, rng: np.random.Generator) -> np.ndarray | None:
    """A backdrop of an audience, spectators or passers-by (size, size, 4) float32, RGB and the label of its
    people: photos of other people shrunk so that their people stand 10-30% of the frame tall, laid side by
    side in rows that fill the frame, and blurred as a background out of focus. None without a photo of
    people."""
    tiles = []
    for image, mask in others:
        rows = np.nonzero(mask.max(axis=1) >= 0.5)[0]
        if rows.size:
            factor = size * rng.uniform(*CROWD_SCALE) / (rows.max() - rows.min() + 1)
            height, width = (max(2, round(side * factor)) for side in image.shape[:2])
            labelled = np.concatenate([image.astype(np.float32), mask.astype(np.float32)[..., None]], axis=-1)
            tiles.append(_resize(labelled, height, width))
    if not tiles:
        return None
    backdrop = _resize(tiles[0], size, size)  # under the rows, where their tiles leave gaps
    top, index = -int(rng.integers(0, size // 4 + 1)), 0
    while top < size:
        left, row_height = -int(rng.integers(0, size // 3 + 1)), 0
        while left < size:
            tile = tiles[index % len(tiles)][:, ::-1] if rng.uniform() < 0.5 else tiles[index % len(tiles)]
            index += 1
            y0, x0 = max(0, top), max(0, left)
            y1, x1 = min(size, top + tile.shape[0]), min(size, left + tile.shape[1])
            if y1 > y0 and x1 > x0:
                backdrop[y0:y1, x0:x1] = tile[y0 - top:y1 - top, x0 - left:x1 - left]
            left += tile.shape[1]
            row_height = max(row_height, tile.shape[0])
        top += max(1, round(row_height * rng.uniform(0.5, 1.0)))  # rows overlap: those behind are hidden
    return cv2.GaussianBlur(backdrop, (0, 0), rng.uniform(*CROWD_BLUR))


class Composed(typing.NamedTuple):
    """A composed training sample: RGB (size, size, 3) and label (size, size, 1) float32, the label of the
    audience behind the person or the bystanders beside them (size, size, 1: background for the subject,
    people for everyone), and whether every person in the frame is in one of the two (the person was pasted
    onto a person-free photo, or the photo's bystanders were known: nobody unlabelled)."""

    rgb: np.ndarray
    label: np.ndarray
    audience: np.ndarray
    everyone_labelled: bool


def person_cutout(image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool] | None:
    """The photo and mask cropped to the person's bounding box, and whether the person is cut off at the
    photo's bottom edge (a portrait's shoulders); None for a person-free photo."""
    rows, columns = np.nonzero(mask >= SOFT_EDGE)
    if rows.size == 0:
        return None
    y0, y1, x0, x1 = rows.min(), rows.max() + 1, columns.min(), columns.max() + 1
    return image[y0:y1, x0:x1], mask[y0:y1, x0:x1], bool(y1 == mask.shape[0])


def _in_frame(top: int, left: int, height: int, width: int, size: int
              ) -> tuple[tuple[int, int, int, int], tuple[slice, slice]] | None:
    """Where a height x width piece placed at (top, left) overlaps a size x size frame: the frame's rows and
    columns (y0, y1, x0, x1) and the piece's part that lands there; None where it misses the frame."""
    y0, x0 = max(0, top), max(0, left)
    y1, x1 = min(size, top + height), min(size, left + width)
    if y1 <= y0 or x1 <= x0:
        return None
    return (y0, y1, x0, x1), (slice(y0 - top, y1 - top), slice(x0 - left, x1 - left))


def add_person(rgb: np.ndarray, label: np.ndarray, image: np.ndarray, mask: np.ndarray, scale: tuple[float, float],
               rng: np.random.Generator, across: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Paste one more person, cut out of another photo, into a placed sample (size, size): groups,
    people in front of people, people at other scales. The label is the union of both people.

    The person's height is `scale` of the frame; a person cut off at the bottom of their photo
    (a portrait) stays cut off at the bottom of the frame, as in real photos of groups. The edge is
    feathered, the colour pulled towards the spot it lands on, and the sharpness softened at random
    to match the scene (a sharp paste on a soft photo teaches "sharp = person"). By default the person
    lands at random, partly outside the frame at times; with `across` they stand inside the frame, their
    left edge at that share of the room beside them (0: at the frame's left edge, 1: at its right edge).
    """
    cutout = person_cutout(image, mask)
    if cutout is None:
        return rgb, label
    person, person_mask, cut_off = cutout
    size = rgb.shape[0]
    factor = min(size * rng.uniform(*scale) / person.shape[0], size / person.shape[1])  # never wider than the frame
    height, width = max(4, round(person.shape[0] * factor)), max(2, round(person.shape[1] * factor))
    person = _resize(person.astype(np.float32), height, width)
    alpha = cv2.resize(person_mask.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
    if rng.uniform() < 0.5:
        sigma = rng.uniform(0.3, 1.2)
        person = cv2.GaussianBlur(person, (0, 0), sigma)
    alpha = cv2.blur(alpha, (3, 3), borderType=cv2.BORDER_CONSTANT)
    if across is None:  # partly outside the frame at times
        top = size - height if cut_off else rng.integers(-height // 4, size - height // 2 + 1)
        left = rng.integers(-width // 3, size - 2 * width // 3 + 1)
    else:  # inside the frame
        top = size - height if cut_off else rng.integers(0, max(0, size - height) + 1)
        left = round(across * max(0, size - width))
    overlap = _in_frame(top, left, height, width, size)
    if overlap is None:
        return rgb, label
    (y0, y1, x0, x1), part = overlap
    person, alpha = person[part], alpha[part][..., None]
    spot = rgb[y0:y1, x0:x1]
    person_mean = (person * alpha).sum(axis=(0, 1)) / (alpha.sum() + 1e-3)
    person = person + (spot.mean(axis=(0, 1)) - person_mean) * rng.uniform(0.0, 0.3)
    rgb, label = rgb.copy(), label.copy()
    rgb[y0:y1, x0:x1] = alpha * person + (1.0 - alpha) * spot
    label[y0:y1, x0:x1] = np.maximum(label[y0:y1, x0:x1], alpha)  # the composite's own alpha: soft at the edge
    return np.clip(rgb, 0.0, 255.0), label


def flag(height: int, width: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A painted flag or banner, RGB (height, width, 3) float32 and its alpha (height, width): 2-13 stripes
    of two or three colours across or along it, in half of them a canton with rows of stars, waving."""
    painted = _stripes(height, width, rng)
    if rng.uniform() < 0.5:
        painted = _canton(painted, rng)
    return _waving(painted, rng)


def _stripes(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """2-13 stripes of two or three of `FLAG_COLOURS` in turn, across (most often) or along (height, width)."""
    colours = FLAG_COLOURS[rng.choice(len(FLAG_COLOURS), int(rng.integers(2, 4)), replace=False)]
    stripes = int(rng.integers(2, 14))
    across = rng.uniform() < 0.7
    along = np.arange(height if across else width)
    band = colours[(along * stripes // along.size) % len(colours)]
    return np.broadcast_to(band[:, None] if across else band[None], (height, width, 3)).copy()


def _canton(painted: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A canton in a top corner of the flag: a field of one colour with stars (dots) in staggered rows."""
    height, width = painted.shape[:2]
    ch, cw = max(2, round(height * rng.uniform(0.35, 0.55))), max(2, round(width * rng.uniform(0.3, 0.45)))
    painted[:ch, :cw] = FLAG_COLOURS[int(rng.integers(len(FLAG_COLOURS)))]
    step = max(3, round(min(ch, cw) / rng.uniform(3.0, 6.0)))
    star = FLAG_COLOURS[int(rng.integers(len(FLAG_COLOURS)))].tolist()
    for y in range(step // 2, ch, step):
        for x in range(step // 2 + (y // step % 2) * step // 2, cw, step):
            cv2.circle(painted, (x, y), max(1, step // 4), star, -1)
    return painted[:, ::-1].copy() if rng.uniform() < 0.5 else painted


def _waving(painted: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The flag waving: folds along its length shade it and bend it up and down; returns it and its alpha."""
    height, width = painted.shape[:2]
    period, phase = width * rng.uniform(0.3, 1.2), rng.uniform(0.0, 2.0 * np.pi)
    wave = np.sin(2.0 * np.pi * np.arange(width, dtype=np.float32) / period + phase)
    shaded = painted * (1.0 + rng.uniform(0.05, 0.35) * wave[None, :, None])
    bend = rng.uniform(0.0, 0.06) * height * wave
    map_x = np.broadcast_to(np.arange(width, dtype=np.float32)[None], (height, width))
    map_y = (np.arange(height, dtype=np.float32)[:, None] - bend[None]).astype(np.float32)
    shaded = cv2.remap(shaded, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    alpha = cv2.remap(np.ones((height, width), np.float32), map_x, map_y, cv2.INTER_LINEAR,
                      borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    return np.clip(shaded, 0.0, 255.0), alpha


def object_cutout(photo: np.ndarray, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A thing cut out of a person-free photo: RGB (h, w, 3) float32 and its alpha (h, w), feathered; its
    height `OBJECT_SCALE` of a size x size frame, its shape one of `OBJECT_SHAPES`; or, in `FLAG_SHARE` of
    them, a painted flag (`flag`)."""
    height = max(4, round(size * rng.uniform(*OBJECT_SCALE)))
    width = max(4, min(size, round(height * rng.uniform(*OBJECT_ASPECT))))
    thing, alpha = flag(height, width, rng) if rng.uniform() < FLAG_SHARE else _photo_piece(photo, height, width, rng)
    return thing, cv2.blur(alpha, (3, 3), borderType=cv2.BORDER_CONSTANT)


def _photo_piece(photo: np.ndarray, height: int, width: int, rng: np.random.Generator
                 ) -> tuple[np.ndarray, np.ndarray]:
    """A height x width piece of a person-free photo and its alpha (one of `OBJECT_SHAPES`, hard-edged)."""
    side = min(photo.shape[:2])
    crop_h = max(2, min(photo.shape[0], round(side * rng.uniform(*OBJECT_CROP))))
    crop_w = max(2, min(photo.shape[1], round(crop_h * width / height)))
    y, x = rng.integers(0, photo.shape[0] - crop_h + 1), rng.integers(0, photo.shape[1] - crop_w + 1)
    thing = _resize(photo[y:y + crop_h, x:x + crop_w].astype(np.float32), height, width)
    alpha = np.zeros((height, width), np.float32)
    shape = OBJECT_SHAPES[rng.integers(len(OBJECT_SHAPES))]
    if shape == "rectangle":
        alpha[:] = 1.0
    elif shape == "ellipse":
        cv2.ellipse(alpha, (width // 2, height // 2), (max(1, width // 2), max(1, height // 2)), 0.0, 0.0, 360.0,
                    1.0, -1)
    else:  # a star-shaped polygon about the centre: 5-9 corners at random radii
        corners = int(rng.integers(5, 10))
        angles = np.sort(rng.uniform(0.0, 2.0 * np.pi, corners))
        radii = rng.uniform(0.5, 1.0, corners)
        points = np.stack([width / 2.0 * (1.0 + radii * np.cos(angles)),
                           height / 2.0 * (1.0 + radii * np.sin(angles))], axis=-1)
        cv2.fillPoly(alpha, [np.round(points).astype(np.int32)], 1.0)
    return thing, alpha


def add_object(rgb: np.ndarray, label: np.ndarray, audience: np.ndarray, photo: np.ndarray,
               rng: np.random.Generator, valid: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Stand a thing cut out of a person-free photo (`object_cutout`) beside the people of a sample (size,
    size), overlapping their outline at times, behind them and in front of any audience; it is background.
    `valid` (size, size, 1): where the frame shows the photo, not the letterbox's padding (all of it by
    default); the thing stands only there. Returns the new RGB and audience label (the people's label is
    unchanged)."""
    size = rgb.shape[0]
    valid = np.ones((size, size, 1), np.float32) if valid is None else valid
    rows, columns = (np.nonzero(valid[..., 0].max(axis=axis) >= 0.5)[0] for axis in (1, 0))
    if rows.size == 0:
        return rgb, audience
    top_row, bottom_row, left_column, right_column = rows.min(), rows.max() + 1, columns.min(), columns.max() + 1
    thing, alpha = object_cutout(photo, int(bottom_row - top_row), rng)  # in proportion to the photo's part
    height, width = alpha.shape
    person = np.nonzero(label[..., 0].max(axis=0) >= 0.5)[0]
    if person.size:
        room_left, room_right = max(0, person.min() - left_column), max(0, right_column - 1 - person.max())
        on_left = rng.uniform() < (room_left / (room_left + room_right) if room_left + room_right else 0.5)
        room = room_left if on_left else room_right
        # Beside the person, up to 30% of it behind them; where the person fills the photo's width (a
        # portrait), more of it behind them, so that it shows beside the head and shoulders.
        behind = round(width * (rng.uniform(0.0, 0.3) if room >= 0.7 * width else rng.uniform(0.3, 0.9)))
        left = int(person.min() - width + behind) if on_left else int(person.max() + 1 - behind)
    else:
        left = int(rng.integers(left_column - width // 3, max(left_column, right_column - 2 * width // 3) + 1))
    top = int(rng.integers(top_row - height // 4, max(top_row, bottom_row - height // 2) + 1))
    overlap = _in_frame(top, left, height, width, size)
    if overlap is None:
        return rgb, audience
    (y0, y1, x0, x1), part = overlap
    thing, alpha = thing[part], alpha[part][..., None]
    if rng.uniform() < 0.5:  # as sharp or as soft as the scene
        thing = cv2.GaussianBlur(thing, (0, 0), rng.uniform(0.3, 1.2)).reshape(thing.shape)
    spot = rgb[y0:y1, x0:x1]
    visible = alpha * (1.0 - label[y0:y1, x0:x1]) * valid[y0:y1, x0:x1]  # behind the people, on the photo
    rgb, audience = rgb.copy(), audience.copy()
    rgb[y0:y1, x0:x1] = visible * thing + (1.0 - visible) * spot
    audience[y0:y1, x0:x1] *= 1.0 - visible  # in front of the audience
    return np.clip(rgb, 0.0, 255.0), audience


def quarter_turn(arrays: tuple[np.ndarray, ...], rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Square (size, size, C) arrays turned a quarter together, anticlockwise or clockwise at random: a
    photo of people standing becomes one of people lying across the frame, background and all."""
    k = int(rng.choice((1, 3)))  # numpy.rot90's k, the turns the service's turn look tries (model.segmenter)
    return tuple(np.ascontiguousarray(np.rot90(array, k, axes=(0, 1))) for array in arrays)


def _in_action(placed: np.ndarray, config: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """With `config.action_probability`, a person about to be pasted is turned (`turn`), and half of
    those are in motion (`in_motion`)."""
    if config.action_probability <= 0 or rng.uniform() >= config.action_probability:
        return placed
    placed = turn(placed, rng)
    return in_motion(placed, rng) if rng.uniform() < 0.5 else placed


def training_sample(image: np.ndarray, mask: np.ndarray, background: np.ndarray | None, config: AugmentConfig,
                    rng: np.random.Generator, others: list[tuple[np.ndarray, np.ndarray]] = ()
                    ) -> tuple[np.ndarray, np.ndarray]:
    """One augmented (image (size, size, 3), mask (size, size, 1)) float32 pair (`composed_sample`)."""
    sample = composed_sample(image, mask, background, config, rng, others)
    return sample.rgb, sample.label


def composed_sample(image: np.ndarray, mask: np.ndarray, background: np.ndarray | None, config: AugmentConfig,
                    rng: np.random.Generator, others: list[tuple[np.ndarray, np.ndarray]] = (),
                    bystanders: np.ndarray | None = None) -> Composed:
    """One augmented sample, with what a two-output network needs to know of it (`Composed`).

    Args:
        image, mask: the drawn pair (uint8 RGB; mask 0..1, soft where the label is).
        background: a person-free photo to paste the person onto with `config.paste_probability`.
        others: further (photo, mask) pairs with a person; with `config.audience_probability` all but the
            last become an audience behind the person (`crowd`: background, not in the label), and with
            `config.group_probability` the last one joins the person in front of it, in the label and
            taller than anyone of the audience (a group posing in front of a crowd); without an audience,
            with `config.group_probability` some of them are pasted in (`add_person`: in the label).
        bystanders: the people of the photo whom the mask leaves out (H, W, 0/1), where known; they come
            along where the photo is used whole (not pasted), as its audience.
    A pasted person is in action (turned, in motion) with `config.action_probability`; the whole sample is
    turned a quarter (`quarter_turn`) with `config.quarter_turn_probability`. With
    `config.object_probability`, a thing cut out of `background` stands beside the people (`add_object`).
    """
    backdrop = (crowd(others[:-1] or others, config.size, rng)  # the last one may join the subject
                if others and config.audience_probability > 0 and rng.uniform() < config.audience_probability
                else None)
    audience = np.zeros((config.size, config.size, 1), np.float32)
    valid = None  # where the frame shows the photo, not the letterbox's padding (None: all of it)
    everyone_labelled = False
    if backdrop is not None:
        placed = paste(_in_action(place(image, mask, config.size, AUDIENCE_SUBJECT_SCALE, rng), config, rng),
                       backdrop[..., :3], config.size, rng)
        audience = backdrop[..., 3:4] * (1.0 - placed[..., 3:4])  # hidden where the person stands in front
    elif background is not None and rng.uniform() < config.paste_probability:
        placed = paste(_in_action(place(image, mask, config.size, config.paste_scale, rng), config, rng),
                       background_crop(background, config, rng), config.size, rng)
        everyone_labelled = True
    else:
        placed = place(image, mask, config.size, config.photo_scale, rng, extra=bystanders)
        valid = placed[..., 4:5]
        if bystanders is not None:
            audience, everyone_labelled = placed[..., 5:6], True
        placed = placed[..., :4]
    rgb, label = placed[..., :3], placed[..., 3:4]
    grouped = others and config.group_probability > 0 and rng.uniform() < config.group_probability
    if grouped and backdrop is not None and len(others) > 1:
        scale = (CROWD_SCALE[1], max(CROWD_SCALE[1], config.group_scale[1]))  # taller than the audience
        rgb, label = add_person(rgb, label, *others[-1], scale, rng)
    elif grouped and backdrop is None:
        for other_image, other_mask in others[:rng.integers(1, len(others) + 1)]:
            rgb, label = add_person(rgb, label, other_image, other_mask, config.group_scale, rng)
    if background is not None and config.object_probability > 0 and rng.uniform() < config.object_probability:
        rgb, audience = add_object(rgb, label, audience, background, rng, valid)
    if config.enabled:
        rgb, labels = flip_and_rotate(rgb, np.concatenate([label, audience], axis=-1), config.max_rotation_degrees, rng)
        label, audience = labels[..., :1], labels[..., 1:]
        if config.quarter_turn_probability > 0 and rng.uniform() < config.quarter_turn_probability:
            rgb, label, audience = quarter_turn((rgb, label, audience), rng)
        rgb = photometric(rgb, config.grey_probability, rng)
    as_float = lambda array: np.ascontiguousarray(array, np.float32)
    return Composed(as_float(rgb), as_float(label), as_float(audience), everyone_labelled)
