# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1
export GX_ANALYTICS_ENABLED := False

.PHONY: demo test lint typecheck pytest install clean bench

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

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
