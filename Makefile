# The README's two commands are `make run` and `make test`; everything else here serves them.
PYTHON ?= python3.11
VENV   ?= .venv
UV_VERSION := 0.13.8
BIN    := $(VENV)/bin
PEOPLE ?= 10000
# Test processes (pytest-xdist); one file's tests stay in one process, sharing its fixtures.
TEST_WORKERS ?= 2

.PHONY: setup run test lint format lock bench clean

setup: $(VENV)/.installed

# Rebuilt whenever the lock or the project metadata changes; installs exactly the lock's pins.
$(VENV)/.installed: requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -r requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $@

run: setup
	$(BIN)/cdp run --people $(PEOPLE)

test: setup lint
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Re-resolve the pins after editing pyproject.toml dependencies.
lock:
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --universal --no-header -o requirements.lock

bench: setup
	$(BIN)/python benchmarks/generate_ingest.py

clean:
	rm -rf $(VENV) .cdp .pytest_cache .ruff_cache
