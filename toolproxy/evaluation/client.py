"""A strict OpenAI chat-completions client for the evaluation (plain httpx, so nothing is repaired for us).

Every reply is checked against the OpenAI response shape: a reply that is not a valid chat completion, or a tool
call whose ``arguments`` is not a JSON-object *string*, is counted as **malformed** — the thing real clients trip on
(except a call cut off by max_tokens under finish_reason "length": truncated, scored wrong, as OpenAI returns it).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

_RAW_LIMIT = 2000
_FINISH_REASONS = frozenset({"stop", "length", "tool_calls", "content_filter", "function_call"})


@dataclass(frozen=True)
class Call:
    id: str
    name: str
    arguments: dict[str, Any]
    arguments_text: str


@dataclass(frozen=True)
class Reply:
    calls: list[Call] = field(default_factory=list)
    content: str | None = None
    finish_reason: str | None = None
    completion_tokens: int = 0
    latency_s: float = 0.0
    malformed: str | None = None  # why the reply is not a valid OpenAI chat completion
    error: str | None = None  # a well-formed OpenAI error response (HTTP status + message)
    raw: str | None = None  # the response body (kept for malformed replies, to show what was wrong)

    @property
    def ok(self) -> bool:
        return self.malformed is None and self.error is None


class _Malformed(Exception):
    pass


def _need(condition: bool, what: str) -> None:
    if not condition:
        raise _Malformed(what)


def _parse_call(raw: Any, index: int, *, truncated: bool = False) -> Call | None:
    _need(isinstance(raw, dict), f"tool_calls[{index}] is not an object")
    _need(isinstance(raw.get("id"), str) and bool(raw["id"]), f"tool_calls[{index}].id is not a non-empty string")
    _need(raw.get("type") == "function", f"tool_calls[{index}].type is not 'function'")
    function = raw.get("function")
    _need(isinstance(function, dict), f"tool_calls[{index}].function is not an object")
    name, arguments = function.get("name"), function.get("arguments")
    _need(isinstance(name, str) and bool(name), f"tool_calls[{index}].function.name is not a non-empty string")
    _need(isinstance(arguments, str), f"tool_calls[{index}].function.arguments is not a string")
    try:
        parsed = json.loads(arguments)
    except ValueError:
        if truncated:
            return None
        raise _Malformed(f"tool_calls[{index}].function.arguments is not valid JSON") from None
    _need(isinstance(parsed, dict), f"tool_calls[{index}].function.arguments is not a JSON object")
    return Call(raw["id"], name, parsed, arguments)


def parse_chat_completion(data: Any) -> tuple[list[Call], str | None, str | None, int]:
    """Validate an OpenAI chat completion; returns (calls, content, finish_reason, completion tokens).

    Raises ``ValueError`` naming the first violation."""
    try:
        _need(isinstance(data, dict), "body is not a JSON object")
        _need(data.get("object") == "chat.completion", "object is not 'chat.completion'")
        _need(isinstance(data.get("id"), str), "id is not a string")
        choices = data.get("choices")
        _need(isinstance(choices, list) and len(choices) >= 1, "choices is not a non-empty list")
        choice = choices[0]
        _need(isinstance(choice, dict), "choices[0] is not an object")
        _need(choice.get("finish_reason") in _FINISH_REASONS, "choices[0].finish_reason is not a known reason")
        message = choice.get("message")
        _need(isinstance(message, dict) and message.get("role") == "assistant", "message.role is not 'assistant'")
        content = message.get("content")
        _need(content is None or isinstance(content, str), "message.content is neither a string nor null")
        raw_calls = message.get("tool_calls")
        _need(raw_calls is None or isinstance(raw_calls, list), "message.tool_calls is neither a list nor null")
        # A call cut off by max_tokens (finish_reason "length") keeps its partial arguments, as OpenAI does: that
        # answer is truncated (scored wrong), not malformed; the cut-off call is left out of the scored calls.
        truncated = choice.get("finish_reason") == "length"
        parsed_calls = [_parse_call(raw, i, truncated=truncated) for i, raw in enumerate(raw_calls or [])]
        calls = [call for call in parsed_calls if call is not None]
        _need(len({c.id for c in calls}) == len(calls), "tool call ids are not unique")
        usage = data.get("usage")
        tokens = usage.get("completion_tokens", 0) if isinstance(usage, dict) else 0
    except _Malformed as exc:
        raise ValueError(str(exc)) from None
    return calls, content, choice["finish_reason"], tokens if isinstance(tokens, int) else 0


def _error_message(status: int, body: Any) -> str | None:
    """The message of a well-formed OpenAI error body, or None."""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        message = body["error"].get("message")
        if isinstance(message, str):
            return f"HTTP {status}: {message}"
    return None


class EvalClient:
    """Sends chat completions with tools (``tool_choice: auto``, temperature 0) to a toolproxy server."""

    def __init__(self, base_url: str, *, api_key: str | None = None, max_tokens: int = 384, seed: int = 0,
                 timeout_s: float = 600.0) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout_s)
        self._max_tokens = max_tokens
        self._seed = seed
        self.model_id = "unknown"

    def connect(self) -> str:
        """Read the served model's id from ``/v1/models`` (it names the model in the results)."""
        response = self._http.get("/v1/models")
        response.raise_for_status()
        data = response.json().get("data") or [{}]
        self.model_id = str(data[0].get("id", "unknown"))
        return self.model_id

    def chat(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], style: str) -> Reply:
        body = {
            "model": self.model_id,
            "messages": messages,
            "tools": tools,
            "tool_choice": "auto",
            "temperature": 0,
            "seed": self._seed,
            "max_tokens": self._max_tokens,
            "style": style,
        }
        start = time.perf_counter()
        try:
            try:
                response = self._http.post("/v1/chat/completions", json=body)
            except (httpx.ReadError, httpx.RemoteProtocolError):  # a kept-alive connection the server closed
                start = time.perf_counter()
                response = self._http.post("/v1/chat/completions", json=body)  # once more, on a new one
        except httpx.TimeoutException:
            return Reply(latency_s=time.perf_counter() - start, error="timeout")
        latency = time.perf_counter() - start
        raw = response.text[:_RAW_LIMIT]
        try:
            data = response.json()
        except ValueError:
            return Reply(latency_s=latency, malformed=f"HTTP {response.status_code}: body is not JSON", raw=raw)
        if response.status_code != 200:
            message = _error_message(response.status_code, data)
            if message is None:
                return Reply(latency_s=latency, malformed=f"HTTP {response.status_code}: not an OpenAI error body",
                             raw=raw)
            return Reply(latency_s=latency, error=message)
        try:
            calls, content, finish, tokens = parse_chat_completion(data)
        except ValueError as exc:
            return Reply(latency_s=latency, malformed=str(exc), raw=raw)
        return Reply(calls, content, finish, tokens, latency)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> EvalClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
