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

.PHONY: install system-deps demo-deps test-deps lint format typecheck pytest test test-airgap demo bench lock clean \
	bundle

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

# PostgreSQL 15 + PostGIS for the embedded database GeoLabel runs when no GEO_LABEL_DATABASE_URL is set.
demo-deps:
	@scripts/ensure-debian-packages.sh postgresql-15 postgresql-15-postgis-3

# What the tests need beyond Python: PostGIS, strace/unshare to prove nothing touches the network, Debian's
# chromium for the browser tests (Playwright drives it; it never downloads a browser of its own), and gpg/gpgv
# for the offline bundle's signature tests, and proj-data (datum shift grids); Debian's own QGIS and GDAL for
# the desktop tests (tests/desktop, marker qgis: what an analyst's workstation runs against GeoLabel).
test-deps: demo-deps
	@scripts/ensure-debian-packages.sh strace util-linux chromium gpg gpgv proj-data python3-qgis gdal-bin

pytest: install test-deps
	$(BIN)/pytest

test: lint typecheck pytest

# The offline bundle proven (issue 12): built, then verified, installed, run, browsed, upgraded, backed up and
# restored on a bare Debian 12 (mmdebstrap) with no network, every connect() traced (tests/airgap/).
test-airgap: install test-deps
	@scripts/ensure-debian-packages.sh mmdebstrap iproute2 apt-utils
	$(BIN)/pytest -m airgap tests/airgap

# The whole job on one machine: the embedded PostGIS, people at several clearances (printed with their
# passwords), a project, two ingested scenes (one a NITF marked SECRET), then the service on 127.0.0.1:8000.
demo: install demo-deps
	GEO_LABEL_DATA_DIR=$(DEMO_DIR) $(BIN)/geo-label demo

# Figures are printed as ratios to baselines measured in the same run (ogr2ogr comes from gdal-bin; ui.py
# drives Debian's chromium).
bench: install demo-deps
	@scripts/ensure-debian-packages.sh gdal-bin chromium
	$(PY) benchmarks/tiling.py
	$(PY) benchmarks/service.py
	$(PY) benchmarks/workflow.py
	$(PY) benchmarks/ui.py
	$(PY) benchmarks/signin.py
	$(PY) benchmarks/datasets.py
	$(PY) benchmarks/predictions.py
	$(PY) benchmarks/scale.py
	$(PY) benchmarks/tls.py

# The offline bundle (deploy_airgapped/README.md): dist/geolabel-VERSION-bookworm-amd64.tar, its folder and the
# release public key dist/geolabel-release.pub (the key: GEO_LABEL_RELEASE_KEY, else var/release/).
bundle: install
	@scripts/ensure-debian-packages.sh gpg gpgv apt-utils
	$(PY) -m deploy_airgapped.build

# Re-resolve the pinned, hashed lock after changing dependencies in pyproject.toml.
lock:
	$(PY) -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml requirements.in --extra dev --generate-hashes --universal \
	  --python-version 3.11 -o requirements.lock
	$(BIN)/uv pip compile pyproject.toml --constraint requirements.lock --generate-hashes \
	  --python-platform x86_64-manylinux_2_28 --python-version 3.11 -o requirements-runtime.lock

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
