"""schemathesis against toolproxy's own OpenAPI document, on a live loopback server with the scripted backend.

Bounded and deterministic (a fixed number of examples per operation, derandomized), positive and negative
generation: no 5xx, and every error in OpenAI's shape."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from tests.hardening.conftest import Proxy, start_proxy
from toolproxy.backends.scripted import Script
from toolproxy.settings import Settings

EXAMPLES = 25


@pytest.fixture(scope="module")
def fuzzed() -> Iterator[Proxy]:
    with start_proxy(Settings(style="hermes", max_request_bytes=256 * 1024)) as running:
        running.script = Script(text='Sure. <tool_call>{"name": "f", "arguments": {}}</tool_call>')
        yield running


OPERATIONS = [("/v1/chat/completions", "POST"), ("/v1/completions", "POST"), ("/v1/models", "GET"),
              ("/health", "GET")]


@pytest.fixture(scope="module")
def api_schema(fuzzed: Proxy) -> Any:
    return schemathesis.openapi.from_url(f"{fuzzed.url}/openapi.json")


def test_the_document_lists_the_api(api_schema: Any) -> None:
    found = {(op.path, op.method.upper()) for op in (r.ok() for r in api_schema.get_all_operations())}
    assert set(OPERATIONS) <= found


BOTH = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]  # GETs without parameters have no negative cases
RUNS = [(path, method, mode) for path, method in OPERATIONS
        for mode in (BOTH if method == "POST" else [GenerationMode.POSITIVE])]


@pytest.mark.parametrize(("path", "method", "mode"), RUNS, ids=[f"{m} {p} {g.value}" for p, m, g in RUNS])
def test_no_5xx_and_openai_errors(api_schema: Any, fuzzed: Proxy, path: str, method: str,
                                  mode: GenerationMode) -> None:
    seen: dict[int, int] = {}

    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=api_schema[path][method].as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        response = case.call(base_url=fuzzed.url, timeout=30)
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        _check(case, response)

    run()
    print(f"\n{method} {path} {mode.value}: statuses {seen}")
    assert sum(seen.values()) >= 1


def _check(case: Any, response: Any) -> None:
    assert response.status_code < 500, f"{case.method} {case.path}: {response.status_code} {response.text[:500]}"
    if response.status_code >= 400:
        body = json.loads(response.text)
        assert set(body) == {"error"}, body
        error = body["error"]
        assert set(error) == {"message", "type", "param", "code"}, error
        assert isinstance(error["message"], str) and error["message"]
        assert isinstance(error["type"], str) and error["type"]
        assert error["param"] is None or isinstance(error["param"], str)
        assert error["code"] is None or isinstance(error["code"], str)
    elif "text/event-stream" in str(response.headers.get("content-type")):
        data = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
        assert data  # schemathesis reads a bounded number of events: [DONE] may lie beyond them
        for item in data:
            if item == "[DONE]":
                continue
            parsed = json.loads(item)
            if "error" in parsed:
                assert set(parsed["error"]) == {"message", "type", "param", "code"}
