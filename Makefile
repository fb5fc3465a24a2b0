# install, test, run, bench, image, clean: what a developer and CI type (see DESIGN.md, Commands).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Installed once per change of pyproject.toml, so every other target can depend on it cheaply.
STAMP := $(VENV)/.installed
# Tools spawned by tests and Procfile lines (celery, gunicorn, clerk-mirror) come from the venv.
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: install test test-tools soak run bench schema clean image test-image test-deploy

install: $(STAMP)

$(STAMP): pyproject.toml
	@# Debian's python3 makes venvs without pip until python3-venv is installed.
	@if [ ! -x $(BIN)/pip ]; then \
	  rm -rf $(VENV); \
	  if ! $(PYTHON) -m venv $(VENV); then \
	    [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null || exit 1; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv; \
	    rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); \
	  fi; \
	fi
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

# Debian's chromium and promtool: installed when missing and root (as in CI), else named.
test-tools: install
	@scripts/test-tools $(BIN)

test: install test-tools
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest

# The model-based test with random seeds, for CLERK_MIRROR_SOAK_MINUTES (default 30); each
# run prints its seed, which CLERK_MIRROR_MODEL_SEED replays in the fixed-seed test.
soak: install
	$(BIN)/pytest tests/model -m soak -s -q --timeout=0 -p no:cacheprovider

# Postgres and Redis come from DATABASE_URL/REDIS_URL, else are started under .data/ and
# stopped again on exit; the Postgres data there is kept between runs.
run: install
	$(BIN)/python -m worker.dev run --data .data -- scripts/dev-run

# make bench BENCH_ARGS="--only inbox": the sections and sizes of python -m bench.
bench: install
	@if [ -f bench/__main__.py ]; then \
	  $(BIN)/python -m worker.dev run --data .data/bench -- $(BIN)/python -m bench $(BENCH_ARGS); \
	else \
	  echo "no benchmarks yet: bench/__main__.py does not exist"; \
	fi

# sql/schema.sql anew, from a database that migrate builds on DATABASE_URL's server (else the
# local one); tests/sql/test_schema.py checks that migrate still builds exactly that.
schema: install
	$(BIN)/python -m tests.support.schema

# The container image (Dockerfile), with docker or podman; BASE_IMAGE overrides the base.
CONTAINER ?= $(shell command -v podman >/dev/null && echo podman || echo docker)
IMAGE ?= clerk-mirror:latest
image:
	$(CONTAINER) build $(if $(BASE_IMAGE),--build-arg BASE_IMAGE=$(BASE_IMAGE)) -t $(IMAGE) .

# The image built on a local Debian base (no registry here) and run as its roles against
# throwaway Postgres and Redis; as root, installing podman, runc and debootstrap if missing.
test-image: install
	@scripts/system-tools image
	$(BIN)/pytest tests/system/test_image.py -m system -p no:cacheprovider

# Several hosts as network namespaces, two web behind haproxy, two worker, one failing
# of each under a burst of signed events; as root, installing haproxy if missing.
test-deploy: install
	@scripts/system-tools deploy
	$(BIN)/pytest tests/system/test_deploy.py -m system -p no:cacheprovider -s

clean:
	rm -rf .data .pytest_cache .mypy_cache .ruff_cache .hypothesis build dist *.egg-info
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
