"""Start `toolproxy serve` as a subprocess on a free loopback port for the benchmarks."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runs from a checkout, installed or not
from toolproxy.child_process import free_port, serve_command, stop_process, wait_healthy


@contextmanager
def toolproxy_server(*args: str, timeout: float = 180.0) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(serve_command("--port", str(port), *args))
    url = f"http://127.0.0.1:{port}"
    try:
        problem = wait_healthy(url, proc, timeout)
        if problem is not None:
            raise RuntimeError(f"toolproxy serve {problem}")
        yield url
    finally:
        stop_process(proc)
