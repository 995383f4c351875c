"""Issue 14 on the real embedded model: pythonic with a parameter named ``from`` (a Python keyword) and a tool
named ``get-weather`` (not a Python name) answers 200 with valid calls, the grammar in llama.cpp."""

from __future__ import annotations

import json

import httpx
import jsonschema
import pytest

pytestmark = pytest.mark.slow

BOOK = {"type": "object", "properties": {"from": {"type": "string"}, "to": {"type": "string"}},
        "required": ["from", "to"]}
WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


@pytest.mark.parametrize(("name", "parameters", "ask"), [
    ("book_trip", BOOK, "Book a trip from Paris to Rome."),
    ("get-weather", WEATHER, "Weather in Paris?"),
])
def test_pythonic_calls_a_tool_python_cannot_spell(embedded_url: str, name: str, parameters: dict[str, object],
                                                   ask: str) -> None:
    body = {"messages": [{"role": "user", "content": ask}], "style": "pythonic", "max_tokens": 48,
            "tools": [{"type": "function", "function": {"name": name, "description": "", "parameters": parameters}}],
            "tool_choice": "required", "parallel_tool_calls": False, "seed": 1, "temperature": 0}
    response = httpx.post(f"{embedded_url}/v1/chat/completions", json=body, timeout=300)
    assert response.status_code == 200, response.text
    message = response.json()["choices"][0]["message"]
    assert message.get("tool_calls"), message
    call = message["tool_calls"][0]["function"]
    assert call["name"] == name
    jsonschema.validate(json.loads(call["arguments"]), parameters)
