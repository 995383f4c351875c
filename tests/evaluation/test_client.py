"""The strict reply check behind the "malformed" counts."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from toolproxy.evaluation.client import parse_chat_completion

GOOD: dict[str, Any] = {
    "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
    "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": None,
        "tool_calls": [{"id": "call_1", "type": "function",
                        "function": {"name": "math.factorial", "arguments": "{\"number\": 5}"}}]}}],
    "usage": {"prompt_tokens": 10, "completion_tokens": 7, "total_tokens": 17},
}


def test_a_valid_completion_parses() -> None:
    calls, content, finish, tokens = parse_chat_completion(GOOD)
    assert [(c.name, c.arguments) for c in calls] == [("math.factorial", {"number": 5})]
    assert content is None and finish == "tool_calls" and tokens == 7


def _broken(path: list[Any], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(GOOD)
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


CALL = ["choices", 0, "message", "tool_calls", 0]


@pytest.mark.parametrize("data", [
    _broken([*CALL, "function", "arguments"], {"number": 5}),  # an object, not a JSON string
    _broken([*CALL, "function", "arguments"], "{\"number\": 5"),  # not JSON
    _broken([*CALL, "function", "arguments"], "[5]"),  # JSON, but not an object
    _broken([*CALL, "id"], ""),
    _broken([*CALL, "type"], "tool"),
    _broken(["choices"], []),
    _broken(["object"], "chat.completion.chunk"),
    _broken(["choices", 0, "finish_reason"], "done"),
    _broken(["choices", 0, "message", "role"], "user"),
    _broken(["choices", 0, "message", "content"], 5),
    _broken(["choices", 0, "message", "tool_calls"], [GOOD["choices"][0]["message"]["tool_calls"][0]] * 2),
    ["not", "an", "object"],
], ids=lambda d: "case")
def test_malformed_replies_are_named(data: Any) -> None:
    with pytest.raises(ValueError):
        parse_chat_completion(data)



def test_a_call_cut_off_by_max_tokens_is_truncated_not_malformed() -> None:
    import pytest as _pytest

    from toolproxy.evaluation.client import parse_chat_completion

    def body(finish: str) -> dict[str, object]:
        return {"id": "x", "object": "chat.completion", "choices": [{"index": 0, "finish_reason": finish, "message": {
            "role": "assistant", "content": None,
            "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"'}}]}}]}

    calls, _, finish, _ = parse_chat_completion(body("length"))
    assert calls == [] and finish == "length"
    with _pytest.raises(ValueError, match="not valid JSON"):
        parse_chat_completion(body("tool_calls"))


def test_a_connection_reset_is_retried_once_then_raised() -> None:
    """A kept-alive connection the server closed (fault injected by a mock transport) costs no question; a server
    that keeps failing stops the run."""
    import httpx

    from toolproxy.evaluation.client import EvalClient

    failures = 1

    def handle(request: httpx.Request) -> httpx.Response:
        nonlocal failures
        if failures:
            failures -= 1
            raise httpx.ReadError("connection reset", request=request)
        return httpx.Response(200, json=GOOD)

    client = EvalClient("http://test")
    client._http = httpx.Client(base_url="http://test", transport=httpx.MockTransport(handle))
    reply = client.chat([{"role": "user", "content": "5!"}], [], "hermes")
    assert reply.ok and [c.name for c in reply.calls] == ["math.factorial"]
    failures = 2
    with pytest.raises(httpx.ReadError):
        client.chat([{"role": "user", "content": "5!"}], [], "hermes")
