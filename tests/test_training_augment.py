"""The training augmentation: every step keeps the mask on the person, and each option does what it says."""

import cv2
import numpy as np
import pytest
from skimage import data as skdata

from training import augment
from training.augment import add_person, training_sample
from training.config import AugmentConfig

RED, BLUE = (230, 0, 0), (20, 40, 220)


def _colourful_pair() -> tuple[np.ndarray, np.ndarray]:
    """A red photo with a blue "person" rectangle and its 0/1 mask."""
    image = np.zeros((90, 70, 3), np.uint8)
    image[:] = RED
    image[20:70, 20:50] = BLUE
    mask = np.zeros((90, 70), np.uint8)
    mask[20:70, 20:50] = 1
    return image, mask


def _samples(config: AugmentConfig, background: np.ndarray | None = None, count: int = 8, seed: int = 3):
    image, mask = _colourful_pair()
    rng = np.random.default_rng(seed)
    return [training_sample(image, mask, background, config, rng) for _ in range(count)]


@pytest.mark.parametrize("action", [0.0, 1.0])
def test_samples_have_the_training_shape_and_range_and_a_hard_label_stays_hard_unless_moved(action):
    config = AugmentConfig(size=64, paste_probability=0.5, action_probability=action, audience_probability=0.0)
    soft = 0
    for rgb, label in _samples(config, np.full((80, 80, 3), 128, np.uint8), count=12):
        assert rgb.shape == (64, 64, 3) and label.shape == (64, 64, 1)
        assert rgb.dtype == label.dtype == np.float32
        assert 0.0 <= rgb.min() and rgb.max() <= 255.0
        assert 0.0 <= label.min() and label.max() <= 1.0
        soft += not set(np.unique(label)) <= {0.0, 1.0}
    # Only motion blur (half the people in action) softens a hard label here.
    assert (soft > 0) if action else (soft == 0)


def test_the_mask_follows_the_person_through_scaling_flips_and_rotation():
    for rgb, label in _samples(AugmentConfig(size=64, grey_probability=0.0), count=12):
        # Two pixels in from the edge, where interpolation and blur mix the colours; no black padding.
        core = lambda region: cv2.erode(region.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        photo = rgb.sum(axis=-1) > 60
        inside, outside = core(label[..., 0] > 0.5) & photo, core(label[..., 0] < 0.5) & photo
        assert inside.sum() > 20
        assert np.mean(rgb[inside][:, 2] > rgb[inside][:, 0]) > 0.9, "blue under the mask"
        assert np.mean(rgb[outside][:, 0] > rgb[outside][:, 2]) > 0.9, "red outside it"


@pytest.mark.parametrize("grey, coloured", [(0.0, True), (1.0, False)])
def test_grey_probability_turns_samples_black_and_white(grey, coloured):
    spreads = [float(np.mean(np.abs(rgb[..., 0] - rgb[..., 1])))
               for rgb, _ in _samples(AugmentConfig(size=64, grey_probability=grey))]
    # Sensor noise (sigma <= 6) comes after the grey step, so grey channels differ by a few levels only.
    assert (min(spreads) > 30.0) if coloured else (max(spreads) < 8.0)


def test_paste_scale_sets_the_size_of_pasted_people():
    background = np.full((80, 80, 3), 128, np.uint8)
    areas = {scale: np.mean([label.mean() for _, label in _samples(
        AugmentConfig(size=64, paste_probability=1.0, paste_scale=(scale, scale)), background, seed=4)])
        for scale in (0.15, 1.0)}
    assert 0 < areas[0.15] < 0.05 * areas[1.0]


def test_photo_scale_above_one_zooms_into_the_photo():
    image, mask = np.full((90, 70, 3), 200, np.uint8), np.ones((90, 70), np.uint8)
    filled = {}
    for scale in (1.0, 3.0):
        rng = np.random.default_rng(5)
        config = AugmentConfig(size=64, paste_probability=0.0, photo_scale=(scale, scale))
        filled[scale] = np.mean([training_sample(image, mask, None, config, rng)[1].mean() for _ in range(8)])
    assert filled[1.0] < 0.8 and filled[3.0] > 0.88


def test_augmentation_off_only_fits_the_photo_into_the_frame():
    image, mask = _colourful_pair()
    rgb, label = training_sample(image, mask, None, AugmentConfig.off(64), np.random.default_rng(0))
    # 90x70 fitted into 64: a 64x50 block of photo, black padding beside it, colours untouched.
    photo_columns = np.flatnonzero(rgb.sum(axis=(0, 2)) > 0)
    assert len(photo_columns) == 50 and np.ptp(photo_columns) == 49
    assert rgb[..., 0].max() == pytest.approx(230, abs=0.01)
    assert label.mean() == pytest.approx((50 * 30) / (90 * 70) * 50 / 64, rel=0.05)


def _green_person(height: int = 60, width: int = 20, cut_off: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """A green "person" on a grey photo; with `cut_off` the person runs off the photo's bottom edge."""
    image = np.full((80, 40, 3), 128, np.uint8)
    mask = np.zeros((80, 40), np.uint8)
    bottom = 80 if cut_off else 10 + height
    image[10:bottom, 10:10 + width] = (0, 220, 0)
    mask[10:bottom, 10:10 + width] = 1
    return image, mask


def test_a_further_person_adds_to_the_label_where_it_lands_and_keeps_the_first():
    rgb, label = np.full((64, 64, 3), 50.0, np.float32), np.zeros((64, 64, 1), np.float32)
    label[:, :4] = 1.0  # the first person, at the left edge
    for seed in range(6):
        new_rgb, new_label = add_person(rgb, label, *_green_person(), (0.5, 0.5), np.random.default_rng(seed))
        added = (new_label[..., 0] > 0) & (label[..., 0] == 0)
        assert new_label[:, :4].min() == 1.0, "the first person stays in the label"
        assert 40 < added.sum() < 64 * 33, "the second person's area: 32 px tall, about 11 px wide"
        inside = cv2.erode(added.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        assert np.mean(new_rgb[inside][:, 1] > new_rgb[inside][:, 0] + 50) > 0.9, "green under the new label"
        assert 0.0 <= new_label.min() and new_label.max() <= 1.0  # the feathered edge is soft, as composed


def test_a_person_cut_off_at_the_bottom_of_the_photo_stays_at_the_bottom_of_the_frame():
    rgb, label = np.full((64, 64, 3), 50.0, np.float32), np.zeros((64, 64, 1), np.float32)
    for seed in range(6):
        _, new_label = add_person(rgb, label, *_green_person(cut_off=True), (0.4, 0.4), np.random.default_rng(seed))
        rows = np.flatnonzero(new_label[..., 0].any(axis=1))
        assert rows.max() == 63 and rows.min() >= 64 - 27


def test_a_person_free_photo_adds_no_one():
    rgb, label = np.full((64, 64, 3), 50.0, np.float32), np.zeros((64, 64, 1), np.float32)
    image, mask = np.full((30, 30, 3), 200, np.uint8), np.zeros((30, 30), np.uint8)
    new_rgb, new_label = add_person(rgb, label, image, mask, (0.5, 0.5), np.random.default_rng(0))
    assert not new_label.any() and np.array_equal(new_rgb, rgb)


@pytest.mark.parametrize("group, grows", [(0.0, False), (1.0, True)])
def test_group_probability_pastes_further_people_into_the_samples(group, grows):
    image, mask = _colourful_pair()
    config = AugmentConfig(size=64, paste_probability=0.0, group_probability=group, group_scale=(0.5, 0.5),
                           audience_probability=0.0)
    others = [_green_person(), _green_person()]
    areas = {}
    for name, extra in (("alone", []), ("with", others)):
        rng = np.random.default_rng(9)
        areas[name] = np.mean([training_sample(image, mask, None, config, rng, extra)[1].mean() for _ in range(8)])
    assert (areas["with"] > areas["alone"] + 0.02) if grows else (areas["with"] == areas["alone"])


def _placed_tall_person(size: int = 64) -> np.ndarray:
    """A placed sample (RGB, mask, valid): a blue person 40 px tall, 10 px wide, with a green head
    (the top 8 rows), in the middle of red."""
    placed = np.zeros((size, size, 5), np.float32)
    placed[..., :3], placed[..., 4] = RED, 1.0
    placed[12:52, 27:37, :3], placed[12:52, 27:37, 3] = BLUE, 1.0
    placed[12:20, 27:37, :3] = (0, 220, 0)
    return placed


def test_a_turned_person_lies_or_stands_on_their_head_and_the_label_turns_with_them():
    for seed in range(6):
        turned = augment.turn(_placed_tall_person(), np.random.default_rng(seed), 180.0, 80.0)
        person = turned[..., 3] > 0.99
        head = person & (turned[..., 1] > 150)
        rows = np.nonzero(person)[0]
        # Upright, the head's centre is 16 px above the person's; turned by 80 degrees or more, at most 3 px.
        assert np.nonzero(head)[0].mean() > rows.mean() - 3.5, "lying or upside down"
        body = person & ~head
        assert np.mean(turned[body][:, 2] > turned[body][:, 0]) > 0.95, "blue under the label"
        assert turned[..., 3].sum() == pytest.approx(400, rel=0.1), "the same person, not scaled"


def test_a_person_in_motion_smears_colour_and_label_alike():
    placed = _placed_tall_person()
    moved = augment.in_motion(placed, np.random.default_rng(2))
    soft = (moved[..., 3] > 0.05) & (moved[..., 3] < 0.95)
    assert soft.sum() > 40, "the outline turns soft"
    assert moved[..., 3].sum() == pytest.approx(placed[..., 3].sum(), rel=0.05), "the blur keeps the person's mass"
    # Premultiplied: wherever the person smears, their colour is the person's (blue, green), not the red photo's.
    assert moved[soft][:, 0].max() < 30


def test_people_of_an_audience_fill_the_backdrop_and_stay_background():
    image, mask = _colourful_pair()  # the subject: blue
    config = AugmentConfig(size=64, paste_probability=0.0, audience_probability=1.0, action_probability=0.0,
                           group_probability=0.0, grey_probability=0.0)  # no group in front of them
    rng = np.random.default_rng(4)
    for _ in range(6):
        rgb, label = training_sample(image, mask, None, config, rng, [_green_person(), _green_person()])
        green = (rgb[..., 1] > rgb[..., 0] + 60) & (rgb[..., 1] > rgb[..., 2] + 60)
        assert green.sum() > 30, "the audience is there"
        assert np.mean(label[..., 0][green] >= 0.5) < 0.02, "and not in the label (but where the edges blend)"
        person = label[..., 0] > 0.5
        core = cv2.erode(person.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0  # in from the feathered edge
        assert person.mean() > 0.1 and np.mean(rgb[core][:, 2] > rgb[core][:, 1]) > 0.9, "the subject is"


def test_a_group_in_front_of_an_audience_stays_in_the_label_and_stands_taller_than_the_audience():
    image, mask = _colourful_pair()  # the subject: blue
    member = _green_person()
    member[0][member[1] > 0] = (220, 0, 220)  # the group's second person: magenta
    config = AugmentConfig(size=64, paste_probability=0.0, audience_probability=1.0, group_probability=1.0,
                           action_probability=0.0, grey_probability=0.0)
    rng = np.random.default_rng(5)
    seen = 0
    for _ in range(8):
        rgb, label = training_sample(image, mask, None, config, rng, [_green_person(), _green_person(), member])
        green = (rgb[..., 1] > rgb[..., 0] + 60) & (rgb[..., 1] > rgb[..., 2] + 60)
        magenta = (rgb[..., 0] > rgb[..., 1] + 60) & (rgb[..., 2] > rgb[..., 1] + 60)
        assert np.mean(label[..., 0][green] >= 0.5) < 0.02, "the audience stays background"
        if magenta.sum() > 20:
            seen += 1
            assert np.mean(label[..., 0][magenta] >= 0.5) > 0.8, "the group's second person is in the label"
            rows = np.nonzero(magenta.any(axis=1))[0]
            assert rows.max() - rows.min() + 1 > 0.3 * 64 * 0.8 or rows.max() == 63 or rows.min() == 0, \
                "and taller than anyone of the audience, unless the frame cuts them"
    assert seen >= 4


def test_the_audience_is_out_of_focus():
    rng = np.random.default_rng(1)
    for _ in range(4):
        backdrop = augment.crowd([_green_person(60)], 64, rng)
        edges = np.abs(np.diff(backdrop[..., 1], axis=1))
        assert edges.max() < 150, "no sharp edge: the green person on grey steps by 92 levels when sharp"


def test_the_crowd_covers_the_frame():
    backdrop = augment.crowd([_green_person(), _green_person(30)], 64, np.random.default_rng(0))
    assert backdrop.shape == (64, 64, 4) and np.all(backdrop[..., :3].max(axis=-1) > 20)
    large = augment.crowd([_green_person(), _green_person(30)], 256, np.random.default_rng(0))
    green = large[..., 1] - large[..., 0] > 150  # the people's middles, where the blur leaves them green
    grey = large[..., 1] - large[..., 0] < 10
    assert green.any() and np.mean(large[..., 3][green] >= 0.5) > 0.9, "its people carry their label along"
    assert np.mean(large[..., 3][grey] < 0.5) > 0.9
    assert augment.crowd([(np.full((20, 20, 3), 9, np.uint8), np.zeros((20, 20), np.float32))], 64,
                         np.random.default_rng(0)) is None, "no one to make an audience of"


def test_a_soft_label_stays_soft_through_placement():
    image, _ = _colourful_pair()
    soft = np.zeros((90, 70), np.float32)
    soft[20:70, 20:50] = 0.6
    config = AugmentConfig(size=64, paste_probability=0.0, group_probability=0.0, action_probability=0.0,
                           audience_probability=0.0)
    _, label = training_sample(image, soft, None, config, np.random.default_rng(1))
    assert label.max() == pytest.approx(0.6) and set(np.unique(label)) <= {0.0, np.float32(0.6)}


def _astronaut_sample(size: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """The astronaut photo fitted into the frame, and a person label: the middle third of the frame."""
    rgb = cv2.resize(skdata.astronaut(), (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)
    label = np.zeros((size, size, 1), np.float32)
    label[size // 4:, size // 3:2 * size // 3] = 1.0
    return rgb, label


def test_a_thing_beside_the_person_is_background_behind_them_and_in_front_of_the_audience():
    rgb, label = _astronaut_sample()
    person = label[..., 0] == 1.0
    shares = []
    for seed in range(12):
        audience = np.ones_like(label)
        new_rgb, new_audience = augment.add_object(rgb, label, audience, skdata.coffee(),
                                                   np.random.default_rng(seed))
        changed = np.abs(new_rgb - rgb).max(axis=-1) > 1.0
        assert changed.any(), "a thing stands in the frame"
        assert not changed[person].any(), "the person stays in front of it"
        assert (new_audience <= audience).all() and (new_audience[..., 0] < 0.5).any(), "it hides the audience"
        # Beside the person: some of it in the columns left or right of theirs.
        columns = np.nonzero(changed.any(axis=0))[0]
        assert columns.min() < 128 // 3 or columns.max() >= 2 * 128 // 3
        shares.append(changed.mean())
    assert np.mean(shares) > 0.1, "things of a tenth of the frame or more, on average"


def test_object_probability_puts_things_beside_people_and_leaves_the_label_alone():
    image, mask = _colourful_pair()
    samples = [augment.composed_sample(image, mask, skdata.coffee(),
                                       AugmentConfig(size=64, paste_probability=0.0, group_probability=0.0,
                                                     object_probability=probability, enabled=False),
                                       np.random.default_rng(5))
               for probability in (0.0, 1.0)]
    assert np.array_equal(samples[0].label, samples[1].label)
    outside = samples[0].label[..., 0] < 0.5
    differs = np.abs(samples[0].rgb - samples[1].rgb).max(axis=-1) > 1.0
    assert differs[outside].any() and not differs[~outside].any()


def test_a_flag_is_striped_and_waves():
    rng = np.random.default_rng(7)
    for _ in range(10):
        painted, alpha = augment.flag(90, 120, rng)
        assert painted.shape == (90, 120, 3) and alpha.shape == (90, 120)
        assert 0.0 <= painted.min() and painted.max() <= 255.0 and 0.0 <= alpha.min() and alpha.max() <= 1.0
        # Stripes: the colour changes from band to band along the middle row or column, shading aside.
        middle = [painted[45, :, :], painted[:, 60, :]]
        assert max(int((np.abs(np.diff(line, axis=0)).max(axis=-1) > 40).sum()) for line in middle) >= 1
        assert alpha.mean() > 0.8, "it fills most of its box; the waving bends its top and bottom edges"


def test_a_share_of_the_things_are_painted_flags_not_pieces_of_the_photo(monkeypatch):
    black = np.zeros((100, 150, 3), np.uint8)
    for share, coloured in ((0.0, False), (1.0, True)):
        monkeypatch.setattr(augment, "FLAG_SHARE", share)
        thing, _ = augment.object_cutout(black, 64, np.random.default_rng(2))
        assert (thing.max() > 30) == coloured


@pytest.mark.parametrize("share, lying", [(0.0, False), (1.0, True)])
def test_quarter_turn_probability_lays_the_whole_photo_across_the_frame_label_and_all(share, lying):
    config = AugmentConfig(size=64, paste_probability=0.0, group_probability=0.0, grey_probability=0.0,
                           photo_scale=(1.0, 1.0), max_rotation_degrees=0.0, quarter_turn_probability=share)
    for rgb, label in _samples(config, count=6):
        rows, columns = np.nonzero(label[..., 0] > 0.5)
        height, width = np.ptp(rows) + 1, np.ptp(columns) + 1
        assert (width > 1.3 * height) if lying else (height > 1.3 * width), (height, width)
        inside = cv2.erode((label[..., 0] > 0.5).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        assert np.mean(rgb[inside][:, 2] > rgb[inside][:, 0]) > 0.9, "the photo turned with its label"


def test_a_quarter_turn_goes_either_way_and_turns_every_array_alike():
    photo = np.arange(4 * 4 * 3, dtype=np.float32).reshape(4, 4, 3)
    label = photo[..., :1] / photo.max()
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(20):
        turned_photo, turned_label = augment.quarter_turn((photo, label), rng)
        k = next(k for k in (1, 3) if np.array_equal(turned_photo, np.rot90(photo, k)))
        assert np.array_equal(turned_label, np.rot90(label, k))
        seen.add(k)
    assert seen == {1, 3}
