"""The web service: upload form, `/api/remove`, health checks. HTTP only; the image work is in model/."""

from __future__ import annotations

import io
import logging
import math
import os
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor, TimeoutError as FutureTimeout
from pathlib import Path

from flask import Flask, Request, Response, current_app, g, jsonify, render_template, request
from werkzeug.exceptions import HTTPException
from werkzeug.utils import secure_filename

from model import SHIPPED_MODEL
from model.allocator import keep_freed_buffers
from model.errors import CutoutError
from model.pipeline import CutoutOptions, Result, parse_options, remove_background
from model.segmenter import Segmenter, get_segmenter

log = logging.getLogger("app")

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


# Which model made a cutout: "<file> sha256:<first 12 hex digits>", as /readyz names it.
MODEL_HEADER = "X-Model"


def settings_from_env(environ: Mapping[str, str] = os.environ) -> dict:
    """Every setting of the service, from environment variables with defaults (see the README)."""
    return {
        "MODEL_PATH": environ.get("MODEL_PATH", str(SHIPPED_MODEL)),
        "MAX_CONTENT_LENGTH": int(float(environ.get("MAX_UPLOAD_MB", "25")) * 1024 * 1024),
        "MAX_PIXELS": int(float(environ.get("MAX_MEGAPIXELS", "40")) * 1_000_000),
        "REQUEST_TIMEOUT_S": float(environ.get("REQUEST_TIMEOUT_S", "60")),
        "MODEL_THREADS": int(environ.get("MODEL_THREADS", "2")),  # measured: see gunicorn.conf.py
        # Photos that may wait for a pipeline thread; more get a quick 503 with Retry-After (docs/PERFORMANCE.md).
        "QUEUE_DEPTH": int(environ.get("QUEUE_DEPTH", "6")),
        "WARM_UP": environ.get("WARM_UP", "1") not in ("0", "false", "no"),
    }


class InMemoryRequest(Request):
    """Uploads stay in memory (bounded by MAX_CONTENT_LENGTH): nothing of a photo touches the disk.

    Werkzeug spools uploads over 500 KB to a temporary file by default.
    """

    def _get_file_stream(self, total_content_length, content_type, filename=None, content_length=None):
        return io.BytesIO()


class Busy(Exception):
    """More photos are waiting than the service takes; `retry_after` is the estimated wait in seconds."""

    def __init__(self, waiting: int, retry_after: int):
        super().__init__(f"{waiting} photos are waiting")
        self.waiting, self.retry_after = waiting, retry_after


class CutoutService:
    """The loaded model, its readiness, and the bounded pool that runs the pipeline for requests."""

    def __init__(self, segmenter: Segmenter, threads: int, warm_up: bool, queue_depth: int = 6):
        self.segmenter = segmenter
        self.ready = threading.Event()
        # A small pool bounds how many photos are in memory at once and lets a request give up
        # after its time limit without killing the worker.
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="cutout")
        self.threads, self.capacity = threads, threads + queue_depth
        self._admitted = 0
        self._lock = threading.Lock()
        self._seconds = 1.0  # recent seconds per photo (a moving average), for Retry-After
        if warm_up:
            threading.Thread(target=self._warm_up, name="warm-up", daemon=True).start()
        else:
            self.ready.set()

    def _warm_up(self) -> None:
        start = time.perf_counter()
        self.segmenter.warm_up()
        self.ready.set()
        log.info("model warm (%.1f s), ready on the %s, forward pass by %s", time.perf_counter() - start,
                 self.segmenter.device, self.segmenter.engine)

    def run(self, data: bytes, options: CutoutOptions, max_pixels: int, timeout: float) -> Result:
        """The pipeline on one upload, waiting at most `timeout` seconds (TimeoutError past that); Busy at
        once where the pool and its queue are full."""
        with self._lock:
            if self._admitted >= self.capacity:
                raise Busy(self._admitted - self.threads, self.retry_after())
            self._admitted += 1
        future = self.pool.submit(self._timed, data, options, max_pixels)
        future.add_done_callback(self._release)  # also where a waiting photo is cancelled
        try:
            return future.result(timeout=timeout)
        except FutureTimeout:
            future.cancel()
            raise TimeoutError from None

    def _timed(self, data: bytes, options: CutoutOptions, max_pixels: int) -> Result:
        start = time.perf_counter()
        try:
            return remove_background(data, self.segmenter, options, max_pixels)
        finally:
            self._seconds = 0.8 * self._seconds + 0.2 * (time.perf_counter() - start)

    def _release(self, _future) -> None:
        with self._lock:
            self._admitted -= 1

    @property
    def admitted(self) -> int:
        """Photos running or waiting now."""
        return self._admitted

    def retry_after(self) -> int:
        """Whole seconds until the photos admitted now are likely done (at least 1)."""
        return max(1, math.ceil(self._seconds * self._admitted / self.threads))


def create_app(test_config: Mapping | None = None) -> Flask:
    """Build the app; `test_config` overrides the environment's settings (tests pass SEGMENTER too)."""
    app = Flask(__name__)
    app.request_class = InMemoryRequest
    keep_freed_buffers()  # the process's photo buffers are reused, not faulted in afresh (model/allocator.py)
    app.config.from_mapping(settings_from_env())
    if test_config:
        app.config.from_mapping(test_config)
    segmenter = app.config.get("SEGMENTER") or get_segmenter(str(app.config["MODEL_PATH"]))
    app.extensions["cutout"] = CutoutService(segmenter, app.config["MODEL_THREADS"], app.config["WARM_UP"],
                                             app.config["QUEUE_DEPTH"])
    _register_routes(app)
    _register_errors(app)
    _register_hooks(app)
    return app


def _service() -> CutoutService:
    return current_app.extensions["cutout"]


def _error(status: int, message: str, retry_after: int | None = None) -> tuple[Response, int]:
    response = jsonify(error=message)
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response, status


def _download_name(filename: str | None) -> str:
    stem = Path(secure_filename(filename or "")).stem or "photo"
    return f"{stem}-cutout"


def _register_routes(app: Flask) -> None:
    @app.get("/")
    def index():
        return render_template("index.html", max_mb=app.config["MAX_CONTENT_LENGTH"] // (1024 * 1024),
                               max_mp=app.config["MAX_PIXELS"] // 1_000_000)

    description = (Path(app.static_folder) / "openapi.json").read_bytes()  # the API's OpenAPI 3 description

    @app.get("/openapi.json")
    def openapi():
        return Response(description, mimetype="application/json")

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    @app.get("/readyz")
    def readyz():
        if not _service().ready.is_set():
            return _error(503, "the model is still warming up")
        segmenter = _service().segmenter
        return jsonify(status="ready", device=segmenter.device, model={
            "file": segmenter.model_id.file, "sha256": segmenter.model_id.short, "engine": segmenter.engine,
            "device": segmenter.device, "outputs": list(segmenter.outputs)})

    @app.post("/api/remove")
    def remove():
        files = request.files.getlist("image")
        if not files:
            other = ", ".join(sorted(request.files)) or "none"
            return _error(400, f"no file in the multipart field 'image' (fields received: {other})")
        if len(files) > 1:
            return _error(400, "send exactly one file in the field 'image'")
        # A form field overrides the same query parameter, and every value given must be valid (schemathesis
        # found a bad query value ignored where the form also had the option).
        parse_options(request.args.to_dict())
        options = parse_options({**request.args.to_dict(), **request.form.to_dict()})
        service = _service()
        if not service.ready.wait(timeout=app.config["REQUEST_TIMEOUT_S"]):
            return _error(503, "the model is still warming up; try again shortly", retry_after=5)
        data = files[0].read()
        g.upload_bytes = len(data)
        result = service.run(data, options, app.config["MAX_PIXELS"], app.config["REQUEST_TIMEOUT_S"])
        g.photo_size = f"{result.width}x{result.height}"
        response = Response(result.data, mimetype=options.mimetype)
        name = f"{_download_name(files[0].filename)}.{options.format}"
        response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
        response.headers[MODEL_HEADER] = str(service.segmenter.model_id)
        return response


def _register_errors(app: Flask) -> None:
    @app.errorhandler(CutoutError)
    def bad_input(error: CutoutError):  # a bad photo (400, 413, 415) or option (400)
        return _error(error.status, str(error))

    @app.errorhandler(TimeoutError)
    def too_slow(error: TimeoutError):
        limit = app.config["REQUEST_TIMEOUT_S"]
        return _error(503, f"the server is busy: the photo was not done within {limit:g} s; try again",
                      retry_after=_service().retry_after())

    @app.errorhandler(Busy)
    def busy(error: Busy):
        return _error(503, f"the server is busy ({error.waiting} photos waiting): try again in {error.retry_after} s",
                      retry_after=error.retry_after)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if error.code == 413:
            limit = app.config["MAX_CONTENT_LENGTH"] / (1024 * 1024)
            return _error(413, f"the upload is larger than the limit of {limit:g} MB")
        response, status = _error(error.code or 500, error.description or error.name)
        if getattr(error, "valid_methods", None):  # a 405 names the methods the path takes (RFC 9110)
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response, status

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        log.exception("unexpected error on %s %s", request.method, request.path)
        return _error(500, "internal error: the photo could not be processed")


def _register_hooks(app: Flask) -> None:
    @app.before_request
    def start_timer():
        g.start = time.perf_counter()

    @app.after_request
    def finish(response: Response) -> Response:
        response.headers.update(SECURITY_HEADERS)
        elapsed_ms = (time.perf_counter() - g.get("start", time.perf_counter())) * 1000
        # Size, type, status and time only: never image content or the client's file name.
        log.info("%s %s %d in=%dB type=%s photo=%s out=%dB %.0fms", request.method, request.path,
                 response.status_code, g.get("upload_bytes", request.content_length or 0), request.mimetype or "-",
                 g.get("photo_size", "-"), response.content_length or 0, elapsed_ms)
        return response
