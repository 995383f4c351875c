"""The HTTP layer on a scripted backend: OpenAI error shapes, auth, limits, SSE framing, faults."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.servers import running_server
from toolproxy.app import create_app
from toolproxy.backends.base import GenerationRequest
from toolproxy.backends.scripted import Script, ScriptedBackend
from toolproxy.settings import Settings

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]
HERMES_CALL = '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'


class Scripted:
    """Per-test control of what the scripted model says."""

    def __init__(self) -> None:
        self.script = Script(text="Hello there.")
        self.backend: ScriptedBackend | None = None

    def handler(self, _: GenerationRequest) -> Script:
        return self.script


@pytest.fixture(scope="module")
def scripted() -> Scripted:
    return Scripted()


@pytest.fixture(scope="module")
def base_url(scripted: Scripted) -> Iterator[str]:
    def factory(_: Settings) -> ScriptedBackend:
        scripted.backend = ScriptedBackend(scripted.handler)
        return scripted.backend

    settings = Settings(style="hermes", api_keys=[], max_request_bytes=64 * 1024)
    with running_server(create_app(settings, backend_factory=factory)) as url:
        yield url


def _error(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]
    return error


def chat(base_url: str, **body: object) -> httpx.Response:
    body.setdefault("messages", [{"role": "user", "content": "hi"}])
    return httpx.post(f"{base_url}/v1/chat/completions", json=body, timeout=30)


def test_health_and_models(base_url: str) -> None:
    assert httpx.get(f"{base_url}/health").json() == {"status": "ok"}
    models = httpx.get(f"{base_url}/v1/models").json()
    assert models["object"] == "list"
    assert models["data"][0]["id"] == "scripted"
    assert models["data"][0]["style"] == "hermes"


@pytest.mark.parametrize(
    ("body", "param_part"),
    [
        ({"messages": []}, "messages"),
        ({"messages": "hi"}, "messages"),
        ({"messages": [{"role": "wizard", "content": "x"}]}, "role"),
        ({"temperature": 9}, "temperature"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"tools": [{"type": "function", "function": {"name": ""}}]}, "tools"),
        ({"tool_choice": "sometimes", "tools": TOOLS}, "tool_choice"),
        ({"n": 3}, "n"),
        ({"reasoning_effort": "extreme"}, "reasoning_effort"),
        ({"reasoning_budget": -1}, "reasoning_budget"),
        ({"reasoning_budget": "lots"}, "reasoning_budget"),
    ],
)
def test_bad_requests_are_400_in_openai_shape(base_url: str, body: dict[str, object], param_part: str) -> None:
    error = _error(chat(base_url, **body), 400)
    assert error["type"] == "invalid_request_error"
    assert param_part in str(error["param"]) or param_part in str(error["message"])


@pytest.mark.parametrize(("field", "value", "words"), [
    ("reasoning_effort", "extreme", "low"),  # the message lists the values it takes
    ("reasoning_budget", -1, "greater than or equal to 0"),
])
def test_bad_reasoning_fields_name_the_field(base_url: str, field: str, value: object, words: str) -> None:
    error = _error(chat(base_url, **{field: value}), 400)
    assert (error["type"], error["param"]) == ("invalid_request_error", field), error
    assert words in str(error["message"]), error


def test_invalid_json_body(base_url: str) -> None:
    response = httpx.post(f"{base_url}/v1/chat/completions", content=b"{not json",
                          headers={"content-type": "application/json"})
    assert "JSON" in str(_error(response, 400)["message"])


def test_unknown_style_lists_known_ones(base_url: str) -> None:
    error = _error(chat(base_url, style="nope", tools=TOOLS), 400)
    assert "hermes" in str(error["message"]) and "thoughtful_steps" in str(error["message"])


def test_named_tool_choice_must_exist(base_url: str) -> None:
    error = _error(chat(base_url, tools=TOOLS, tool_choice={"type": "function", "function": {"name": "nope"}}), 400)
    assert error["param"] == "tool_choice"


def test_required_without_tools(base_url: str) -> None:
    assert _error(chat(base_url, tool_choice="required"), 400)["param"] == "tool_choice"


def test_unknown_route_is_404_shape(base_url: str) -> None:
    assert _error(httpx.get(f"{base_url}/v1/nothing"), 404)["type"] == "not_found_error"


def test_body_too_large(base_url: str) -> None:
    big = "x" * (100 * 1024)
    _error(chat(base_url, messages=[{"role": "user", "content": big}]), 413)


def test_plain_answer(base_url: str, scripted: Scripted) -> None:
    scripted.script = Script(text="Hello there.")
    body = chat(base_url).json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "Hello there."}
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]


def test_tool_call_answer(base_url: str, scripted: Scripted) -> None:
    scripted.script = Script(text=HERMES_CALL)
    body = chat(base_url, tools=TOOLS).json()
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    (call,) = choice["message"]["tool_calls"]
    assert call["id"].startswith("call_") and call["type"] == "function"
    assert call["function"]["name"] == "get_weather"
    assert isinstance(call["function"]["arguments"], str)
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}


def test_unparseable_output_is_kept_as_content(base_url: str, scripted: Scripted) -> None:
    scripted.script = Script(text='<tool_call>{"name": "get_weather", "argu')
    message = chat(base_url, tools=TOOLS).json()["choices"][0]["message"]
    kept = (message.get("content") or "") + json.dumps(message.get("tool_calls") or "")
    assert "get_weather" in kept


def _sse(response: httpx.Response) -> list[str]:
    return [line[len("data: "):] for line in response.text.splitlines() if line.startswith("data: ")]


def test_stream_framing(base_url: str, scripted: Scripted) -> None:
    scripted.script = Script(text="Sure. " + HERMES_CALL, chunk_size=1)
    response = httpx.post(f"{base_url}/v1/chat/completions", timeout=30, json={
        "messages": [{"role": "user", "content": "hi"}], "tools": TOOLS, "stream": True,
        "stream_options": {"include_usage": True}})
    data = _sse(response)
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    calls = [tc for c in chunks[1:-1] for tc in c["choices"][0]["delta"].get("tool_calls", [])]
    assert calls[0]["id"].startswith("call_") and calls[0]["function"]["name"] == "get_weather"
    assert sum(1 for c in calls if "id" in c) == 1
    args = "".join(c["function"].get("arguments", "") for c in calls)
    assert json.loads(args) == {"city": "Paris"}
    assert len(calls) > 2  # arguments arrived in several deltas, not all at the end


def test_stream_backend_failure_ends_with_error_event(base_url: str, scripted: Scripted) -> None:
    scripted.script = Script(text="a long answer that breaks", chunk_size=2, fail_after=3)
    response = httpx.post(f"{base_url}/v1/chat/completions", timeout=30,
                          json={"messages": [{"role": "user", "content": "hi"}], "stream": True})
    data = _sse(response)
    assert data[-1] == "[DONE]"
    error = json.loads(data[-2])["error"]
    assert error["type"] == "backend_error"
    # the server is still fine afterwards
    scripted.script = Script(text="ok")
    assert chat(base_url).json()["choices"][0]["message"]["content"] == "ok"


def test_api_key_required() -> None:
    def factory(_: Settings) -> ScriptedBackend:
        return ScriptedBackend(lambda _: Script(text="hi"))

    with running_server(create_app(Settings(api_keys=["k1", "k2"]), backend_factory=factory)) as url:
        _error(httpx.get(f"{url}/v1/models"), 401)
        _error(httpx.get(f"{url}/v1/models", headers={"Authorization": "Bearer nope"}), 401)
        assert httpx.get(f"{url}/v1/models", headers={"Authorization": "Bearer k2"}).status_code == 200
        assert httpx.get(f"{url}/health").status_code == 200


def test_non_streaming_request_is_cancelled_when_the_client_goes_away(base_url: str, scripted: Scripted) -> None:
    import time

    scripted.script = Script(text="x" * 200, chunk_size=2, delay=0.1)  # ~10 s of "generation"
    backend = scripted.backend
    assert backend is not None
    cancelled_before = backend.cancelled
    with pytest.raises(httpx.TimeoutException):
        httpx.post(f"{base_url}/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]},
                   timeout=0.5)
    deadline = time.monotonic() + 3
    while backend.active and time.monotonic() < deadline:
        time.sleep(0.05)
    assert backend.active == 0, "the abandoned generation is still running"
    assert backend.cancelled == cancelled_before + 1
    scripted.script = Script(text="next")
    assert chat(base_url).json()["choices"][0]["message"]["content"] == "next"


def test_repeated_calls_stop_generation_early(base_url: str, scripted: Scripted) -> None:
    """A small model that repeats its call forever: the server stops at the first exact repeat."""
    scripted.script = Script(text=HERMES_CALL * 20, chunk_size=8)
    backend = scripted.backend
    assert backend is not None
    cancelled = backend.cancelled
    choice = chat(base_url, tools=TOOLS).json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert len(choice["message"]["tool_calls"]) == 1
    assert backend.cancelled == cancelled + 1  # generation was stopped, not run to the end


def test_unexpected_error_is_a_500_and_the_connection_stays_usable() -> None:
    """A bug (here: the backend raises a plain RuntimeError) answers 500 in OpenAI's shape without closing the
    client's keep-alive connection (uvicorn closes it when an exception escapes the app), and the server
    serves the next request on the same connection."""
    calls = 0

    def handler(_: GenerationRequest) -> Script:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("boom")
        return Script(text="fine")

    settings = Settings(style="hermes", api_keys=[])
    app = create_app(settings, backend_factory=lambda _: ScriptedBackend(handler))
    with running_server(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        first = client.post("/v1/chat/completions", json=body)
        error = _error(first, 500)
        assert error["type"] == "server_error" and "RuntimeError" in str(error["message"])
        second = client.post("/v1/chat/completions", json=body)
        assert second.status_code == 200, second.text
        assert second.json()["choices"][0]["message"]["content"] == "fine"
        assert first.extensions["network_stream"] is second.extensions["network_stream"]  # one connection
