"""Every design-card style x every tool_choice x parallel on/off, on the real embedded model:
the answer obeys the choice because the grammar leaves the model no other option."""

from __future__ import annotations

import json

import httpx
import pytest

pytestmark = pytest.mark.slow

STYLES = ["thoughtful_steps", "functionary", "mixtral", "hermes"]
CHOICES = ["auto", "none", "required", "named"]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the current weather in a city",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "maxLength": 40},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                },
                "required": ["city", "unit"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_time",
            "description": "Get the local time in a time zone",
            "parameters": {
                "type": "object",
                "properties": {"timezone": {"type": "string", "maxLength": 40}},
                "required": ["timezone"],
            },
        },
    },
]
PROPS = {"get_weather": {"city", "unit"}, "get_time": {"timezone"}}


@pytest.mark.parametrize("parallel", [True, False], ids=["parallel", "single"])
@pytest.mark.parametrize("choice", CHOICES)
@pytest.mark.parametrize("style", STYLES)
def test_style_obeys_tool_choice(embedded_url: str, style: str, choice: str, parallel: bool) -> None:
    tool_choice: object = choice
    if choice == "named":
        tool_choice = {"type": "function", "function": {"name": "get_time"}}
    body = {
        "messages": [{"role": "user", "content": "What is the weather in Paris and the time in Tokyo?"}],
        "tools": TOOLS,
        "tool_choice": tool_choice,
        "parallel_tool_calls": parallel,
        "style": style,
        "max_tokens": 160,
    }
    response = httpx.post(f"{embedded_url}/v1/chat/completions", json=body, timeout=300)
    assert response.status_code == 200, response.text
    choice_out = response.json()["choices"][0]
    message, finish = choice_out["message"], choice_out["finish_reason"]
    calls = message.get("tool_calls") or []
    if choice == "none":
        assert not calls, message
        assert finish in ("stop", "length")
        return
    if choice in ("required", "named"):
        assert calls, f"no tool call under tool_choice={choice}: {message}"
        assert finish == "tool_calls", choice_out
    if not parallel:
        assert len(calls) <= 1, calls
    for call in calls:
        assert call["id"].startswith("call_")
        name = call["function"]["name"]
        if choice == "named":
            assert name == "get_time"
        assert name in PROPS
        args = json.loads(call["function"]["arguments"])
        assert isinstance(args, dict) and set(args) == PROPS[name], args
        if name == "get_weather":
            assert args["unit"] in ("celsius", "fahrenheit")
    ids = [call["id"] for call in calls]
    assert len(ids) == len(set(ids))
