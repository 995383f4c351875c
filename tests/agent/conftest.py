"""Fixtures of the agent tests: a real `toolproxy tools serve` child process."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from toolproxy.child_process import free_port

FIXTURES = str(Path(__file__).with_name("fixtures_tools.py"))


@pytest.fixture(scope="session")
def tools_url() -> Iterator[tuple[str, Path]]:
    """(URL, call log) of `toolproxy tools serve fixtures_tools.py` running as a child process."""
    log = Path(tempfile.gettempdir()) / f"toolproxy-tools-{os.getpid()}.jsonl"
    log.unlink(missing_ok=True)
    port = free_port()
    env = {**os.environ, "TOOLPROXY_TEST_TOOL_LOG": str(log)}
    argv = [sys.executable, "-m", "toolproxy", "tools", "serve", FIXTURES, "--port", str(port)]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"toolproxy tools serve exited: {proc.stderr.read().decode() if proc.stderr else ''}")
            try:
                if httpx.get(url + "/openapi.json", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield url, log
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log.unlink(missing_ok=True)
