"""The standard tools, and the CodeAct python tool driven through the agent CLI."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from tests.agent.scripted_endpoint import Script, call, reply, scripted_app
from tests.servers import running_server
from toolproxy.agent.cli import agent_main
from toolproxy.agent.errors import SandboxUnavailable
from toolproxy.agent.sandbox import Limits, SessionManager, select_backend
from toolproxy.agent.std_tools import std_tools


@pytest.fixture(scope="module")
def manager() -> Iterator[SessionManager]:
    try:
        backend = select_backend("auto")
    except SandboxUnavailable as exc:
        pytest.skip(exc.message)
    with SessionManager(backend, Limits(timeout_s=10)) as mgr:
        yield mgr


def tools(**kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("python", None)
    return {tool.name: tool for tool in std_tools(session_id="s1", **kwargs)}


async def test_python_tool_keeps_state_per_session(manager: SessionManager) -> None:
    python = tools(python=manager)["python"]
    assert python.parameters["required"] == ["code"]
    assert await python.call({"code": "import math\nr = math.sqrt(16)"}) == "(no output)"
    assert await python.call({"code": "print('r is', r)\nr + 1"}) == "r is 4.0\n5.0"
    failure = await python.call({"code": "r / 0"})
    assert failure.startswith("Error: Traceback") and "ZeroDivisionError" in failure
    other = {t.name: t for t in std_tools(python=manager, session_id="s2")}["python"]
    assert "NameError" in await other.call({"code": "r"})


async def test_python_tool_refuses_without_a_sandbox() -> None:
    python = tools(refusal="no sandbox is available here")["python"]
    assert await python.call({"code": "print(1)"}) == "Error: refused to run code: no sandbox is available here"


async def test_wait_time_and_ask() -> None:
    std = tools(max_wait_s=0.05, ask=lambda q: f"you asked {q!r}")
    assert await std["wait"].call({"seconds": 30}) == "waited 0.05 seconds (capped at 0.05)"
    assert await std["wait"].call({"seconds": 0.01}) == "waited 0.01 seconds"
    now = dt.datetime.fromisoformat(await std["current_time"].call({}))
    assert abs((now - dt.datetime.now(dt.UTC)).total_seconds()) < 5
    paris = dt.datetime.fromisoformat(await std["current_time"].call({"timezone": "Europe/Paris"}))
    assert paris.utcoffset() in (dt.timedelta(hours=1), dt.timedelta(hours=2))
    assert (await std["current_time"].call({"timezone": "Mars/Olympus"})).startswith("Error: unknown time zone")
    assert await std["ask_user"].call({"question": "color?"}) == "you asked 'color?'"
    assert (await tools()["ask_user"].call({"question": "q"})).startswith("Error: no user")


def test_agent_cli_codeact_session(manager: SessionManager, capsys: pytest.CaptureFixture[str]) -> None:
    script = Script([
        reply(None, [call("python", {"code": "data = [3, 4, 5]\ntotal = sum(data)"}, "p1")]),
        reply(None, [call("python", {"code": "total * 2"}, "p2")]),
        reply("The doubled total is 24."),
    ])
    with running_server(scripted_app(script)) as url:
        code = agent_main(["--goal", "double the total", "--std-tools", "--base-url", url + "/v1"])
    out = capsys.readouterr().out
    assert code == 0 and out.rstrip().endswith("answer: The doubled total is 24.")
    observations = [m["content"] for m in script.requests[2]["messages"] if m["role"] == "tool"]
    assert observations == ["(no output)", "24"]
    assert {t["function"]["name"] for t in script.requests[0]["tools"]} == {"wait", "current_time", "ask_user",
                                                                           "python"}


def test_agent_cli_python_refuses_when_the_sandbox_is_unavailable(capsys: pytest.CaptureFixture[str]) -> None:
    script = Script([reply(None, [call("python", {"code": "print('hi')"}, "p1")]), reply("ok")])
    with running_server(scripted_app(script)) as url:
        code = agent_main(["--goal", "g", "--std-tools", "--sandbox", "docker", "--base-url", url + "/v1"])
    captured = capsys.readouterr()
    assert code == 0 and "the python tool will refuse to run code" in captured.err
    observation = next(m["content"] for m in script.requests[1]["messages"] if m["role"] == "tool")
    assert observation.startswith("Error: refused to run code: sandbox 'docker' is unavailable")
