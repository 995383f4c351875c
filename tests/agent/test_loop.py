"""The agent loop against a scripted endpoint over real HTTP: order of messages, concurrency, tool_choice."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from openai import AsyncOpenAI

from tests.agent.scripted_endpoint import Script, call, reply, scripted_app
from tests.servers import running_server as serve
from toolproxy.agent.cli import agent_main
from toolproxy.agent.loop import Agent, AgentConfig, AgentResult
from toolproxy.agent.tools import tools_from_module

FIXTURES = str(Path(__file__).with_name("fixtures_tools.py"))


async def run(script: Script, config: AgentConfig) -> tuple[AgentResult, list[str], float]:
    """(result, printed lines, seconds the agent itself took)."""
    lines: list[str] = []
    with serve(scripted_app(script)) as url:
        client = AsyncOpenAI(base_url=url + "/v1", api_key="x", max_retries=0)
        try:
            await client.models.list()  # warm the connection
            started = time.monotonic()
            result = await Agent(client, tools_from_module(FIXTURES), config, lines.append).run("goal")
            elapsed = time.monotonic() - started
        finally:
            await client.close()
    return result, lines, elapsed


async def test_calls_run_concurrently_and_results_come_back_in_order() -> None:
    script = Script([
        reply("Let me work.", [call("slow_echo", {"text": "one"}, "c1"), call("slow_echo", {"text": "two"}, "c2"),
                               call("add", {"a": 2, "b": 3}, "c3")]),
        reply("The sum is 5."),
    ])
    result, lines, elapsed = await run(script, AgentConfig(model="scripted"))
    assert result.finished and result.answer == "The sum is 5."
    assert elapsed < 0.75  # two 0.4 s calls ran side by side
    second = script.requests[1]["messages"]
    assert [m["role"] for m in second] == ["user", "assistant", "tool", "tool", "tool"]
    assert [m["tool_call_id"] for m in second[2:]] == ["c1", "c2", "c3"]
    assert [m["content"] for m in second[2:]] == ["one", "two", "5"]
    assert second[1]["tool_calls"][2]["function"] == {"name": "add", "arguments": '{"a": 2, "b": 3}'}
    assert {t["function"]["name"] for t in script.requests[0]["tools"]} == {"add", "get_weather", "slow_echo",
                                                                           "fail"}
    assert any("-> add" in line for line in lines) and any("<- add: 5" in line for line in lines)


async def test_bad_calls_become_error_observations() -> None:
    script = Script([
        reply(None, [call("nope", {}, "a"), call("add", "{not json", "b"), call("add", {"a": "x", "b": 1}, "c"),
                     call("fail", {"reason": "boom"}, "d")]),
        reply("done"),
    ])
    result, _, _ = await run(script, AgentConfig(model="scripted"))
    observations = [m["content"] for m in script.requests[1]["messages"] if m["role"] == "tool"]
    assert observations[0].startswith("Error: there is no tool named 'nope'") and "add" in observations[0]
    assert observations[1].startswith("Error: the arguments are not valid JSON")
    assert observations[2].startswith("Error: invalid arguments for add")
    assert observations[3] == "Error: RuntimeError: boom"
    assert result.answer == "done"


async def test_tool_choice_plan_per_step_and_max_steps() -> None:
    script = Script([reply(None, [call("add", {"a": 1, "b": 1}, "x")])])
    config = AgentConfig(model="scripted", max_steps=3, tool_choice=("add", "required"))
    result, lines, _ = await run(script, config)
    assert not result.finished and result.answer is None
    choices = [r["tool_choice"] for r in script.requests]
    assert choices == [{"type": "function", "function": {"name": "add"}}, "required", "required"]
    assert "stopped after 3 steps" in lines[-1]


def test_cli_prints_steps_and_answer_last(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("TOOLPROXY_TEST_TOOL_LOG", str(log))
    script = Script([reply(None, [call("add", {"a": 20, "b": 22}, "k")]), reply("It is 42.")])
    with serve(scripted_app(script)) as url:
        code = agent_main(["--goal", "add 20 and 22", "--tools", FIXTURES, "--base-url", url + "/v1",
                           "--tool-choice", "add,none"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.rstrip().splitlines()[-1] == "answer: It is 42."
    assert "-> add" in out and "<- add: 42" in out
    assert json.loads(log.read_text()) == {"tool": "add", "a": 20, "b": 22, "result": 42}
    assert [r["tool_choice"] for r in script.requests] == [{"type": "function", "function": {"name": "add"}}, "none"]


def test_cli_rejects_unknown_tool_choice(capsys: pytest.CaptureFixture[str]) -> None:
    script = Script([reply("hi")])
    with serve(scripted_app(script)) as url:
        code = agent_main(["--goal", "g", "--tools", FIXTURES, "--base-url", url + "/v1", "--tool-choice", "zzz"])
    assert code == 2 and "zzz" in capsys.readouterr().err
    assert script.requests == []
