"""model.decode on real photos in awkward modes and on hostile files."""

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from model.decode import ImageTooLarge, UnreadableImage, UnsupportedFormat, decode
from tests.conftest import encode
from tests.formats import jpeg_declaring, png_declaring, save, variants

LIMIT = 40_000_000


@pytest.mark.parametrize("name", sorted(variants(np.zeros((8, 8, 3), np.uint8))))
def test_every_mode_decodes_to_upright_rgb(astronaut, name):
    rgb = decode(variants(astronaut)[name], LIMIT)
    assert rgb.dtype == np.uint8 and rgb.shape == (512, 512, 3)
    # The first frame, in its own colours: close to the photo (lossy formats and palettes aside).
    assert np.abs(rgb.astype(int).mean(axis=(0, 1)) - astronaut.mean(axis=(0, 1))).max() < 25 or "grey" in name


def test_sixteen_bit_is_scaled_not_clipped(astronaut):
    rgb = decode(variants(astronaut)["grey16.png"], LIMIT)
    grey = np.asarray(Image.fromarray(astronaut).convert("L"))
    assert np.abs(rgb[..., 0].astype(int) - grey).max() <= 1


def test_exif_orientation(astronaut):
    exif = Image.Exif()
    exif[0x0112] = 6
    rgb = decode(encode(np.ascontiguousarray(astronaut[:, :300]), "JPEG", exif=exif.tobytes()), LIMIT)
    assert rgb.shape == (300, 512, 3)


@pytest.mark.parametrize("size", [(1, 1), (2, 2)])
def test_tiny_images(size):
    assert decode(save(Image.new("RGB", size, (10, 20, 30)), "PNG"), LIMIT).shape == (size[1], size[0], 3)


def test_truncated_files_are_unreadable(astronaut):
    for data in (encode(astronaut, "JPEG"), encode(astronaut, "PNG")):
        with pytest.raises(UnreadableImage):
            decode(data[: len(data) // 2], LIMIT)


def test_bombs_are_refused_before_decoding(astronaut):
    with pytest.raises(ImageTooLarge, match="pixels"):
        decode(png_declaring(30000, 30000), LIMIT)
    with pytest.raises(ImageTooLarge, match="pixels"):
        decode(jpeg_declaring(astronaut, 60000, 60000), LIMIT)


@pytest.mark.parametrize("data, error", [
    (b"", UnreadableImage),
    (b"<html><body>not a photo</body></html>", UnreadableImage),
    (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', UnsupportedFormat),
    (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", UnsupportedFormat),
])
def test_not_images(data, error):
    with pytest.raises(error):
        decode(data, LIMIT)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_jpeg_fast_path_gives_pillows_pixels_for_every_exif_orientation(astronaut, orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(np.ascontiguousarray(astronaut[:, :300]), "JPEG", exif=exif.tobytes())
    with Image.open(io.BytesIO(data)) as image:
        expected = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
    rgb = decode(data, LIMIT)
    assert rgb.flags.c_contiguous and rgb.shape == expected.shape
    np.testing.assert_array_equal(rgb, expected)


FINDINGS = Path(__file__).resolve().parent / "data" / "fuzz"


@pytest.mark.parametrize("name", sorted(p.name for p in FINDINGS.iterdir()))
def test_what_the_fuzzer_found_is_a_clear_400(name, client):
    # Each file is one that tests/fuzz.py found (its TARGET/crash-* output), kept as it was found.
    data = (FINDINGS / name).read_bytes()
    with pytest.raises(UnreadableImage) as raised:
        decode(data, LIMIT)
    assert "\n" not in str(raised.value)
    from tests.conftest import post_image

    response = post_image(client, data, name)
    assert response.status_code == 400 and response.get_json()["error"] == str(raised.value)
