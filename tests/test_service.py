"""Request checks and style fallbacks of the service, over HTTP on the scripted backend (issue 14)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.hardening.conftest import Proxy, openai_error, start_proxy
from toolproxy.backends.scripted import Script
from toolproxy.settings import Settings


@pytest.fixture(scope="module")
def served() -> Iterator[Proxy]:
    with start_proxy(Settings(style="hermes")) as running:
        yield running


CALLED = [
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
]


@pytest.mark.parametrize("tool_message", [
    {"role": "tool", "content": "21C"},
    {"role": "tool", "content": "21C", "tool_call_id": None},
])
def test_a_tool_message_without_tool_call_id_is_a_400(served: Proxy, tool_message: dict[str, Any]) -> None:
    """OpenAI requires ``tool_call_id`` on every role-``tool`` message and answers 400 naming it."""
    error = openai_error(served.chat(messages=[*CALLED, tool_message]), 400)
    assert error["type"] == "invalid_request_error"
    assert error["param"] == "messages[2].tool_call_id"
    assert "tool_call_id" in error["message"]


def test_a_tool_message_with_its_id_is_answered(served: Proxy) -> None:
    served.script = Script(text="It is 21C in Paris.")
    response = served.chat(messages=[*CALLED, {"role": "tool", "tool_call_id": "call_1", "content": "21C"}])
    assert response.status_code == 200, response.text
    assert json.loads(response.text)["choices"][0]["message"]["content"] == "It is 21C in Paris."


# ------------------------------------------------------------------ a style that cannot write a tool (issue 14)

BOOK = {"type": "function", "function": {"name": "book_trip", "description": "Book a trip", "parameters": {
    "type": "object", "properties": {"from": {"type": "string"}, "to": {"type": "string"},
                                     "max-stops": {"type": "integer"}},
    "required": ["from", "to"]}}}
HYPHENATED: dict[str, Any] = {"type": "function", "function": {
    "name": "get-weather", "description": "Weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
TRIP = [{"role": "user", "content": "Book Paris to Rome"}]


def _call(response: Any) -> tuple[str, dict[str, Any]]:
    assert response.status_code == 200, response.text
    message = json.loads(response.text)["choices"][0]["message"]
    assert message.get("tool_calls"), message
    function = message["tool_calls"][0]["function"]
    return function["name"], json.loads(function["arguments"])


def test_pythonic_writes_a_python_keyword_parameter(served: Proxy) -> None:
    served.script = Script(text='[book_trip(**{"from": "Paris"}, to="Rome", **{"max-stops": 0})]')
    response = served.chat(messages=TRIP, tools=[BOOK], style="pythonic", tool_choice="required")
    assert _call(response) == ("book_trip", {"from": "Paris", "to": "Rome", "max-stops": 0})
    grammar = served.backend.requests[-1].grammar if served.backend else None
    assert grammar is not None and '**{\\"from\\": ' in grammar


def test_a_tool_name_python_cannot_write_falls_back_to_a_style_that_can(served: Proxy,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    served.script = Script(text='<tool_call>{"name": "get-weather", "arguments": {"city": "Paris"}}</tool_call>')
    with caplog.at_level("WARNING", logger="toolproxy.service"):
        response = served.chat(messages=TRIP, tools=[HYPHENATED, BOOK], style="pythonic")
    assert _call(response) == ("get-weather", {"city": "Paris"})
    assert any("pythonic" in r.getMessage() and "hermes" in r.getMessage() for r in caplog.records)


def _styles() -> list[str]:
    from toolproxy.styles import style_names

    return [s for s in style_names() if s != "auto-best"]


@pytest.mark.parametrize("style", _styles())
@pytest.mark.parametrize("tool_choice", ["auto", "required"])
def test_no_style_refuses_awkward_names(served: Proxy, style: str, tool_choice: str) -> None:
    """Python keywords, hyphens and dots in parameter and tool names are valid requests in every style."""
    served.script = Script(text="Hello there.")
    dotted = {"type": "function", "function": {**HYPHENATED["function"], "name": "weather.v2-beta"}}
    response = served.chat(messages=TRIP, tools=[BOOK, HYPHENATED, dotted], style=style, tool_choice=tool_choice)
    assert response.status_code == 200, response.text


# ------------------------------------------------------------------ continue_final_message (vLLM's extension)


def test_continue_final_message_continues_the_assistant_text(served: Proxy) -> None:
    served.script = Script(text=" 21C.")
    messages = [{"role": "user", "content": "Weather in Paris?"}, {"role": "assistant", "content": "It is"}]
    body = json.loads(served.chat(messages=messages, continue_final_message=True).text)
    assert body["choices"][0]["message"]["content"] == " 21C."
    prompt = served.backend.requests[-1].prompt  # type: ignore[union-attr]
    assert prompt.endswith("It is") and prompt.count("It is") == 1
    plain = served.chat(messages=messages)  # without the flag the assistant message is history
    assert plain.status_code == 200 and not served.backend.requests[-1].prompt.endswith("It is")  # type: ignore


@pytest.mark.parametrize(("messages", "extra", "param"), [
    ([{"role": "user", "content": "Hi"}], {}, "messages[0]"),
    (CALLED, {}, "messages[1]"),
    ([{"role": "assistant", "content": "It is"}], {}, "messages"),
    ([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "It is"}],
     {"tools": [HYPHENATED], "tool_choice": "auto"}, "continue_final_message"),
])
def test_continue_final_message_refuses_what_it_cannot_continue(served: Proxy, messages: list[dict[str, Any]],
                                                                 extra: dict[str, Any], param: str) -> None:
    error = openai_error(served.chat(messages=messages, continue_final_message=True, **extra), 400)
    assert error["param"] == param
