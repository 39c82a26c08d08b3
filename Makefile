# The README's two commands. Both create .venv on first use and install the project into it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
WORKSPACE ?= .retention

.PHONY: run test test-all check lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=24"
	# torch's CPU build first, so nothing later pulls a CUDA build
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev,spark]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/retention ui --demo --workspace $(WORKSPACE)

# the habits that keep the code's shape: lint, format, types (README, "Layout")
check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# every test but the two end-to-end evaluations (marked `evaluation`: `retention eval --quick` and
# the benchmark table, about 400 s; each check they make is also a test of its own)
# on every core (at most 4 workers); a test file's tests share one worker and its fixtures
PYTEST := $(BIN)/python -m pytest -q -n auto --maxprocesses 4 --dist loadfile

test: check
	$(PYTEST) -m "not evaluation"

test-all: check
	$(PYTEST)

lint: check

clean:
	rm -rf $(VENV) $(WORKSPACE)
