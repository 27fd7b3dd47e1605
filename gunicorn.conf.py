"""gunicorn settings, each from an environment variable with a default (see the README).

Defaults chosen by measurement (`python -m bench.load --clients 8 --requests 25 --megapixels 12`
on the 2-core machine; docs/PERFORMANCE.md): one worker with 4 threads, and the app's pipeline pool
at MODEL_THREADS=2. Two photos at once give 1.7x the throughput of one (2.42 against 1.39 requests/s,
p95 3.7 s against 6.3 s) because decoding and PNG encoding, most of a 12-megapixel request, run on
one core each; two worker processes instead give the same throughput (2.44 requests/s) with a worse
p95 (5.5 s) at twice the memory (1.6 GB against 0.8 GB), since each holds its own TensorFlow and model.
The threads keep health checks and the page answered while photos are processed. No `preload_app`:
TensorFlow does not survive a fork, so each worker loads the model itself.
"""

import os
import sys

import gunicorn.http.wsgi

# No product or version in the Server header (gunicorn has no setting for it; workers inherit this).
gunicorn.http.wsgi.SERVER = "webserver"

bind = os.environ.get("BIND", f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}")
workers = int(os.environ.get("WEB_CONCURRENCY", "1"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))  # above REQUEST_TIMEOUT_S: the app answers 503 first
graceful_timeout = 30
keepalive = 5
preload_app = False
accesslog = None  # the app logs each request itself, without file names
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info")


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
