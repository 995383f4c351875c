"""Run an ASGI app on a real loopback port in a background thread (real HTTP, real lifespan)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

from toolproxy.child_process import free_port

__all__ = ["free_port", "require_llama_server", "running_server"]


def require_llama_server() -> None:
    """Skip the calling test without a llama-server binary, except in CI, where it must be there (fail)."""
    import pytest

    from toolproxy.backends.spawn import find_llama_server
    from toolproxy.errors import BackendUnavailable

    try:
        find_llama_server()
    except BackendUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the llama-server tests: {exc.message}")
        pytest.skip(exc.message)


@contextmanager
def running_server(app: FastAPI, *, startup_timeout: float = 120.0) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1:<free port>; yields the base URL (``http://127.0.0.1:PORT``)."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("server failed to start")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise TimeoutError("server did not start in time")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
