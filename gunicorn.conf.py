"""gunicorn settings, each from an environment variable with a default (see the README).

Behind nginx (deploy/nginx.conf, `make serve-proxy`, the container) gunicorn listens on a unix socket
(BIND=unix:PATH) and sees only whole, buffered requests; `make serve` runs it alone on 127.0.0.1.

Defaults chosen by measurement (`python -m bench.load --clients 8 --requests 25 --megapixels 12`
on the 2-core machine; docs/PERFORMANCE.md): one worker, and the app's pipeline pool at
MODEL_THREADS=2 with QUEUE_DEPTH=6 photos waiting at most. Two photos at once gave 1.7x the
throughput of one (2.42 against 1.39 requests/s, p95 3.7 s against 6.3 s) because decoding and PNG
encoding, most of a 12-megapixel request, run on one core each; two worker processes instead gave the
same throughput (2.44 requests/s) with a worse p95 (5.5 s) at twice the memory.
16 threads: the pipeline pool and its queue hold at most 8 of them, so health checks and the page
always find a free thread while photos are processed, and photos past the queue get a quick 503. No
`preload_app`: TensorFlow does not survive a fork, so each worker loads the model itself.
"""

import os
import sys

import gunicorn.http.wsgi

# No product or version in the Server header (gunicorn has no setting for it; workers inherit this).
gunicorn.http.wsgi.SERVER = "webserver"

bind = os.environ.get("BIND", f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}")
workers = int(os.environ.get("WEB_CONCURRENCY", "1"))
threads = int(os.environ.get("GUNICORN_THREADS", "16"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))  # above REQUEST_TIMEOUT_S: the app answers 503 first
graceful_timeout = 30
keepalive = 5
preload_app = False
accesslog = None  # the app logs each request itself, with the photo's size and never its file name
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info")
# The app's and the model's loggers (one line per request, the model's start-up lines) beside gunicorn's own.
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"line": {"format": "%(asctime)s [%(process)d] [%(levelname)s] %(name)s: %(message)s",
                            "datefmt": "[%Y-%m-%d %H:%M:%S %z]"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "line", "stream": "ext://sys.stderr"}},
    "loggers": {name: {"level": loglevel.upper(), "handlers": ["stderr"], "propagate": False}
                for name in ("gunicorn.error", "app", "model")},
    "root": {"level": "WARNING", "handlers": ["stderr"]},
}


def post_worker_init(worker):
    """Pillow's warnings about odd files (a truncated EXIF block, a palette's transparency) stay out of the
    log: the request's own line says what became of the upload."""
    import warnings

    warnings.filterwarnings("ignore", module=r"PIL\.")


def on_starting(server):
    """Stop at once, with one line, when the model file is missing or damaged (no TensorFlow here)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from model import SHIPPED_MODEL
    from model.segmenter import ModelLoadError, check_model_file
    from pathlib import Path

    try:
        check_model_file(Path(os.environ.get("MODEL_PATH", str(SHIPPED_MODEL))))
    except ModelLoadError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
