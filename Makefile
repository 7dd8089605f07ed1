# make install: .venv/ with the project and its pinned dependencies.
# make demo:    generate the demo collection, analyse it, show what sounds like what.
# make test:    the whole test suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_LIBRARY ?= $(CURDIR)/.demo-library

.PHONY: install demo test lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev,scale]'
	$(BIN)/python -m pip install --quiet --no-deps musicnn==0.1.0  # musicnn's weights; only its files are read
	touch $(STAMP)

demo: install
	$(BIN)/synesthete --library $(DEMO_LIBRARY) demo

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check synesthete tests bench
	$(BIN)/ruff format --check synesthete tests bench

bench: install
	$(BIN)/python bench/analysis_speed.py
	$(BIN)/python bench/quality.py

clean:
	rm -rf $(VENV) $(DEMO_LIBRARY) .pytest_cache
