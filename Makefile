# Herald: `make demo` runs the showcase, `make test` runs the whole suite.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check --quiet

.PHONY: demo test lint bench smoke clean

demo: $(VENV)/.runtime
	$(BIN)/herald demo

# One test process per core (pytest-xdist): the Spark parity tests start a JVM per process and
# run beside the rest.
test: $(VENV)/.test
	bash scripts/system-packages.sh
	$(BIN)/python -m pytest -n auto

# The demo in an environment with only the runtime dependencies: catches a package the tests'
# extras bring in but Herald itself forgot to declare.
smoke:
	rm -rf .venv-smoke /tmp/herald-smoke
	$(PYTHON) -m venv .venv-smoke
	.venv-smoke/bin/python -m pip --disable-pip-version-check --quiet install .
	cd /tmp && $(CURDIR)/.venv-smoke/bin/herald demo --dir /tmp/herald-smoke --customers 3000
	rm -rf .venv-smoke /tmp/herald-smoke

lint: $(VENV)/.test
	$(BIN)/ruff check herald tests bench
	$(BIN)/ruff format --check herald tests bench
	$(BIN)/mypy

bench: $(VENV)/.test
	$(BIN)/python bench/segments.py

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	$(PIP) install -e .
	touch $@

$(VENV)/.test: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[test]'
	touch $@ $(VENV)/.runtime

clean:
	rm -rf $(VENV) herald-demo .pytest_cache
