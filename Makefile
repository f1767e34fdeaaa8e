# The two commands of the README: `make demo` and `make test`. Everything else is installed from the project's files.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck unit integration bench kafka-up kafka-down clean

$(STAMP): pyproject.toml $(wildcard requirements.lock)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	@if [ -f requirements.lock ]; then \
	  $(BIN)/python -m pip install -q -c requirements.lock -e '.[dev]'; \
	else \
	  $(BIN)/python -m pip install -q -e '.[dev]'; \
	fi
	$(BIN)/vigil kafka fetch >/dev/null
	@touch $@

demo: $(STAMP)
	$(BIN)/vigil demo

test: $(STAMP) lint typecheck
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest -q -m "not integration"

integration: $(STAMP)
	$(BIN)/python -m pytest -q -m integration

bench: $(STAMP)
	$(BIN)/python -m bench

kafka-up: $(STAMP)
	$(BIN)/vigil kafka up

kafka-down: $(STAMP)
	$(BIN)/vigil kafka down

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
