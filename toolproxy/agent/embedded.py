"""The default endpoint of ``toolproxy agent``: ``toolproxy serve`` as a child process on a free loopback port."""

from __future__ import annotations

import os
import subprocess
import tempfile
from types import TracebackType

from toolproxy.agent.errors import AgentError
from toolproxy.child_process import free_port, serve_command, stop_process, wait_healthy


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
        argv = serve_command("--host", "127.0.0.1", "--port", str(self.port), *self.extra_args)
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, env=dict(os.environ))
        problem = wait_healthy(f"http://127.0.0.1:{self.port}", self.proc, self.startup_timeout_s)
        if problem is None:
            return self.base_url
        tail = self.tail()
        self.stop()
        raise AgentError(f"the embedded toolproxy server {problem}: {tail}")

    def tail(self) -> str:
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")[-2000:]

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            stop_process(proc, timeout_s=15)
        self.log.close()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
