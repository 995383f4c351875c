"""Child servers on loopback: a free port, waiting for ``/health``, stopping a process tree politely.

One implementation for everything that starts a server as a subprocess (``toolproxy agent``'s default endpoint,
``toolproxy eval``, ``--spawn-llama-server``, the benchmarks). Callers raise their own typed errors.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from typing import Any

import httpx


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def serve_command(*args: str) -> list[str]:
    """argv of ``toolproxy serve`` run by this very interpreter."""
    return [sys.executable, "-m", "toolproxy", "serve", *args]


def wait_healthy(base_url: str, proc: subprocess.Popen[Any], timeout_s: float, poll_s: float = 0.25) -> str | None:
    """Wait until ``{base_url}/health`` answers 200. Returns None then, else why not (the child exited, or it
    stayed unhealthy for ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return f"exited with code {proc.returncode}"
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base_url}/health", timeout=2.0).status_code == 200:
                return None
        time.sleep(poll_s)
    return f"not healthy after {timeout_s:.0f} s"


def stop_process(proc: subprocess.Popen[Any], timeout_s: float = 20.0) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``timeout_s``."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
