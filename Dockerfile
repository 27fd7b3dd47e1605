# The service for GPU hosts: `docker run --gpus all -p 8000:8000 person-bg-remover`.
# nginx on $PORT in front of gunicorn on a unix socket (deploy/start.sh), both as a non-root user.
# TensorFlow's CUDA libraries come from PyPI (tensorflow[and-cuda]); the host provides the driver.
# `make image` builds it with docker, podman or buildah. Build arguments, for testing the image where no
# registry or GPU is at hand (tests/test_container.py): BASE, a stand-in base made by deploy/base-image.sh;
# TENSORFLOW=cpu, the CPU wheel of requirements.txt instead of the CUDA wheels (several GB).
ARG BASE=python:3.11-slim
# hadolint ignore=DL3006
FROM ${BASE}
ARG TENSORFLOW=and-cuda

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOST=0.0.0.0 \
    PORT=8000 \
    RUN_DIR=/run/bg-remover \
    TF_CPP_MIN_LOG_LEVEL=2

WORKDIR /app

# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends nginx \
    && rm -rf /var/lib/apt/lists/*

COPY requirements.txt .
# The CPU wheel pinned in requirements.txt is swapped for the same version with CUDA (TENSORFLOW=and-cuda).
RUN if [ "$TENSORFLOW" = and-cuda ]; then \
        sed 's/^tensorflow==\(.*\)$/tensorflow[and-cuda]==\1/' requirements.txt > requirements-image.txt; \
    else cp requirements.txt requirements-image.txt; fi \
    && pip install --no-cache-dir -r requirements-image.txt \
    && useradd --create-home --uid 10001 app \
    && mkdir -p /run/bg-remover && chown 10001 /run/bg-remover

COPY app.py wsgi.py gunicorn.conf.py ./
COPY deploy/ deploy/
COPY model/ model/
COPY templates/ templates/
COPY static/ static/

USER 10001
EXPOSE 8000
# Through nginx, as clients come in; /healthz answers within a second whatever the load (docs/PERFORMANCE.md).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ['PORT']}/healthz\", timeout=4)"]
# start.sh is PID 1: it forwards TERM (docker stop) to nginx, then gunicorn, so both drain.
STOPSIGNAL SIGTERM
CMD ["deploy/start.sh"]
