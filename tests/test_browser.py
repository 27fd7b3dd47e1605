"""The upload page in a real browser (Debian's Chromium driven by Playwright) against the real app."""

from __future__ import annotations

import base64
import io
import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from werkzeug.serving import make_server

from app import create_app

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DOCS = Path(__file__).resolve().parents[1] / "docs"
UPLOAD_LIMIT = 1024 * 1024

playwright_api = pytest.importorskip("playwright.sync_api")
if not Path(CHROMIUM).exists():
    pytest.skip(f"no Chromium at {CHROMIUM}: `apt-get install -y chromium` (.ci/run does)", allow_module_level=True)


@pytest.fixture(scope="module")
def server(segmenter):
    app = create_app({"SEGMENTER": segmenter, "WARM_UP": False, "MAX_CONTENT_LENGTH": UPLOAD_LIMIT})
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-quic"])
        yield browser
        browser.close()


@pytest.fixture()
def page(browser, server):
    context = browser.new_context(viewport={"width": 1100, "height": 900}, accept_downloads=True)
    page = context.new_page()
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto(server + "/")
    yield page
    context.close()
    assert not [e for e in errors if "Failed to load resource" not in e], errors  # CSP violations show here


@pytest.fixture(scope="module")
def photo(tmp_path_factory, astronaut_jpeg) -> Path:
    path = tmp_path_factory.mktemp("upload") / "astronaut.jpg"
    path.write_bytes(astronaut_jpeg)
    return path


def preview_image(page) -> Image.Image:
    """The result the page shows, fetched from its blob URL inside the page."""
    page.wait_for_function("document.getElementById('preview').src.startsWith('blob:')")
    encoded = page.evaluate("""async () => {
        const blob = await (await fetch(document.getElementById('preview').src)).blob();
        const bytes = new Uint8Array(await blob.arrayBuffer());
        let text = ''; bytes.forEach((b) => text += String.fromCharCode(b));
        return btoa(text);
    }""")
    image = Image.open(io.BytesIO(base64.b64decode(encoded)))
    image.load()
    return image


def upload(page, path: Path) -> None:
    page.set_input_files("#image", str(path))


def test_upload_shows_the_cutout_and_downloads_it(page, photo, tmp_path):
    upload(page, photo)
    page.wait_for_selector("#result:not([hidden])")
    image = preview_image(page)
    assert image.format == "PNG" and image.mode == "RGBA" and image.size == (512, 512)
    alpha = np.asarray(image)[..., 3]
    assert alpha[:20, :20].max() < 30 and alpha[:20, -20:].max() < 30
    assert page.locator("#status").inner_text() == "Done."
    with page.expect_download() as info:
        page.click("#download")
    download = info.value
    assert download.suggested_filename == "astronaut-cutout.png"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert Image.open(saved).size == (512, 512)
    shot = (DOCS if os.environ.get("UPDATE_DOCS") else tmp_path) / "screenshot.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000


def test_colour_background_reruns_without_transparency(page, photo):
    upload(page, photo)
    assert preview_image(page).mode == "RGBA"
    old = page.eval_on_selector("#preview", "element => element.src")
    page.select_option("#background", "colour")  # white by default; the same photo runs again
    page.wait_for_function("(old) => document.getElementById('preview').src !== old", arg=old)
    image = preview_image(page)
    assert image.mode == "RGB"  # no alpha channel: the colour filled the background
    assert tuple(np.asarray(image)[5, 5]) == (255, 255, 255)


@pytest.mark.parametrize("name, data, message", [
    ("notes.jpg", b"this is a text file, not a photo\n" * 10, "not an image"),
    ("huge.png", None, "larger than the limit"),
])
def test_errors_are_shown_on_the_page(page, tmp_path, name, data, message):
    path = tmp_path / name
    if data is None:  # noise does not compress: a PNG well over the upload limit
        noise = np.random.default_rng(0).integers(0, 256, (800, 800, 3), dtype=np.uint8)
        Image.fromarray(noise).save(path)
        assert path.stat().st_size > UPLOAD_LIMIT
    else:
        path.write_bytes(data)
    upload(page, path)
    page.wait_for_selector("#status.error")
    assert message in page.locator("#status").inner_text()
    assert page.locator("#result").is_hidden()


def test_page_is_keyboard_accessible(page):
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "image"
    for element_id in ("image", "background", "bg", "crop", "mask", "refine"):
        assert page.locator(f"label[for='{element_id}']").count() == 1
