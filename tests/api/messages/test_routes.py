"""POST /v1/messages and /v1/messages/count_tokens on the scripted backend: blocks, stop reasons, the stream's
events, x-api-key, and Anthropic-shaped errors."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.api.conftest import HERMES_CALL
from tests.hardening.conftest import Proxy, start_proxy
from toolproxy.backends.scripted import Script
from toolproxy.settings import Settings

TOOL = {"name": "get_weather", "description": "Weather in a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
USER = [{"role": "user", "content": "What is the weather in Paris?"}]


def create(proxy: Proxy, headers: dict[str, str] | None = None, **body: Any) -> httpx.Response:
    body.setdefault("messages", USER)
    body.setdefault("max_tokens", 64)
    return httpx.post(f"{proxy.url}/v1/messages", json=body, headers=headers, timeout=30)


def anthropic_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"type", "error"} and body["type"] == "error", body
    assert set(body["error"]) == {"type", "message"} and body["error"]["message"]
    return dict(body["error"])


def events(response: httpx.Response) -> list[dict[str, Any]]:
    out, name = [], None
    for line in response.text.splitlines():
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            payload = json.loads(line[6:])
            assert payload["type"] == name
            out.append(payload)
    return out


def test_text_message(fresh: Proxy) -> None:
    body = create(fresh, system=[{"type": "text", "text": "Be brief."}]).json()
    assert body["type"] == "message" and body["role"] == "assistant" and body["id"].startswith("msg_")
    assert body["content"] == [{"type": "text", "text": "Hello there."}]
    assert body["stop_reason"] == "end_turn" and body["stop_sequence"] is None
    assert body["usage"]["input_tokens"] > 0 and body["usage"]["output_tokens"] > 0
    assert "Be brief." in fresh.backend.requests[-1].prompt  # type: ignore[union-attr]


def test_tool_use(fresh: Proxy) -> None:
    fresh.script = Script(text=HERMES_CALL)
    body = create(fresh, tools=[TOOL], tool_choice={"type": "any"}).json()
    [block] = body["content"]
    assert block["type"] == "tool_use" and block["name"] == "get_weather" and block["input"] == {"city": "Paris"}
    assert body["stop_reason"] == "tool_use"


def test_tool_result_round_trip(fresh: Proxy) -> None:
    messages = [*USER,
                {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                                                   "input": {"city": "Paris"}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                                              "content": "rain, 12 C", "is_error": True}]}]
    assert create(fresh, messages=messages, tools=[TOOL]).json()["stop_reason"] == "end_turn"
    prompt = fresh.backend.requests[-1].prompt  # type: ignore[union-attr]
    assert "Error: rain, 12 C" in prompt and '"Paris"' in prompt


def test_stream_events(fresh: Proxy) -> None:
    fresh.script = Script(text="Checking. " + HERMES_CALL, chunk_size=2)
    stream = events(create(fresh, tools=[TOOL], stream=True))
    kinds = [e["type"] for e in stream]
    assert kinds[:2] == ["message_start", "ping"] and kinds[-2:] == ["message_delta", "message_stop"]
    starts = [e for e in stream if e["type"] == "content_block_start"]
    assert [s["content_block"]["type"] for s in starts] == ["text", "tool_use"]
    text = "".join(e["delta"]["text"] for e in stream if e["type"] == "content_block_delta" and e["index"] == 0)
    partial = "".join(e["delta"]["partial_json"] for e in stream
                      if e["type"] == "content_block_delta" and e["index"] == 1)
    assert text == "Checking." and json.loads(partial) == {"city": "Paris"}
    assert [e["index"] for e in stream if e["type"] == "content_block_stop"] == [0, 1]
    assert stream[-2]["delta"]["stop_reason"] == "tool_use"
    assert stream[-2]["usage"]["output_tokens"] > 0


def test_max_tokens_stop_reason_and_stop_sequences(fresh: Proxy) -> None:
    fresh.script = Script(text="Hello", finish_reason="length")
    assert create(fresh, max_tokens=3, stop_sequences=["END"]).json()["stop_reason"] == "max_tokens"
    request = fresh.backend.requests[-1]  # type: ignore[union-attr]
    assert request.max_tokens == 3 and request.stop == ("END",)


def test_stop_sequence_stop_reason(fresh: Proxy) -> None:
    fresh.script = Script(text="Hello", stop_sequence="END")
    body = create(fresh, stop_sequences=["END"]).json()
    assert body["stop_reason"] == "stop_sequence" and body["stop_sequence"] == "END"
    delta = events(create(fresh, stop_sequences=["END"], stream=True))[-2]["delta"]
    assert delta == {"stop_reason": "stop_sequence", "stop_sequence": "END"}


def test_disable_parallel_tool_use(fresh: Proxy) -> None:
    fresh.script = Script(text=HERMES_CALL)
    create(fresh, tools=[TOOL], tool_choice={"type": "any", "disable_parallel_tool_use": True})
    single = fresh.backend.requests[-1].grammar  # type: ignore[union-attr]
    create(fresh, tools=[TOOL], tool_choice={"type": "any"})
    assert single != fresh.backend.requests[-1].grammar  # type: ignore[union-attr]


def test_count_tokens(fresh: Proxy) -> None:
    response = httpx.post(f"{fresh.url}/v1/messages/count_tokens", json={"messages": USER, "tools": [TOOL]})
    assert response.status_code == 200 and response.json()["input_tokens"] > 0


@pytest.mark.parametrize(("body", "words"), [
    ({"max_tokens": None}, "max_tokens"),
    ({"messages": [{"role": "user", "content": [{"type": "image", "source": {}}]}]}, "'image'"),
    ({"tools": [{"type": "web_search_20250305", "name": "web_search"}]}, "'web_search_20250305'"),
    ({"tool_choice": {"type": "any"}}, "at least one tool"),
    ({"tool_choice": {"type": "tool"}}, "tool_choice"),
    ({"top_k": 5}, "top_k"),
    ({"messages": []}, "messages"),
    ({"max_tokens": 10**6}, "max_tokens too large"),
    ({"stop_sequences": ["x"] * 100}, "too many stop strings"),
])
def test_bad_input_is_an_anthropic_400(fresh: Proxy, body: dict[str, Any], words: str) -> None:
    if body.get("max_tokens", 1) is None:
        response = httpx.post(f"{fresh.url}/v1/messages", json={"messages": USER}, timeout=30)
    else:
        response = create(fresh, **body)
    error = anthropic_error(response, 400)
    assert error["type"] == "invalid_request_error" and words in error["message"], error


def test_stream_failure_is_an_error_event(fresh: Proxy) -> None:
    fresh.script = Script(text="Hello there, world.", fail_after=2)
    stream = events(create(fresh, stream=True))
    assert stream[-1]["type"] == "error" and stream[-1]["error"]["type"] == "api_error"


def test_not_found_route_under_messages_is_anthropic_shaped(fresh: Proxy) -> None:
    assert anthropic_error(httpx.get(f"{fresh.url}/v1/messages/nope"), 404)["type"] == "not_found_error"


def test_x_api_key_and_bearer() -> None:
    with start_proxy(Settings(style="hermes", api_keys=["sekret"])) as locked:
        assert anthropic_error(create(locked), 401)["type"] == "authentication_error"
        assert create(locked, headers={"x-api-key": "sekret"}).status_code == 200
        assert create(locked, headers={"Authorization": "Bearer sekret"}).status_code == 200
        assert create(locked, headers={"x-api-key": "wrong"}).status_code == 401
        chat = httpx.post(f"{locked.url}/v1/chat/completions", headers={"x-api-key": "sekret"},
                          json={"messages": USER})
        assert chat.status_code == 200


def test_thinking_block_when_the_style_thinks(fresh: Proxy) -> None:
    fresh.script = Script(text='I know this.", "next_step": {"result": "Sunny."}}')  # after the forced prefix
    body = create(fresh, tools=[TOOL], style="thoughtful_steps").json()
    assert body["content"] == [{"type": "thinking", "thinking": "I know this.", "signature": ""},
                               {"type": "text", "text": "Sunny."}]
    stream = events(create(fresh, tools=[TOOL], style="thoughtful_steps", stream=True))
    deltas = [e["delta"] for e in stream if e["type"] == "content_block_delta"]
    assert "".join(d["thinking"] for d in deltas if d["type"] == "thinking_delta") == "I know this."


def test_body_too_large_is_an_anthropic_413(fresh: Proxy) -> None:
    big = [{"role": "user", "content": "x" * 300_000}]
    error = anthropic_error(create(fresh, messages=big), 413)
    assert error["type"] == "request_too_large" and "max_request_bytes" in error["message"]


def test_prefill_is_continued_and_not_repeated(fresh: Proxy) -> None:
    fresh.script = Script(text=" sunny and 21 C.")
    body = create(fresh, messages=[*USER, {"role": "assistant", "content": "In Paris it is"}]).json()
    assert [block["text"] for block in body["content"]] == [" sunny and 21 C."]  # the continuation only
    prompt = fresh.backend.requests[-1].prompt  # type: ignore[union-attr]
    assert prompt.endswith("In Paris it is") and prompt.count("In Paris it is") == 1
    assert "What is the weather in Paris?" in prompt


def test_prefill_with_tool_calls_possible_is_an_anthropic_400(fresh: Proxy) -> None:
    error = anthropic_error(create(fresh, tools=[TOOL], messages=[*USER, {"role": "assistant", "content": "I"}]),
                            400)
    assert error["type"] == "invalid_request_error" and "continue" in error["message"]
    ok = create(fresh, tools=[TOOL], tool_choice={"type": "none"},
                messages=[*USER, {"role": "assistant", "content": "I"}])
    assert ok.status_code == 200
