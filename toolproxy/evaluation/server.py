"""Start ``toolproxy serve`` as a child process on a free loopback port for an evaluation, and stop it after."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from toolproxy.evaluation.errors import ServerStartError


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, limit: int = 2000) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-limit:]
    except OSError:
        return ""


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerStartError(f"toolproxy serve exited with code {proc.returncode}:\n{_tail(log)}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/health", timeout=2.0).status_code == 200:
                return
        time.sleep(0.25)
    raise ServerStartError(f"toolproxy serve was not healthy after {timeout_s:.0f} s:\n{_tail(log)}")


@contextlib.contextmanager
def spawned_server(*, model: str | None, log_path: Path, threads: int | None = None, ctx: int | None = None,
                   startup_timeout_s: float = 300.0) -> Iterator[str]:
    """Run ``python -m toolproxy serve`` (the bundled model when ``model`` is None); yields its base URL."""
    port = free_port()
    cmd = [sys.executable, "-m", "toolproxy", "serve", "--host", "127.0.0.1", "--port", str(port),
           "--log-level", "warning"]
    if model:
        cmd += ["--model", model]
    if threads:
        cmd += ["--threads", str(threads)]
    if ctx:
        cmd += ["--ctx", str(ctx)]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ)  # the child imports this very toolproxy, installed or not
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    with log_path.open("ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        try:
            _wait_healthy(url, proc, log_path, startup_timeout_s)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
