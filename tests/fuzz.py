"""Coverage-guided fuzzing (atheris, libFuzzer) of what parses an upload:
`python -m tests.fuzz TARGET [--seconds N] [--work DIR] [libFuzzer flags ...]`.

Targets:
    decode    bytes -> `model.decode.decode`: upright RGB uint8 pixels, or the one documented error (ImageError)
    options   form fields -> `model.pipeline.parse_options`: CutoutOptions, or OptionError
    request   a multipart body and a query string -> POST /api/remove through the real Flask app and the
              shipped model: never a 500, always the JSON error shape

The seed corpus is made here from real photos (scikit-image's public-domain astronaut and coffee, in every
format and mode the service reads) and the odd files of the tests (truncated, bombs, formats it does not
read). The corpus grows in DIR/TARGET/ (default ../runs/fuzz, outside the work tree), so a later run goes on
from what an earlier one found; a finding is written as DIR/TARGET/crash-* and the run fails.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np

TARGETS = ("decode", "options", "request")
MAX_PIXELS = 4_000_000  # larger photos are refused before decoding, as the service refuses over MAX_MEGAPIXELS
DEFAULT_WORK = Path(__file__).resolve().parents[2] / "runs" / "fuzz"
OPTION_NAMES = ("output", "bg", "crop", "refine", "format", "people", "image", "")


def seeds(target: str) -> list[bytes]:
    """The seed corpus of a target: real photos and odd files (options: typical form values)."""
    from PIL import Image
    from skimage import data as skdata

    from tests.formats import jpeg_declaring, png_declaring, variants

    if target == "options":
        return [b"output=mask&bg=%23ffffff&crop=1", b"people=main&format=webp&refine=off", b"bg=fff", b""]
    small = np.asarray(Image.fromarray(skdata.astronaut()).resize((48, 48)))
    coffee = np.asarray(Image.fromarray(skdata.coffee()).resize((40, 30)))
    files = list(variants(small).values())
    for photo in (small, coffee):
        for fmt in ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "TGA", "PPM", "ICO"):
            buffer = io.BytesIO()
            Image.fromarray(photo).save(buffer, format=fmt)
            files.append(buffer.getvalue())
    jpeg = files[len(variants(small))]  # the astronaut's JPEG
    files += [jpeg[: len(jpeg) // 2], png_declaring(30000, 30000), jpeg_declaring(small, 60000, 60000),
              b'<svg xmlns="http://www.w3.org/2000/svg"/>', b"\x00\x00\x00\x18ftypheic" + b"\x00" * 32, b"", b"text"]
    if target == "request":  # the body is the upload; the fuzzer also mutates the query and the form
        return [b"output=mask\n" + data for data in files[:8]] + [b"\n" + data for data in files]
    return files


def check_decode(data: bytes) -> None:
    from model.decode import ImageError, decode

    try:
        rgb = decode(data, MAX_PIXELS)
    except ImageError as error:
        _one_line(str(error))
        return
    assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3 and rgb.flags["C_CONTIGUOUS"], rgb.shape
    assert 0 < rgb.shape[0] * rgb.shape[1] <= MAX_PIXELS


def check_options(data: bytes) -> None:
    from urllib.parse import parse_qsl

    from model.pipeline import CutoutOptions, OptionError, parse_options

    fields = dict(parse_qsl(data.decode("utf-8", "replace"), keep_blank_values=True))
    try:
        options = parse_options(fields)
    except OptionError as error:
        _one_line(str(error))
        return
    assert isinstance(options, CutoutOptions) and options.mimetype in ("image/png", "image/webp")


class RequestTarget:
    """POST /api/remove through the real app: the first line of the input is the query string, the rest
    the uploaded file; the app answers every one in its JSON error shape or with the picture, never 500."""

    def __init__(self):
        from app import create_app
        from model import SHIPPED_MODEL
        from model.segmenter import get_segmenter

        segmenter = get_segmenter(str(SHIPPED_MODEL))
        self.client = create_app({"SEGMENTER": segmenter, "WARM_UP": False, "MAX_PIXELS": MAX_PIXELS}).test_client()

    def __call__(self, data: bytes) -> None:
        from werkzeug.datastructures import FileStorage
        from werkzeug.test import encode_multipart

        query, _, upload = data.partition(b"\n")
        boundary, body = encode_multipart({"image": FileStorage(io.BytesIO(upload), filename="fuzz.jpg")})
        response = self.client.post("/api/remove?" + query.decode("latin-1"), data=body,
                                    content_type=f"multipart/form-data; boundary={boundary}")
        with response:
            assert response.status_code in (200, 400, 413, 415), (response.status_code, response.data[:200])
            if response.status_code == 200:
                assert response.mimetype in ("image/png", "image/webp")
            else:
                _one_line(response.get_json()["error"])


def _one_line(message: str) -> None:
    assert message and "\n" not in message and "Traceback" not in message, message


def main(argv: list[str] | None = None) -> int:
    """Entry point: fuzz one target for --seconds; libFuzzer's own flags pass through."""
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", choices=TARGETS)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="corpus and findings: WORK/TARGET/")
    args, libfuzzer = parser.parse_known_args(argv)
    import atheris

    with atheris.instrument_imports(include=["model", "app", "PIL", "werkzeug", "flask"]):
        import app  # noqa: F401  (instrumented: imported here first, before the seeds need Pillow)
        import model.decode  # noqa: F401
        import model.pipeline  # noqa: F401
    folder = args.work / args.target
    corpus = folder / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for index, seed in enumerate(seeds(args.target)):
        (corpus / f"seed-{index:03d}").write_bytes(seed)
    check = {"decode": check_decode, "options": check_options}.get(args.target) or RequestTarget()
    atheris.Setup([sys.argv[0], *libfuzzer, f"-max_total_time={args.seconds}", f"-artifact_prefix={folder}/",
                   "-max_len=65536", "-rss_limit_mb=4096", str(corpus)], check)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main())
