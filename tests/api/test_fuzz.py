"""schemathesis over the Responses and Messages endpoints (toolproxy's own OpenAPI document), scripted
backend, positive and negative cases: never a 5xx, and every error in the shape of the API it came from."""

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
OPERATIONS = [("/v1/responses", "POST"), ("/v1/messages", "POST"), ("/v1/messages/count_tokens", "POST"),
              ("/v1/responses/{response_id}", "GET"), ("/v1/responses/{response_id}", "DELETE"),
              ("/v1/responses/{response_id}/input_items", "GET")]


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    db = tmp_path_factory.mktemp("fuzz") / "responses.sqlite3"
    with start_proxy(Settings(style="hermes", max_request_bytes=256 * 1024, responses_db=str(db))) as running:
        running.script = Script(text='Sure. <tool_call>{"name": "f", "arguments": {}}</tool_call>')
        yield running


@pytest.fixture(scope="module")
def api_schema(fuzzed: Proxy) -> Any:
    return schemathesis.openapi.from_url(f"{fuzzed.url}/openapi.json")


def test_the_document_lists_the_new_apis(api_schema: Any) -> None:
    found = {(op.path, op.method.upper()) for op in (r.ok() for r in api_schema.get_all_operations())}
    assert set(OPERATIONS) <= found


BOTH = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]  # a path's string id has no negative cases
RUNS = [(path, method, mode) for path, method in OPERATIONS
        for mode in (BOTH if method == "POST" or path.endswith("input_items") else [GenerationMode.POSITIVE])]


@pytest.mark.parametrize(("path", "method", "mode"), RUNS, ids=[f"{m} {p} {g.value}" for p, m, g in RUNS])
def test_no_5xx_and_the_apis_own_errors(api_schema: Any, fuzzed: Proxy, path: str, method: str,
                                        mode: GenerationMode) -> None:
    seen: dict[int, int] = {}

    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=api_schema[path][method].as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        response = case.call(base_url=fuzzed.url, timeout=30)
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        assert response.status_code < 500, f"{case.method} {case.path}: {response.status_code} {response.text[:500]}"
        if response.status_code >= 400:
            check_error(path, json.loads(response.text))

    run()
    print(f"\n{method} {path} {mode.value}: statuses {seen}")
    assert sum(seen.values()) >= 1


def check_error(path: str, body: dict[str, Any]) -> None:
    if path.startswith("/v1/messages"):
        assert set(body) == {"type", "error"} and body["type"] == "error", body
        assert set(body["error"]) == {"type", "message"}, body
        assert isinstance(body["error"]["message"], str) and body["error"]["message"]
        return
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert isinstance(error["message"], str) and error["message"]
