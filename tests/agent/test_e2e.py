"""End to end on the real embedded model: `toolproxy agent` completes a scripted goal with a tools module,
and the same goal with the tools behind a `toolproxy tools serve` URL.

The model (gemma-3-270m, a tiny base model) is steered by ``--tool-choice add,none``: step 1 must call
``add`` (the server enforces the named tool by grammar, so the arguments are two integers), step 2 must
answer in text. The tool writes a log line, so the test sees the call really ran (in the tool server's
process, for the URL form).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from toolproxy.agent.cli import agent_main
from toolproxy.agent.embedded import EmbeddedServer

FIXTURES = str(Path(__file__).with_name("fixtures_tools.py"))
GOAL = "What is 2 + 3? Use the add tool, then give the answer."
SERVE_ARGS = ["--serve-arg=--ctx=2048", "--serve-arg=--threads=2"]
AGENT_ARGS = ["--goal", GOAL, "--tool-choice", "add,none", "--parallel-tool-calls", "false", "--max-steps", "2",
              "--max-tokens", "40"]

pytestmark = pytest.mark.slow


def check_run(code: int, out: str, log: Path) -> None:
    assert code == 0, out
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    assert len(calls) == 1, out
    assert isinstance(calls[0]["a"], int) and isinstance(calls[0]["b"], int)
    assert calls[0]["result"] == calls[0]["a"] + calls[0]["b"]
    assert f"<- add: {calls[0]['result']}" in out
    assert "step 2: final answer\n\nanswer: " in out  # the answer (any text: a tiny base model) comes last


@pytest.fixture
def tool_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("TOOLPROXY_TEST_TOOL_LOG", str(log))
    return log


def test_agent_with_a_tools_module_on_the_default_embedded_server(
    tool_log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No --base-url: the agent starts `toolproxy serve` itself on a free loopback port."""
    code = agent_main([*AGENT_ARGS, "--tools", FIXTURES, *SERVE_ARGS])
    check_run(code, capsys.readouterr().out, tool_log)


def test_agent_with_tools_from_a_tool_server_url(
    tools_url: tuple[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    url, log = tools_url
    log.unlink(missing_ok=True)
    with EmbeddedServer(["--ctx=2048", "--threads=2"]) as base_url:
        code = agent_main([*AGENT_ARGS, "--tools", url, "--base-url", base_url])
    check_run(code, capsys.readouterr().out, log)
