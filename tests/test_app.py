"""The web app through create_app: form page, /api/remove on a real photo, options, errors, health."""

from __future__ import annotations

import hashlib
import io
import threading
import time

import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

from app import create_app
from model import SHIPPED_MODEL
from tests.conftest import decode_png, encode, post_image as post
from training.guards import SMALL_PERSON


def test_form_page_works_without_javascript(client):
    page = client.get("/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert '<form id="upload" action="/api/remove" method="post" enctype="multipart/form-data">' in html
    assert 'name="image" type="file"' in html and 'type="submit"' in html


def test_cutout_of_the_astronaut(client, astronaut, astronaut_jpeg):
    response = post(client, astronaut_jpeg)
    assert response.status_code == 200
    assert response.mimetype == "image/png"
    assert response.headers["Content-Disposition"] == 'attachment; filename="astronaut-cutout.png"'
    image = decode_png(response.data)
    assert image.mode == "RGBA" and image.size == (512, 512)
    alpha = np.asarray(image)[..., 3]
    # Top corners: background, mostly. The second look at large people takes in more of the flag beside
    # her (136 and 66; without it 42 and 19): the model card's known limits.
    assert alpha[:20, :20].max() < 150 and alpha[:20, -20:].max() < 100
    assert np.median(alpha[80:150, 190:260]) > 200  # the face
    # The strict face-and-torso bar of the shipped model lives in test_shipped_model.py.


def test_mask_output_is_grey_alpha(client, astronaut_jpeg):
    image = decode_png(post(client, astronaut_jpeg, output="mask").data)
    assert image.mode == "L" and image.size == (512, 512)
    # [5, 300]: background above her head (the top-left corner holds the flag, which the model partly takes in)
    assert np.asarray(image)[110, 225] > 200 and np.asarray(image)[5, 300] < 30


def test_background_colour_fills_transparency(client, astronaut_jpeg):
    image = decode_png(post(client, astronaut_jpeg, bg="#00ff00").data)
    assert image.mode == "RGB"
    assert [int(v) for v in np.asarray(image)[5, 300]] == pytest.approx([0, 255, 0], abs=12)  # above her head


def test_crop_to_the_person(client):
    # scikit-image's cameraman (public domain): sky above him, which the crop leaves out. (The astronaut's
    # crop keeps the whole photo: the model marks the shuttle model beside her, see the model card.)
    image = decode_png(post(client, encode(skdata.camera(), "JPEG"), crop="true").data)
    assert image.mode == "RGBA"
    assert image.size[1] < 512 * 0.95 and image.size[0] <= 512


def test_main_person_leaves_the_smaller_person_out(client, two_people):
    everyone = np.asarray(decode_png(post(client, two_people, "two.png", output="mask", people="all").data))
    subject = np.asarray(decode_png(post(client, two_people, "two.png", output="mask", people="subject").data))
    main = np.asarray(decode_png(post(client, two_people, "two.png", output="mask", people="main").data))
    assert (everyone[SMALL_PERSON] >= 128).mean() > 0.2  # the network finds the small astronaut under people=all
    assert main[SMALL_PERSON].max() == 0  # ... which people=main clears
    face, torso = (slice(80, 150), slice(190, 260)), (slice(300, 500), slice(80, 300))
    assert np.array_equal(main[face], subject[face]) and np.array_equal(main[torso], subject[torso])
    # The shuttle model beside her, apart from her, never stays with people=main. (Only that: the network
    # taking it in under people=all is a false positive of today's model, see the model card, not a promise.)
    shuttle = (slice(20, 250), slice(380, 460))
    assert (main[shuttle] >= 128).mean() < 0.02


def test_options_as_query_parameters_and_refine_off(client, astronaut_jpeg):
    response = post(client, astronaut_jpeg, "a.jpg", query="?output=mask&refine=off")
    assert response.status_code == 200 and decode_png(response.data).mode == "L"


def test_webp_output(client, astronaut_jpeg):
    response = post(client, astronaut_jpeg, format="webp")
    assert response.mimetype == "image/webp"
    image = Image.open(io.BytesIO(response.data))
    assert image.format == "WEBP" and image.mode == "RGBA"


def test_exif_orientation_is_applied(client, astronaut):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    wide = np.ascontiguousarray(astronaut[:, :384])  # 512 tall, 384 wide as stored
    data = encode(wide, "JPEG", exif=exif.tobytes())
    image = decode_png(post(client, data).data)
    assert image.size == (512, 384)  # displayed upright: 512 wide, 384 tall


@pytest.mark.parametrize("data, name, field, status, message", [
    (None, None, None, 400, "no file"),
    (b"x", "a.jpg", "photo", 400, "field 'image'"),
    (b"", "a.jpg", "image", 400, "empty"),
    (b"hello, this is text", "a.jpg", "image", 400, "not an image"),
    (b'<svg xmlns="http://www.w3.org/2000/svg"></svg>', "a.svg", "image", 415, "SVG"),
])
def test_bad_uploads(client, data, name, field, status, message, astronaut_jpeg):
    if data is None:
        response = client.post("/api/remove", data={}, content_type="multipart/form-data")
    else:
        response = post(client, data, name, field)
    assert response.status_code == status
    assert message in response.get_json()["error"]
    assert post(client, astronaut_jpeg).status_code == 200  # and the next good request still works


@pytest.mark.parametrize("option, value", [("bg", "notacolour"), ("output", "foo"), ("crop", "maybe"),
                                           ("refine", "2"), ("format", "gif"),
                                           ("people", "some")])
def test_bad_option_values(client, astronaut_jpeg, option, value):
    response = post(client, astronaut_jpeg, **{option: value})
    assert response.status_code == 400
    assert option in response.get_json()["error"]


def test_too_many_bytes_and_pixels(segmenter, astronaut_jpeg):
    app = create_app({"TESTING": True, "SEGMENTER": segmenter, "WARM_UP": False,
                      "MAX_CONTENT_LENGTH": 10_000, "MAX_PIXELS": 100_000})
    client = app.test_client()
    assert post(client, astronaut_jpeg).status_code == 413
    small = encode(np.zeros((400, 400, 3), np.uint8), "PNG")  # 1.6e5 pixels in a few hundred bytes
    response = post(client, small, "big.png")
    assert response.status_code == 413 and "pixels" in response.get_json()["error"]


def test_health_and_readiness(segmenter):
    app = create_app({"TESTING": True, "SEGMENTER": segmenter, "WARM_UP": False})
    client = app.test_client()
    assert client.get("/healthz").get_json() == {"status": "ok"}
    service = app.extensions["cutout"]
    service.ready.clear()
    assert client.get("/readyz").status_code == 503
    service.ready.set()
    ready = client.get("/readyz")
    assert ready.status_code == 200


def test_readiness_and_every_cutout_name_the_model(client, segmenter, astronaut_jpeg):
    ready = client.get("/readyz").get_json()
    sha = hashlib.sha256(SHIPPED_MODEL.read_bytes()).hexdigest()[:12]
    assert ready["model"] == {"file": SHIPPED_MODEL.name, "sha256": sha, "engine": segmenter.engine,
                              "device": segmenter.device, "outputs": list(segmenter.outputs)}
    assert ready["model"]["outputs"] in (["subject", "everyone"], ["person"])
    assert ready["model"]["engine"] in ("LiteRT (XNNPACK)", "TensorFlow graph")
    for options in ({}, {"output": "mask"}, {"format": "webp"}):
        response = post(client, astronaut_jpeg, **options)
        assert response.status_code == 200 and response.headers["X-Model"] == f"{SHIPPED_MODEL.name} sha256:{sha}"
    assert "X-Model" not in post(client, b"not a photo").headers


def test_readiness_waits_for_the_warm_up(segmenter):
    release = threading.Event()

    class SlowWarmUp:
        device, size, engine, model_id = segmenter.device, segmenter.size, segmenter.engine, segmenter.model_id
        outputs = segmenter.outputs

        def warm_up(self):
            release.wait(10)

    app = create_app({"TESTING": True, "SEGMENTER": SlowWarmUp(), "WARM_UP": True})
    assert app.test_client().get("/readyz").status_code == 503
    release.set()
    app.extensions["cutout"].ready.wait(10)
    assert app.test_client().get("/readyz").status_code == 200


def test_security_headers_on_every_response(client):
    for path in ("/", "/healthz", "/static/style.css", "/nowhere"):
        response = client.get(path)
        response.close()
        headers = response.headers
        assert "default-src 'self'" in headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "no-referrer"


def test_slow_request_gets_503_and_the_app_keeps_serving(segmenter, astronaut_jpeg):
    app = create_app({"TESTING": True, "SEGMENTER": segmenter, "WARM_UP": False, "REQUEST_TIMEOUT_S": 0.001})
    response = post(app.test_client(), astronaut_jpeg)
    assert response.status_code == 503 and "not done within" in response.get_json()["error"]
    assert app.test_client().get("/healthz").status_code == 200


def test_a_full_queue_gets_a_quick_503_with_retry_after(segmenter, astronaut_jpeg):
    gate = threading.Event()

    class Gated:  # the real segmenter, held at a gate: photos pile up as under load
        device, size, engine, model_id = segmenter.device, segmenter.size, segmenter.engine, segmenter.model_id

        def predict(self, rgb, output="subject"):
            gate.wait(30)
            return segmenter.predict(rgb, output)

    app = create_app({"TESTING": True, "SEGMENTER": Gated(), "WARM_UP": False, "MODEL_THREADS": 1,
                      "QUEUE_DEPTH": 1})
    service, answers = app.extensions["cutout"], []
    held = [threading.Thread(target=lambda: answers.append(post(app.test_client(), astronaut_jpeg)))
            for _ in range(2)]  # one running, one waiting: the queue is full
    for thread in held:
        thread.start()
    deadline = time.monotonic() + 10
    while service.admitted < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    start = time.perf_counter()
    refused = post(app.test_client(), astronaut_jpeg)
    assert time.perf_counter() - start < 1.0
    assert refused.status_code == 503 and int(refused.headers["Retry-After"]) >= 1
    assert "busy" in refused.get_json()["error"]
    assert app.test_client().get("/healthz").status_code == 200
    gate.set()
    for thread in held:
        thread.join(60)
    assert [answer.status_code for answer in answers] == [200, 200]
    assert post(app.test_client(), astronaut_jpeg).status_code == 200  # the queue is free again


def test_the_openapi_description_covers_every_route_and_status(app, client):
    served = client.get("/openapi.json")
    assert served.status_code == 200 and served.mimetype == "application/json"
    spec = served.get_json()
    assert spec["openapi"].startswith("3.")
    routes = {(rule.rule, method.lower()) for rule in app.url_map.iter_rules() if rule.endpoint != "static"
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    described = {(path, method) for path, item in spec["paths"].items() for method in item}
    assert described == routes
    remove = spec["paths"]["/api/remove"]["post"]
    assert set(remove["responses"]) == {"200", "400", "413", "415", "429", "503"}
    from model.pipeline import FORMATS, OUTPUTS, PEOPLE

    schemas = spec["components"]["schemas"]
    assert (tuple(schemas["Output"]["enum"]), tuple(schemas["Format"]["enum"]), tuple(schemas["People"]["enum"])) == \
        (OUTPUTS, FORMATS, PEOPLE)


def test_a_bad_query_value_is_refused_even_where_the_form_has_the_option(client, astronaut_jpeg):
    # Found by schemathesis (tests/test_openapi.py): ?refine=AAA was ignored beside the form's refine=true.
    response = post(client, astronaut_jpeg, query="?refine=AAA", refine="true")
    assert response.status_code == 400 and response.get_json()["error"] == "refine must be true or false, got 'aaa'"
    assert post(client, astronaut_jpeg, query="?output=mask", output="cutout").mimetype == "image/png"
