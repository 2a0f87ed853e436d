# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1
export GX_ANALYTICS_ENABLED := False

.PHONY: demo test lint typecheck pytest install lock clean bench

# every dependency at the version (and hashes) of requirements-dev.lock, then the project itself
# without resolving anything again; `make lock` regenerates the lock from pyproject.toml
LOCK := requirements-dev.lock

$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# the lock again after a change of pyproject.toml's dependencies, keeping every pin it can;
# UPGRADE=1 make lock moves every package to the newest version pyproject.toml allows, and
# UPGRADE_PACKAGE=NAME make lock only that one. uv comes from the lock (dev extras); on a machine
# without the venv yet, `make install` first.
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --universal \
		--generate-hashes --custom-compile-command "make lock" \
		$(if $(UPGRADE),--upgrade) $(if $(UPGRADE_PACKAGE),--upgrade-package $(UPGRADE_PACKAGE)) \
		-o $(LOCK)
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/zonestats demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

# two workers: the end-to-end tests spend much of their time waiting on servers (Prefect, the
# simulator, PostgreSQL), so two processes on two cores halve the wall time
PYTEST_WORKERS ?= 2

pytest: $(STAMP)
	$(BIN)/pytest -n $(PYTEST_WORKERS)

test: lint typecheck pytest

# a measurement, not a test: SCALE=10 make bench for a bigger province
bench: $(STAMP)
	$(BIN)/python scripts/bench.py --scale $(or $(SCALE),1)

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
