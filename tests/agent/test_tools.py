"""Python module -> tools (schemas from annotations, docs from docstrings) and OpenAPI URL -> tools."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from tests.servers import running_server
from toolproxy.agent.errors import ToolLoadError
from toolproxy.agent.openapi import tools_from_openapi
from toolproxy.agent.server import tools_app
from toolproxy.agent.tools import module_functions, parse_docstring, tools_from_module

FIXTURES = str(Path(__file__).with_name("fixtures_tools.py"))


def by_name(tools: list[Any]) -> dict[str, Any]:
    return {tool.name: tool for tool in tools}


def test_public_annotated_functions_become_tools() -> None:
    tools = tools_from_module(FIXTURES)
    assert [t.name for t in tools] == ["add", "get_weather", "slow_echo", "fail"]
    add = by_name(tools)["add"]
    assert add.description == "Add two integers."
    assert add.parameters == {
        "type": "object",
        "properties": {
            "a": {"type": "integer", "description": "the first addend."},
            "b": {"type": "integer", "description": "the second addend."},
        },
        "required": ["a", "b"],
        "additionalProperties": False,
    }
    weather = by_name(tools)["get_weather"].parameters
    assert weather["properties"]["unit"]["enum"] == ["celsius", "fahrenheit"]
    assert weather["properties"]["place"]["description"] == "where to look."
    assert weather["$defs"]["Place"]["required"] == ["city"]
    for tool in tools:
        jsonschema.Draft202012Validator.check_schema(tool.parameters)
        assert tool.openai()["function"]["name"] == tool.name


@pytest.mark.parametrize(
    ("doc", "summary", "params"),
    [
        ("Do it.\n\nArgs:\n    x (int): the x\n        continued.\n    y: why\n", "Do it.",
         {"x": "the x continued.", "y": "why"}),
        ("Do it.\n\nParameters\n----------\nx : int\n    the x\ny : str\n    why\n\nReturns\n-------\nint\n",
         "Do it.", {"x": "the x", "y": "why"}),
        ("Only a summary\nover two lines.", "Only a summary\nover two lines.", {}),
        (None, "", {}),
    ],
)
def test_docstrings(doc: str | None, summary: str, params: dict[str, str]) -> None:
    assert parse_docstring(doc) == (summary, params)


async def test_calls_validate_and_report_errors_as_text() -> None:
    tools = by_name(tools_from_module(FIXTURES))
    assert await tools["add"].call({"a": 2, "b": 40}) == "42"
    assert json.loads(await tools["get_weather"].call({"place": {"city": "Lyon"}})) == {
        "city": "Lyon", "country": "FR", "temperature": 21}
    assert (await tools["add"].call({"a": 1})).startswith("Error: invalid arguments for add")
    assert (await tools["add"].call({"a": 1, "b": 2, "c": 3})).startswith("Error: invalid arguments")
    assert await tools["fail"].call({"reason": "nope"}) == "Error: RuntimeError: nope"
    assert await tools["slow_echo"].call({"text": "hi", "delay": 0}) == "hi"


def test_bad_sources_are_typed_errors(tmp_path: Path) -> None:
    with pytest.raises(ToolLoadError):
        tools_from_module(str(tmp_path / "missing.py"))
    empty = tmp_path / "empty.py"
    empty.write_text("def f(x):\n    return x\n")
    with pytest.raises(ToolLoadError, match="no public, type-annotated function"):
        tools_from_module(str(empty))
    broken = tmp_path / "broken.py"
    broken.write_text("raise ValueError('at import')\n")
    with pytest.raises(ToolLoadError, match="at import"):
        tools_from_module(str(broken))


async def test_tool_server_round_trip_over_openapi() -> None:
    """`tools serve` app on real HTTP -> its /openapi.json -> tools with the same schemas and results."""
    local = by_name(tools_from_module(FIXTURES))
    with running_server(tools_app(module_functions(FIXTURES))) as url:
        async with httpx.AsyncClient(timeout=10) as client:
            remote = by_name(await tools_from_openapi(url, client))
            assert sorted(remote) == sorted(local)
            assert remote["add"].description == "Add two integers."
            assert remote["add"].parameters["properties"] == local["add"].parameters["properties"]
            assert remote["add"].parameters["required"] == ["a", "b"]
            assert remote["add"].parameters["additionalProperties"] is False
            place = remote["get_weather"].parameters["properties"]["place"]
            assert place["properties"]["city"] == {"type": "string"}  # $ref inlined
            assert await remote["add"].call({"a": 2, "b": 40}) == "42"
            weather = await remote["get_weather"].call({"place": {"city": "Nice"}, "unit": "fahrenheit"})
            assert json.loads(weather)["temperature"] == 70
            assert await remote["slow_echo"].call({"text": "hey", "delay": 0}) == "hey"
            assert (await remote["add"].call({"a": "x", "b": 1})).startswith("Error: HTTP 422")
            assert await remote["fail"].call({"reason": "bad"}) == 'Error: HTTP 500: {"error": "RuntimeError: bad"}'
            with pytest.raises(ToolLoadError):
                await tools_from_openapi(url + "/nothing-here", client)


async def test_tools_serve_cli_serves_the_module(tools_url: tuple[str, Path]) -> None:
    """`toolproxy tools serve fixtures_tools.py` as a real process: its tools run in that process."""
    url, log = tools_url
    log.unlink(missing_ok=True)
    async with httpx.AsyncClient(timeout=10) as client:
        remote = by_name(await tools_from_openapi(url + "/openapi.json", client))
        assert await remote["add"].call({"a": 1, "b": 2}) == "3"
    assert json.loads(log.read_text()) == {"tool": "add", "a": 1, "b": 2, "result": 3}
