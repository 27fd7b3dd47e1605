"""The pure pieces of the cutout pipeline: options, letterbox, refinement, composing, encoding."""

import io

import cv2
import numpy as np
import pytest
import skimage
from PIL import Image

from model import compose
from model.letterbox import canvas_shapes, fit, letterbox, nearest_shape, unletterbox
from model.pipeline import CutoutOptions, OptionError, encode, parse_colour, parse_options, render
from model.refine import (RADIUS, RADIUS_SHARE, SMALL_SHARE, SPECK_SHARE, WORK_SIDE, decisive, guided_alpha,
                          window_radius)
from model.subject import JOIN_SHARE, main_person


@pytest.mark.parametrize("text, colour", [("#ffffff", (255, 255, 255)), ("00ff7f", (0, 255, 127)),
                                          ("#abc", (170, 187, 204)), ("", None), ("transparent", None)])
def test_colours(text, colour):
    assert parse_colour(text) == colour


def test_options_defaults_and_errors():
    assert parse_options({}) == CutoutOptions()
    assert parse_options({"output": "MASK", "crop": "yes", "refine": "0"}) == CutoutOptions(
        output="mask", crop=True, refine=False)
    with pytest.raises(OptionError, match="crop must be true or false, got 'maybe'"):
        parse_options({"crop": "maybe"})
    assert parse_options({"people": "Main"}) == CutoutOptions(people="main")
    with pytest.raises(OptionError, match="people must be one of subject, all, main, got 'some'"):
        parse_options({"people": "some"})
    assert CutoutOptions().people == "subject" and CutoutOptions().network_output == "subject"
    assert CutoutOptions(people="all").network_output == "everyone"
    assert CutoutOptions(people="main").network_output == "subject"


def test_main_person_keeps_the_largest_person_and_what_is_close_to_it():
    alpha = np.zeros((400, 400), np.uint8)
    alpha[100:380, 100:200] = 255  # a body
    gap = round(JOIN_SHARE * 400) - 2
    alpha[40:100 - gap, 120:180] = 200  # a head that a faint neck (below 128) parts from it
    alpha[100 - gap:100, 140:160] = 60
    alpha[200:300, 300:340] = 255  # a passer-by, further away
    alpha[200:300, 296:300] = 90  # with a soft edge
    kept = main_person(alpha)
    assert np.array_equal(kept[:, :260], alpha[:, :260])  # body, head and neck, untouched
    assert kept[:, 260:].max() == 0  # the passer-by and its edge cleared
    one = np.zeros((50, 50), np.uint8)
    one[10:40, 10:40] = 255
    assert main_person(one) is one and not main_person(np.zeros((5, 5), np.uint8)).any()


def test_render_with_people_main():
    alpha = np.zeros((100, 100), np.uint8)
    alpha[10:90, 10:50], alpha[40:60, 80:95] = 255, 255
    rgb = np.full((100, 100, 3), 200, np.uint8)
    picture = render(rgb, alpha, CutoutOptions(people="main"))
    assert picture[..., 3][40:60, 80:95].max() == 0 and picture[..., 3][50, 30] == 255


@pytest.mark.parametrize("shape", [(300, 500), (500, 300), (64, 64), (1, 1)])
def test_letterbox_round_trip(shape):
    image = np.random.default_rng(0).integers(0, 256, (*shape, 3), dtype=np.uint8)
    canvas, placement = letterbox(image, 128)
    assert canvas.shape == (128, 128, 3)
    assert max(placement.scaled_height, placement.scaled_width) == 128
    assert canvas[placement.scaled_height:].max(initial=0) == 0  # padding below
    back = unletterbox(np.ones((128, 128), np.float32), placement)
    assert back.shape == shape


@pytest.mark.parametrize("side", [192, 320, 512])
def test_canvas_shapes_hold_about_the_squares_pixels_in_multiples_of_the_stride(side):
    shapes = canvas_shapes(side)
    assert shapes[0] == (side, side) and len(set(shapes)) == 7
    for height, width in shapes:
        assert height % 16 == 0 and width % 16 == 0
        assert 0.93 < height * width / side**2 < 1.07
        assert (width, height) in shapes  # every aspect upright and lying


@pytest.mark.parametrize(("photo", "canvas"), [((830, 550), (384, 256)), ((480, 360), (368, 272)),
                                               ((360, 480), (272, 368)), ((1080, 1920), (240, 432)),
                                               ((100, 100), (320, 320)), ((100, 1000), (240, 432))])
def test_a_photo_goes_into_the_canvas_nearest_its_aspect(photo, canvas):
    shape = nearest_shape(*photo, canvas_shapes(320))
    assert shape == canvas
    image = np.full((*photo, 3), 255, np.uint8)
    fitted, placement = fit(image, canvas_shapes(320))
    assert fitted.shape == (*canvas, 3)
    assert placement.scaled_height == canvas[0] or placement.scaled_width == canvas[1]  # it touches two sides
    assert unletterbox(np.ones(canvas, np.float32), placement).shape == photo


def test_refinement_snaps_a_blurry_edge_to_the_photo_edge():
    photo = np.zeros((600, WORK_SIDE, 3), np.uint8)  # at the reference side: a window of RADIUS pixels
    photo[:, 512:] = 255  # a sharp vertical edge at x = 512
    # A blurry guess, as a stride-4 prediction upsampled to the photo is.
    coarse = cv2.GaussianBlur((photo[..., 0] > 0).astype(np.float32), (0, 0), 4)
    alpha = guided_alpha(photo, coarse)
    assert alpha.shape == (600, WORK_SIDE) and alpha.dtype == np.float32
    assert 0.0 <= alpha.min() and alpha.max() <= 1.0
    steepest = lambda a: float(np.abs(np.diff(a[300])).max())
    assert steepest(coarse) < 0.11 and steepest(alpha) > 0.5  # the edge became a step
    assert int(np.abs(np.diff(alpha[300])).argmax()) == 511  # exactly where the photo's edge is


def test_refinement_is_the_same_at_any_photo_size():
    # The network sees every photo at one size, so the filter's window covers the same share of every photo:
    # a photo at half the size gets (within rounding) half the alpha, not a twice wider smoothing window.
    photo = skimage.data.astronaut()
    coarse = np.zeros(photo.shape[:2], np.float32)
    coarse[150:, 120:400] = 1.0
    coarse = cv2.GaussianBlur(coarse, (0, 0), 8)
    half = lambda a: cv2.resize(a, (256, 256), interpolation=cv2.INTER_AREA)
    # The filter alone (decisive alpha off): its window is what scales with the photo.
    difference = np.abs(half(guided_alpha(photo, coarse, decide_share=None))
                        - guided_alpha(half(photo), half(coarse), decide_share=None))
    assert float(difference.mean()) < 0.003 and float(np.percentile(difference, 99)) < 0.03  # a fixed radius: 0.015, 0.12
    assert window_radius(WORK_SIDE) == RADIUS and window_radius(WORK_SIDE // 4) == RADIUS // 4


def test_the_refinement_window_follows_the_persons_size():
    # A close-up's outline is followed over as much of the person as a full-length figure's: the window
    # grows with the person's size (the square root of their share of the photo), never below a pixel.
    assert window_radius(WORK_SIDE, 4 * RADIUS_SHARE) == 2 * RADIUS
    assert window_radius(WORK_SIDE, RADIUS_SHARE / 4) == RADIUS // 2
    assert window_radius(WORK_SIDE, 0.0) == 1


def test_refinement_keeps_small_people():
    # A flat photo gives the filter no edge to follow, so it averages the probability over its window: a
    # pedestrian 60 x 20 pixels of a 2000 x 1500 photo would fade below 0.5. Regions under SMALL_SHARE of
    # the photo keep at least the network's own probability; a large person is refined as before.
    photo = np.full((1500, 2000, 3), 120, np.uint8)
    probability = np.zeros((1500, 2000), np.float32)
    probability[700:760, 1500:1520] = 0.9  # the pedestrian: 0.04% of the photo
    probability[300:1400, 200:800] = 1.0  # someone large, 22%
    probability[100:108, 1800:1808] = 0.9  # a speck, as the network marks on textures now and then
    assert 8 * 8 < SPECK_SHARE * photo.size / 3 < 60 * 20 < SMALL_SHARE * photo.size / 3 < 1100 * 600
    probability = cv2.GaussianBlur(probability, (0, 0), 2)
    alpha = guided_alpha(photo, probability)
    pedestrian = (slice(705, 755), slice(1505, 1515))
    assert np.all(alpha[pedestrian] >= probability[pedestrian]) and alpha[pedestrian].min() > 0.5
    corner = (slice(295, 310), slice(195, 210))  # the large person's corner: averaged, not kept
    assert alpha[corner].mean() < probability[corner].mean() - 0.05
    assert alpha[100:108, 1800:1808].max() < 0.3  # the speck: averaged away


@pytest.mark.parametrize("shape", [(400, 600), (3000, 4000)])
def test_decisive_alpha_leaves_no_ghost_away_from_the_outline_and_keeps_the_soft_edge(shape):
    height, width = shape
    alpha = np.zeros(shape, np.float32)
    alpha[height // 4:3 * height // 4, width // 3:2 * width // 3] = 1.0
    alpha = cv2.GaussianBlur(alpha, (0, 0), max(1.0, height / 400))  # a soft outline, as hair or motion blur
    alpha[height // 2:height // 2 + 20, width // 2:width // 2 + 40] = 0.8  # unsure inside a sure person
    ghost = (slice(height // 20, height // 6), slice(3 * width // 4, 9 * width // 10))  # a flag, half-sure
    faint, firm = alpha.copy(), alpha.copy()
    faint[ghost], firm[ghost] = 0.35, 0.65
    edge_row, edge = height // 2, slice(width // 3 - 3, width // 3 + 3)
    margin = round(0.02 * np.hypot(height, width))  # beyond the band along the ghost's own outline
    for before, inside in ((faint, 0.0), (firm, 0.65)):
        after = decisive(before.copy())
        # A faint ghost goes; a firmer one, in a region the network is nowhere sure of, keeps its alpha: made
        # opaque it would be cut out whole (tests/test_shipped_model.py: the flag beside the astronaut).
        assert np.all(after[ghost][margin:-margin, margin:-margin] == inside)
        np.testing.assert_array_equal(after[edge_row, edge], before[edge_row, edge])  # the soft edge stays
        np.testing.assert_array_equal(after >= 0.5, before >= 0.5)  # thresholded, nothing changes
        assert np.all(after[height // 2 + 5, width // 2 + 5:width // 2 + 15] == 1.0), "sure person: opaque"


def test_person_box_and_crop():
    alpha = np.zeros((100, 200), np.uint8)
    alpha[20:60, 50:90] = 255
    top, left, bottom, right = compose.person_box(alpha)
    assert top < 20 and left < 50 and bottom > 60 and right > 90
    assert compose.person_box(np.zeros((5, 5), np.uint8)) is None


def test_render_modes():
    rgb = np.full((10, 10, 3), 200, np.uint8)
    alpha = np.zeros((10, 10), np.uint8)
    alpha[2:8, 2:8] = 255
    assert render(rgb, alpha, CutoutOptions()).shape == (10, 10, 4)
    assert render(rgb, alpha, CutoutOptions(output="mask")).shape == (10, 10)
    filled = render(rgb, alpha, CutoutOptions(background=(0, 0, 255)))
    assert filled.shape == (10, 10, 3) and tuple(filled[0, 0]) == (0, 0, 255) and tuple(filled[5, 5]) == (200,) * 3
    assert render(rgb, alpha, CutoutOptions(crop=True)).shape[:2] == (6, 6)


def test_encode_png_and_webp_keep_alpha():
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 3] = 255
    rgba[0, 0, 3] = 0
    for fmt in ("png", "webp"):
        with Image.open(io.BytesIO(encode(rgba, fmt))) as image:
            assert image.format == fmt.upper() and image.mode == "RGBA"
            assert np.asarray(image)[0, 0, 3] == 0


@pytest.mark.parametrize("shape, mode", [((37, 53), "L"), ((37, 53, 3), "RGB"), ((37, 53, 4), "RGBA")])
def test_png_is_lossless_and_keeps_channel_order(shape, mode):
    picture = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    if picture.ndim == 3:
        picture[0, 0, :3] = (255, 0, 0)  # red must come back red, not blue (OpenCV writes BGR)
    with Image.open(io.BytesIO(encode(picture, "png"))) as image:
        assert image.format == "PNG" and image.mode == mode
        assert np.array_equal(np.asarray(image), picture)


def test_blend_is_the_formula():
    rng = np.random.default_rng(2)
    rgb = rng.integers(0, 256, (64, 48, 3), dtype=np.uint8)
    alpha = rng.integers(0, 256, (64, 48), dtype=np.uint8)
    alpha[:8], alpha[-8:] = 0, 255
    colour = (10, 200, 130)
    filled = compose.blend(rgb, alpha, colour)
    a = alpha[..., None] / 255.0
    exact = rgb * a + np.array(colour) * (1.0 - a)
    assert filled.dtype == np.uint8 and np.abs(filled - exact).max() <= 1.0
    assert (filled[:8] == colour).all() and np.array_equal(filled[-8:], rgb[-8:])
    cropped = compose.blend(rgb[5:40, 3:30], alpha[5:40, 3:30], colour)  # views, as a crop passes them
    assert np.array_equal(cropped, filled[5:40, 3:30])


def _opencv_png(picture: np.ndarray) -> bytes:
    """The encoder the service used before model.png: OpenCV, zlib level 1, libpng's "up" filter."""
    if picture.ndim == 3:
        picture = cv2.cvtColor(picture, cv2.COLOR_RGBA2BGRA if picture.shape[2] == 4 else cv2.COLOR_RGB2BGR)
    ok, data = cv2.imencode(".png", picture, [cv2.IMWRITE_PNG_COMPRESSION, 1,
                                               cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_UP])
    assert ok
    return data.tobytes()


@pytest.mark.parametrize("output", ["cutout", "mask", "fill"])
def test_png_of_a_real_cutout_has_the_old_encoders_pixels_and_size(astronaut, output):
    alpha8 = np.zeros(astronaut.shape[:2], np.uint8)
    cv2.circle(alpha8, (250, 250), 180, 255, -1)
    alpha8 = cv2.GaussianBlur(alpha8, (0, 0), 3)  # soft edges, as refinement gives
    options = CutoutOptions(output="cutout" if output == "fill" else output,
                            background=(255, 255, 255) if output == "fill" else None)
    picture = render(astronaut, alpha8, options)
    new, old = encode(picture, "png"), _opencv_png(picture)
    decoded = {name: cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
               for name, data in (("new", new), ("old", old))}
    np.testing.assert_array_equal(decoded["new"], decoded["old"])  # OpenCV reads both: same pixels, same order
    with Image.open(io.BytesIO(new)) as image:
        image.verify()  # Pillow checks every chunk's CRC and the zlib stream
    with Image.open(io.BytesIO(new)) as image:
        np.testing.assert_array_equal(np.asarray(image), picture)
    assert len(new) <= 1.10 * len(old)
