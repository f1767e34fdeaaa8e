# The two commands of the README: `make demo` and `make test`. Everything else is installed from the project's files.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck unit integration bench compiled kafka-up kafka-down clean

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

# The scoring hot path compiled with Cython (monitor/compiled.py): a no-op when current; plain Python without it.
compiled: $(STAMP)
	$(BIN)/python -m monitor.build_compiled

demo: $(STAMP) compiled
	$(BIN)/vigil demo

test: $(STAMP) compiled lint typecheck
	VIGIL_EXPECT_COMPILED=1 $(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP) compiled
	$(BIN)/python -m pytest -q -m "not integration"

integration: $(STAMP) compiled
	$(BIN)/python -m pytest -q -m integration

bench: $(STAMP) compiled
	$(BIN)/python -m bench

kafka-up: $(STAMP)
	$(BIN)/vigil kafka up

kafka-down: $(STAMP)
	$(BIN)/vigil kafka down

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
