# GeoLabel developer commands. `make demo` and `make test` work from a fresh Debian machine as root.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PACKAGES := access_control imagery tiling geo_label api
DEMO_DIR ?= var/demo

export PROJ_NETWORK := OFF

.PHONY: install system-deps test-deps lint format typecheck pytest test demo bench lock clean

install: $(STAMP)

system-deps:
	@if ! $(PYTHON) -c 'import ensurepip, venv' >/dev/null 2>&1; then \
	  scripts/ensure-debian-packages.sh python3 python3-venv; fi

$(STAMP): pyproject.toml requirements.lock | system-deps
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: install
	$(BIN)/mypy

# What the tests need beyond Python: strace and unshare to prove nothing touches the network.
test-deps:
	@scripts/ensure-debian-packages.sh strace util-linux

pytest: install test-deps
	$(BIN)/pytest

test: lint typecheck pytest

# Generate a sample GeoTIFF and a NITF marked SECRET, inspect them, cut both into labeling chips.
demo: install
	@mkdir -p $(DEMO_DIR)
	$(BIN)/geo-label sample-scene $(DEMO_DIR)/scene.tif --size 4096
	$(BIN)/geo-label sample-scene $(DEMO_DIR)/secret.ntf --size 2048 --nitf --marking "SECRET//REL TO USA, GBR"
	$(BIN)/geo-label inspect $(DEMO_DIR)/secret.ntf
	$(BIN)/geo-label tile $(DEMO_DIR)/scene.tif --out $(DEMO_DIR)/chips/scene --marking UNCLASSIFIED
	$(BIN)/geo-label tile $(DEMO_DIR)/secret.ntf --out $(DEMO_DIR)/chips/secret
	@echo "Chips, JPEG previews and index.parquet are in $(DEMO_DIR)/chips/ (open index.parquet in QGIS)."

bench: install
	$(PY) benchmarks/tiling.py

# Re-resolve the pinned, hashed lock after changing dependencies in pyproject.toml.
lock:
	$(PY) -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml requirements.in --extra dev --generate-hashes --universal \
	  --python-version 3.11 -o requirements.lock

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
