"""The default endpoint of ``toolproxy agent``: ``toolproxy serve`` as a child process on a free loopback port."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from types import TracebackType

import httpx

from toolproxy.agent.errors import AgentError


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EmbeddedServer:
    """``with EmbeddedServer() as base_url:`` — starts the server, waits for /health, stops it on exit."""

    def __init__(self, extra_args: list[str] | None = None, *, startup_timeout_s: float = 300.0) -> None:
        self.extra_args = list(extra_args or [])
        self.startup_timeout_s = startup_timeout_s
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> str:
        argv = [sys.executable, "-m", "toolproxy", "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        self.proc = subprocess.Popen([*argv, *self.extra_args], stdout=self.log, stderr=subprocess.STDOUT,
                                     env=dict(os.environ))
        deadline = time.monotonic() + self.startup_timeout_s
        health = f"http://127.0.0.1:{self.port}/health"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AgentError(f"the embedded toolproxy server exited ({self.proc.returncode}): {self.tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(health, timeout=2.0).status_code == 200:
                    return self.base_url
            time.sleep(0.25)
        self.stop()
        raise AgentError(f"the embedded toolproxy server did not become healthy in time: {self.tail()}")

    def tail(self) -> str:
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")[-2000:]

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self.log.close()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
