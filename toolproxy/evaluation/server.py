"""Start ``toolproxy serve`` as a child process on a free loopback port for an evaluation, and stop it after."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

from toolproxy.child_process import free_port, serve_command, stop_process, wait_healthy
from toolproxy.evaluation.errors import ServerStartError


def _tail(path: Path, limit: int = 2000) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-limit:]
    except OSError:
        return ""


@contextlib.contextmanager
def spawned_server(*, model: str | None, log_path: Path, threads: int | None = None, ctx: int | None = None,
                   startup_timeout_s: float = 300.0) -> Iterator[str]:
    """Run ``python -m toolproxy serve`` (the bundled model when ``model`` is None); yields its base URL."""
    port = free_port()
    cmd = serve_command("--host", "127.0.0.1", "--port", str(port), "--log-level", "warning")
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
            problem = wait_healthy(url, proc, startup_timeout_s)
            if problem is not None:
                raise ServerStartError(f"toolproxy serve {problem}:\n{_tail(log_path)}")
            yield url
        finally:
            stop_process(proc)
