# gaitcue: `make demo` and `make test` work on a fresh machine.
# Both create .venv, install the project (test: with the dev extras) and the system
# packages the run needs (apt, only the missing ones), then run.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip

.PHONY: demo test lint bench system-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

system-deps:
	@sh .ci/system-deps.sh

demo: system-deps $(VENV)/.installed
	$(BIN)/gaitcue demo

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/mypy

test: system-deps $(VENV)/.installed-dev lint
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest

bench: $(VENV)/.installed-dev
	$(BIN)/python bench/ringbuffer.py
	$(BIN)/python bench/bridge.py
	$(BIN)/python bench/throughput.py
	$(BIN)/python bench/latency.py
	$(BIN)/python bench/accuracy.py --quick
	$(BIN)/python bench/metronome.py
	$(BIN)/python bench/dashboard_fps.py
	$(BIN)/python bench/ble_throughput.py
	$(BIN)/python bench/calibration_recovery.py
	$(BIN)/python bench/session_io.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
