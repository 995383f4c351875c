"""MCP both ways, with the official ``mcp`` SDK: its client lists and calls the tools of a real
`toolproxy tools serve --mcp` process (stdio and streamable HTTP, loopback only), and `toolproxy agent --mcp`
completes a goal with the tools of an MCP server the test starts (a scripted chat endpoint drives the loop).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import psutil
import pytest

from tests.agent.scripted_endpoint import Script, call, reply, scripted_app
from tests.servers import running_server
from toolproxy.agent import cli as agent_cli
from toolproxy.agent.cli import agent_main
from toolproxy.agent.errors import AgentError, SandboxUnavailable
from toolproxy.agent.sandbox import select_backend
from toolproxy.agent.tools import ErrorText, tools_from_module
from toolproxy.child_process import free_port, stop_process, wait_healthy

mcp = pytest.importorskip("mcp")
from mcp import Client, StdioServerParameters  # noqa: E402
from mcp import types as mcp_types  # noqa: E402

from toolproxy.agent.mcp_client import result_text  # noqa: E402
from toolproxy.agent.mcp_server import mcp_server  # noqa: E402

FIXTURES = str(Path(__file__).with_name("fixtures_tools.py"))
TOOLPROXY = [sys.executable, "-m", "toolproxy"]
STDIO_SERVER = " ".join([*TOOLPROXY, "tools", "serve", FIXTURES, "--mcp"])
TIMEOUT_S = 60

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def tool_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fixture tools' call log; the spawned servers inherit the variable."""
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("TOOLPROXY_TEST_TOOL_LOG", str(log))
    return log


def logged(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@pytest.fixture
def http_server(tool_log: Path) -> Iterator[str]:
    """`toolproxy tools serve fixtures_tools.py --mcp-transport http` as a child process: its base URL."""
    port = free_port()
    argv = [*TOOLPROXY, "tools", "serve", FIXTURES, "--mcp-transport", "http", "--port", str(port)]
    proc = subprocess.Popen(argv, env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        problem = wait_healthy(url, proc, TIMEOUT_S, poll_s=0.1)
        if problem is not None:
            stop_process(proc, timeout_s=5)
            pytest.fail(f"tools serve {problem}: {proc.stderr.read().decode() if proc.stderr else ''}")
        yield url
    finally:
        stop_process(proc, timeout_s=15)


def stdio_params(*extra: str) -> StdioServerParameters:
    return StdioServerParameters(command=sys.executable, args=["-m", "toolproxy", "tools", "serve", *extra],
                                 env=dict(os.environ))


def text_of(result: mcp_types.CallToolResult) -> str:
    return "".join(block.text for block in result.content if isinstance(block, mcp_types.TextContent))


async def check_fixture_tools(client: Client, log: Path) -> None:
    """The same schemas the agent builds locally; results, isError and the call running in the server."""
    listed = {tool.name: tool for tool in (await client.list_tools()).tools}
    local = {tool.name: tool for tool in tools_from_module(FIXTURES)}
    assert list(listed) == list(local) == ["add", "get_weather", "slow_echo", "fail"]
    for name, tool in local.items():
        assert listed[name].input_schema == tool.parameters
        assert listed[name].description == tool.description
    added = await client.call_tool("add", {"a": 20, "b": 22})
    assert (text_of(added), added.is_error) == ("42", False)
    assert logged(log) == [{"tool": "add", "a": 20, "b": 22, "result": 42}]
    weather = await client.call_tool("get_weather", {"place": {"city": "Nice"}, "unit": "fahrenheit"})
    assert json.loads(text_of(weather)) == {"city": "Nice", "country": "FR", "temperature": 70}
    failed = await client.call_tool("fail", {"reason": "boom"})
    assert (text_of(failed), failed.is_error) == ("Error: RuntimeError: boom", True)
    invalid = await client.call_tool("add", {"a": "x", "b": 1})
    assert invalid.is_error and text_of(invalid).startswith("Error: invalid arguments for add")
    with pytest.raises(mcp.MCPError, match="unknown tool 'nope'"):
        await client.call_tool("nope", {})


@pytest.mark.parametrize("mode", ["auto", "legacy"])  # legacy: the initialize handshake of pre-2026 clients
async def test_sdk_client_over_stdio(tool_log: Path, mode: str) -> None:
    with anyio.fail_after(TIMEOUT_S):
        async with Client(stdio_params(FIXTURES, "--mcp"), mode=mode) as client:
            await check_fixture_tools(client, tool_log)


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_sdk_client_over_streamable_http_beside_openapi(http_server: str, tool_log: Path, mode: str) -> None:
    import httpx

    with anyio.fail_after(TIMEOUT_S):
        async with Client(http_server + "/mcp", mode=mode) as client:
            await check_fixture_tools(client, tool_log)
    openapi = httpx.get(http_server + "/openapi.json", timeout=10).json()  # today's OpenAPI server, same port
    assert "/tools/add" in openapi["paths"]
    assert httpx.post(http_server + "/tools/add", json={"a": 1, "b": 2}, timeout=10).json() == 3
    foreign = httpx.post(http_server + "/mcp", json={}, headers={"Host": "evil.example"}, timeout=10)
    assert foreign.status_code >= 400  # the SDK's DNS-rebinding protection on a loopback server


def sandbox_available() -> bool:
    try:
        select_backend("auto")
    except SandboxUnavailable:
        return False
    return True


async def test_sandboxed_python_over_mcp() -> None:
    """`tools serve --std-tools --mcp`: the python tool keeps state between calls; a raise is isError."""
    extra = [] if sandbox_available() else ["--sandbox", "none"]  # then it must refuse, as the agent's does
    with anyio.fail_after(TIMEOUT_S):
        async with Client(stdio_params("--std-tools", "--mcp", "--python-timeout", "20", *extra)) as client:
            names = [tool.name for tool in (await client.list_tools()).tools]
            assert names == ["wait", "current_time", "ask_user", "python"]
            first = await client.call_tool("python", {"code": "x = 6 * 7"})
            if extra:
                assert first.is_error and text_of(first).startswith("Error: refused to run code")
                return
            assert (text_of(first), first.is_error) == ("(no output)", False)
            second = await client.call_tool("python", {"code": "print('x is', x)\nx + 1"})
            assert (text_of(second), second.is_error) == ("x is 42\n43", False)
            raised = await client.call_tool("python", {"code": "x / 0"})
            assert raised.is_error and "ZeroDivisionError" in text_of(raised)
            asked = await client.call_tool("ask_user", {"question": "color?"})
            assert asked.is_error  # nobody to ask behind an MCP server


async def test_in_process_server_maps_error_text_to_is_error() -> None:
    tools = tools_from_module(FIXTURES)
    async with Client(mcp_server(tools)) as client:
        ok = await client.call_tool("slow_echo", {"text": "hi", "delay": 0})
        assert (text_of(ok), ok.is_error) == ("hi", False)
        assert (await client.call_tool("fail", {"reason": "r"})).is_error


def test_result_text() -> None:
    def result(*content: Any, error: bool = False, structured: Any = None) -> mcp_types.CallToolResult:
        return mcp_types.CallToolResult(content=list(content), is_error=error, structured_content=structured)

    text = mcp_types.TextContent(text="hello")
    image = mcp_types.ImageContent(data="AAAA", mime_type="image/png")
    assert result_text(result(text, image)) == "hello\n[image content, image/png, not shown]"
    assert result_text(result(structured={"n": 1})) == '{"n": 1}'
    failure = result_text(result(mcp_types.TextContent(text="it broke"), error=True))
    assert isinstance(failure, ErrorText) and failure == "Error: it broke"
    assert result_text(result(mcp_types.TextContent(text="Error: x"), error=True)) == "Error: x"
    assert not isinstance(result_text(result(text)), ErrorText)


def mcp_children() -> list[psutil.Process]:
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "--mcp" in child.cmdline():
                found.append(child)
        except psutil.Error:
            continue
    return found


def run_agent_cli(script: Script, *args: str) -> int:
    with running_server(scripted_app(script)) as url:
        return agent_main(["--goal", "add 20 and 22", "--base-url", url + "/v1", *args])


def test_agent_with_tools_of_a_stdio_mcp_server(capsys: pytest.CaptureFixture[str], tool_log: Path) -> None:
    script = Script([
        reply(None, [call("add", {"a": 20, "b": 22}, "k"), call("fail", {"reason": "no"}, "f")]),
        reply("It is 42."),
    ])
    code = run_agent_cli(script, "--mcp", STDIO_SERVER, "--tool-choice", "add,none")
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.rstrip().splitlines()[-1] == "answer: It is 42."
    assert {t["function"]["name"] for t in script.requests[0]["tools"]} == {"add", "get_weather", "slow_echo", "fail"}
    add = next(t["function"] for t in script.requests[0]["tools"] if t["function"]["name"] == "add")
    assert add["parameters"]["required"] == ["a", "b"]
    observations = [m["content"] for m in script.requests[1]["messages"] if m["role"] == "tool"]
    assert observations == ["42", "Error: RuntimeError: no"]
    assert logged(tool_log) == [{"tool": "add", "a": 20, "b": 22, "result": 42}]  # ran in the MCP server
    deadline = time.monotonic() + 10
    while mcp_children() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert mcp_children() == []  # the spawned server was shut down


def test_agent_with_tools_of_an_http_mcp_server_and_a_local_module(
    http_server: str, capsys: pytest.CaptureFixture[str], tool_log: Path
) -> None:
    """--mcp URL beside --tools: the names collide (same fixture module) until --mcp-prefix."""
    script = Script([reply(None, [call("fixtures_tools_add", {"a": 1, "b": 2}, "k")]),
                     reply("3")])
    code = run_agent_cli(script, "--mcp", http_server + "/mcp", "--tools", FIXTURES)
    err = capsys.readouterr().err
    assert code == 2 and "two tools are named 'add'" in err and "--mcp-prefix" in err
    assert script.requests == []
    code = run_agent_cli(script, "--mcp", http_server + "/mcp", "--tools", FIXTURES, "--mcp-prefix")
    out = capsys.readouterr().out
    assert code == 0, out
    names = [t["function"]["name"] for t in script.requests[0]["tools"]]
    assert names == ["add", "get_weather", "slow_echo", "fail", *(f"fixtures_tools_{n}" for n in
                                                                 ("add", "get_weather", "slow_echo", "fail"))]
    assert "<- fixtures_tools_add: 3" in out
    assert logged(tool_log) == [{"tool": "add", "a": 1, "b": 2, "result": 3}]


def test_agent_runs_python_in_the_sandbox_of_an_mcp_server(capsys: pytest.CaptureFixture[str]) -> None:
    """The std tools served over MCP: the agent's python calls run in the server's sandbox, state kept."""
    extra = "" if sandbox_available() else " --sandbox none"
    server = " ".join([*TOOLPROXY, "tools", "serve", "--std-tools", "--mcp"]) + extra
    script = Script([reply(None, [call("python", {"code": "x = 6 * 7"}, "a")]),
                     reply(None, [call("python", {"code": "print(x)"}, "b")]), reply("42")])
    code = run_agent_cli(script, "--mcp", server)
    assert code == 0, capsys.readouterr()
    observations = [m["content"] for m in script.requests[2]["messages"] if m["role"] == "tool"]
    if extra:
        assert all(o.startswith("Error: refused to run code") for o in observations)
    else:
        assert observations == ["(no output)", "42"]


def test_a_server_that_dies_mid_run_becomes_error_observations(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    module = tmp_path / "dying.py"
    module.write_text("import os\n\n\ndef die() -> str:\n    os._exit(1)\n\n\n"
                      "def echo(text: str) -> str:\n    print('noise on stdout')\n    return text\n")
    server = " ".join([*TOOLPROXY, "tools", "serve", str(module), "--mcp"])
    script = Script([reply(None, [call("echo", {"text": "alive"}, "a")]), reply(None, [call("die", {}, "b")]),
                     reply(None, [call("echo", {"text": "still?"}, "c")]), reply("over")])
    code = run_agent_cli(script, "--mcp", server, "--mcp-timeout", "30")
    assert code == 0, capsys.readouterr()
    observations = [m["content"] for m in script.requests[3]["messages"] if m["role"] == "tool"]
    assert observations[0] == "alive"  # the print went to stderr, not into the protocol
    assert observations[1].startswith("Error: die via MCP server") and "failed" in observations[1]
    assert observations[2].startswith("Error: ")


def test_a_call_past_the_timeout_is_an_error_observation(capsys: pytest.CaptureFixture[str]) -> None:
    script = Script([reply(None, [call("slow_echo", {"text": "late", "delay": 5}, "a")]),
                     reply(None, [call("slow_echo", {"text": "quick", "delay": 0}, "b")]), reply("done")])
    code = run_agent_cli(script, "--mcp", STDIO_SERVER, "--mcp-timeout", "1.5")
    assert code == 0, capsys.readouterr()
    observations = [m["content"] for m in script.requests[2]["messages"] if m["role"] == "tool"]
    assert observations[0].startswith("Error: slow_echo via MCP server") and "failed" in observations[0]
    assert observations[1] == "quick"  # the session survives a timed-out call


class TimedRequests(list[dict[str, Any]]):
    """Script.requests that also notes when each request arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    def append(self, item: dict[str, Any]) -> None:
        self.times.append(time.monotonic())
        super().append(item)


def test_agent_mcp_calls_run_concurrently(capsys: pytest.CaptureFixture[str]) -> None:
    script = Script([reply(None, [call("slow_echo", {"text": "one", "delay": 1.0}, "a"),
                                  call("slow_echo", {"text": "two", "delay": 1.0}, "b")]), reply("done")],
                    requests=TimedRequests())
    code = run_agent_cli(script, "--mcp", STDIO_SERVER)
    assert code == 0, capsys.readouterr()
    assert [m["content"] for m in script.requests[1]["messages"] if m["role"] == "tool"] == ["one", "two"]
    times = script.requests.times  # type: ignore[attr-defined]
    assert 1.0 <= times[1] - times[0] < 1.8  # two 1 s calls side by side, not one after the other


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("/nonexistent/mcp-server --flag", "cannot use MCP server '/nonexistent/mcp-server --flag'"),
        (f"http://127.0.0.1:{free_port()}/mcp", "cannot use MCP server 'http://127.0.0.1:"),
        ("'unclosed", "cannot parse the MCP server command"),
        (f"{sys.executable} -c 'import sys; sys.exit(3)'", "MCP server"),
    ],
)
def test_bad_mcp_sources_are_one_clear_error(source: str, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    script = Script([reply("hi")])
    code = run_agent_cli(script, "--mcp", source, "--mcp-connect-timeout", "20")
    err = capsys.readouterr().err
    assert code == 2 and message in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert script.requests == []


def test_missing_mcp_package_is_one_line_naming_the_extra(monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    real = agent_cli.importlib.util.find_spec
    monkeypatch.setattr(agent_cli.importlib.util, "find_spec", lambda name, *a: None if name == "mcp" else real(name))
    with pytest.raises(AgentError, match=r"pip install 'toolproxy\[mcp\]'"):
        agent_cli.require_mcp()
    assert agent_cli.tools_main(["serve", FIXTURES, "--mcp"]) == 2
    assert run_agent_cli(Script([reply("hi")]), "--mcp", STDIO_SERVER) == 2
    for line in capsys.readouterr().err.strip().splitlines():
        assert line.endswith("MCP support needs the mcp package: pip install 'toolproxy[mcp]'")


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_agent_on_the_real_embedded_model_with_an_mcp_tool(tool_log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """test_e2e's goal on the bundled model, the add tool coming from a spawned MCP server this time."""
    from tests.agent.test_e2e import AGENT_ARGS, SERVE_ARGS, check_run

    code = agent_main([*AGENT_ARGS, "--mcp", STDIO_SERVER, *SERVE_ARGS])
    check_run(code, capsys.readouterr().out, tool_log)
