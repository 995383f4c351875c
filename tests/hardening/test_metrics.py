"""``/metrics``: scraped and parsed with prometheus_client's own parser, before and after known traffic."""

from __future__ import annotations

import threading
import time

import httpx

from tests.hardening.conftest import HERMES_CALL, TOOLS, USER, Proxy, scrape, start_proxy
from toolproxy.backends.scripted import Script

CHAT = "/v1/chat/completions"


def _delta(before: dict[str, float], after: dict[str, float], key: str) -> float:
    return after.get(key, 0.0) - before.get(key, 0.0)


def test_counters_follow_the_traffic() -> None:
    with start_proxy() as proxy:  # its own server: nothing else moves these counters
        before = proxy.metrics()
        proxy.script = Script(text=HERMES_CALL)
        ok = proxy.chat(tools=TOOLS).json()
        assert ok["choices"][0]["finish_reason"] == "tool_calls"
        streamed = proxy.chat(tools=TOOLS, stream=True, stream_options={"include_usage": True})
        assert streamed.text.rstrip().endswith("[DONE]")
        assert proxy.chat(temperature=9).status_code == 400
        assert httpx.get(f"{proxy.url}/v1/nothing", timeout=10).status_code == 404
        proxy.script = Script(text="a long answer that breaks", chunk_size=2, fail_after=3)
        broken = proxy.chat(stream=True)
        assert '"backend_error"' in broken.text
        proxy.script = Script(text='<tool_call>not json at all</tool_call>')  # unparseable: kept as text
        assert proxy.chat(tools=TOOLS).status_code == 200
        after = proxy.metrics()

    assert _delta(before, after, f'toolproxy_requests_total{{endpoint="{CHAT}",status="200"}}') == 4
    assert _delta(before, after, f'toolproxy_requests_total{{endpoint="{CHAT}",status="400"}}') == 1
    assert _delta(before, after, 'toolproxy_requests_total{endpoint="other",status="404"}') == 1
    assert _delta(before, after, 'toolproxy_errors_total{type="invalid_request_error"}') == 1
    assert _delta(before, after, 'toolproxy_errors_total{type="not_found_error"}') == 1
    assert _delta(before, after, 'toolproxy_errors_total{type="backend_error"}') == 1  # the in-stream error event
    assert _delta(before, after, "toolproxy_parse_failures_total") == 1
    assert _delta(before, after, "toolproxy_grammar_compile_seconds_count") == 3  # the three requests with tools
    assert _delta(before, after, "toolproxy_grammar_compile_seconds_sum") > 0
    usage = ok["usage"]
    assert _delta(before, after, "toolproxy_prompt_tokens_total") >= usage["prompt_tokens"] * 2
    assert _delta(before, after, "toolproxy_completion_tokens_total") >= usage["completion_tokens"] * 2
    assert after["toolproxy_queue_depth"] == 0
    assert after["toolproxy_streams_in_flight"] == 0
    assert after["toolproxy_requests_in_flight"] == 1  # the scrape itself
    assert _delta(before, after, f'toolproxy_request_duration_seconds_count{{endpoint="{CHAT}"}}') == 5


def test_gauges_while_a_stream_waits_for_the_model(fresh: Proxy) -> None:
    fresh.script = Script(text="slow answer", chunk_size=100, delay=1.5)  # 1.5 s before the first piece
    done = threading.Event()

    def slow() -> None:
        try:
            fresh.chat(stream=True)
        finally:
            done.set()

    worker = threading.Thread(target=slow)
    worker.start()
    try:
        seen: dict[str, float] = {}
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not done.is_set():
            seen = fresh.metrics()
            if seen.get("toolproxy_queue_depth") == 1 and seen.get("toolproxy_streams_in_flight") == 1:
                break
            time.sleep(0.05)
        assert seen["toolproxy_queue_depth"] == 1
        assert seen["toolproxy_streams_in_flight"] == 1
        assert seen["toolproxy_requests_in_flight"] == 2
    finally:
        worker.join(timeout=10)
    after = fresh.metrics()
    assert after["toolproxy_queue_depth"] == 0
    assert after["toolproxy_streams_in_flight"] == 0


def test_body_limit_refusals_are_counted_under_their_route(fresh: Proxy) -> None:
    before = scrape(fresh.url)
    response = httpx.post(f"{fresh.url}{CHAT}", content=b"x" * (5 * 1024 * 1024),
                          headers={"content-type": "application/json"}, timeout=30)
    assert response.status_code == 413
    after = scrape(fresh.url)
    assert _delta(before, after, f'toolproxy_requests_total{{endpoint="{CHAT}",status="413"}}') == 1
    assert _delta(before, after, 'toolproxy_errors_total{type="invalid_request_error"}') == 1


def test_metrics_is_not_in_the_openapi_document(proxy: Proxy) -> None:
    paths = httpx.get(f"{proxy.url}/openapi.json", timeout=10).json()["paths"]
    assert "/metrics" not in paths and CHAT in paths
    assert httpx.post(f"{proxy.url}{CHAT}", json={"messages": USER}, timeout=10).status_code == 200
