"""/metrics counts the new front doors' errors too: JSON errors in either shape, and stream error events."""

from __future__ import annotations

import httpx

from tests.hardening.conftest import Proxy, scrape
from toolproxy.backends.scripted import Script


def test_errors_are_counted(fresh: Proxy) -> None:
    before = scrape(fresh.url)
    fresh.script = Script(text="Hello there, world.", fail_after=2)
    httpx.post(f"{fresh.url}/v1/responses", json={"input": "hi", "stream": True}, timeout=30)
    httpx.post(f"{fresh.url}/v1/messages", json={"max_tokens": 8, "stream": True,
                                                 "messages": [{"role": "user", "content": "hi"}]}, timeout=30)
    httpx.post(f"{fresh.url}/v1/messages", json={"messages": []}, timeout=30)
    after = scrape(fresh.url)

    def delta(kind: str) -> float:
        key = f'toolproxy_errors_total{{type="{kind}"}}'
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert delta("backend_error") == 1  # the Responses stream's error event (its code)
    assert delta("api_error") == 1  # the Messages stream's error event (Anthropic's type)
    assert delta("invalid_request_error") == 1  # the Messages 400
    assert after['toolproxy_requests_total{endpoint="/v1/responses",status="200"}'] >= 1
