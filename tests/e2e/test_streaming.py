"""Streaming on the real embedded model: streamed == non-streamed, and a client that goes away frees the model."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.e2e.test_matrix import STYLES, TOOLS

pytestmark = pytest.mark.slow


def _stream_message(url: str, body: dict[str, object]) -> tuple[dict[str, object], str | None]:
    """Reassemble a streamed answer, asserting OpenAI's delta rules on the way."""
    content, reasoning = "", ""
    calls: dict[int, dict[str, str]] = {}
    finish = None
    last_index = -1
    with httpx.stream("POST", f"{url}/v1/chat/completions", json={**body, "stream": True}, timeout=300) as response:
        assert response.status_code == 200
        lines = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    for data in lines[:-1]:
        chunk = json.loads(data)
        assert "error" not in chunk, chunk
        for choice in chunk["choices"]:
            delta = choice["delta"]
            content += delta.get("content") or ""
            reasoning += delta.get("reasoning_content") or ""
            for tc in delta.get("tool_calls") or []:
                index = tc["index"]
                assert index >= last_index, "tool-call index went backwards"
                last_index = index
                if index not in calls:
                    assert tc.get("id") and tc["function"].get("name"), "first delta of a call carries id + name"
                    calls[index] = {"id": tc["id"], "name": tc["function"]["name"], "arguments": ""}
                else:
                    assert "id" not in tc and "name" not in tc.get("function", {}), "id/name sent twice"
                calls[index]["arguments"] += tc["function"].get("arguments") or ""
            finish = choice.get("finish_reason") or finish
    message: dict[str, object] = {"content": content or None, "reasoning": reasoning or None,
                                  "calls": [(c["name"], c["arguments"]) for _, c in sorted(calls.items())]}
    return message, finish


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("choice", ["auto", "required"])
def test_streamed_equals_non_streamed(embedded_url: str, style: str, choice: str) -> None:
    body = {
        "messages": [{"role": "user", "content": "What is the weather in Paris and the time in Tokyo?"}],
        "tools": TOOLS, "tool_choice": choice, "style": style, "max_tokens": 120, "seed": 7,
    }
    full = httpx.post(f"{embedded_url}/v1/chat/completions", json=body, timeout=300).json()["choices"][0]
    msg = full["message"]
    expected = {
        "content": msg.get("content") or None,
        "reasoning": msg.get("reasoning_content") or None,
        "calls": [(c["function"]["name"], c["function"]["arguments"]) for c in msg.get("tool_calls") or []],
    }
    streamed, finish = _stream_message(embedded_url, body)
    assert streamed == expected
    assert finish == full["finish_reason"]


def test_disconnect_frees_the_model_for_the_next_request(embedded_url: str) -> None:
    long_job = {"prompt": "Once upon a time", "grammar": "root ::= [a-z ]{1500}", "max_tokens": 1500,
                "stream": True}
    with httpx.stream("POST", f"{embedded_url}/v1/completions", json=long_job, timeout=60) as response:
        pieces = 0
        for line in response.iter_lines():
            if line.startswith("data: ") and '"text"' in line:
                pieces += 1
                if pieces >= 5:
                    break  # leaving the block closes the connection mid-stream
    assert pieces >= 5
    started = time.monotonic()
    with httpx.stream("POST", f"{embedded_url}/v1/completions", timeout=60,
                      json={"prompt": "Hello", "max_tokens": 4, "stream": True,
                            "grammar": "root ::= [a-z]{4}"}) as response:
        first = None
        for line in response.iter_lines():
            if line.startswith("data: ") and '"text"' in line and '"text":""' not in line.replace(" ", ""):
                first = time.monotonic() - started
                break
    assert first is not None
    assert first < 1.0, f"next request waited {first:.2f}s behind a dead one"
