"""SSRF (URLs in schemas are never fetched), API keys, CORS."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.hardening.conftest import USER, Proxy, openai_error, start_proxy
from toolproxy.backends.scripted import Script
from toolproxy.settings import Settings


class Listener:
    """A loopback TCP listener that records every connection (and the first bytes sent on it)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self.received: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(1.0)
                try:
                    self.received.append(conn.recv(4096) or b"<connected>")
                except OSError:
                    self.received.append(b"<connected>")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    found = Listener()
    yield found
    found.close()


def _tool(parameters: Any, name: str = "lookup") -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "parameters": parameters}}


def test_urls_in_schemas_are_never_fetched(fresh: Proxy, listener: Listener) -> None:
    base = f"http://127.0.0.1:{listener.port}"
    schemas: list[dict[str, Any]] = [
        {"type": "object", "properties": {"a": {"$ref": f"{base}/remote.json"}}},
        {"type": "object", "properties": {"a": {"$ref": f"{base}/remote.json#/definitions/x"}}},
        {"$id": f"{base}/root.json", "type": "object", "properties": {"a": {"$ref": "other.json"}}},
        {"$schema": f"{base}/meta.json", "type": "object", "properties": {"a": {"type": "integer"}}},
        {"type": "object", "properties": {"a": {"$dynamicRef": f"{base}/dyn.json#node"}}},
        {"type": "object", "properties": {"a": {"type": "string", "format": "uri", "default": f"{base}/d"}}},
        {"type": "object", "properties": {"a": {"allOf": [{"$ref": f"{base}/all.json"}]}}},
        {"type": "object", "properties": {"a": {"$ref": f"//127.0.0.1:{listener.port}/scheme-relative.json"}}},
    ]
    statuses = []
    for schema in schemas:
        # the scripted model calls the tool, so a relaxed tool's arguments get validated against the schema
        fresh.script = Script(text='<tool_call>{"name": "lookup", "arguments": {"a": 1}}</tool_call>')
        for stream in (False, True):
            response = fresh.chat(tools=[_tool(schema)], stream=stream)
            statuses.append(response.status_code)
            assert response.status_code < 500, response.text[:300]
            if stream and response.status_code == 200:
                assert response.text.rstrip().endswith("data: [DONE]")
        response = fresh.chat(response_format={"type": "json_schema", "json_schema": {"name": "r", "schema": schema}})
        statuses.append(response.status_code)
        assert response.status_code < 500, response.text[:300]
    assert 200 in statuses  # some were served (relaxed + validated), so validation really ran
    assert listener.received == [], listener.received


def test_relaxed_tool_with_remote_ref_keeps_the_call_as_text(fresh: Proxy, listener: Listener) -> None:
    """The compiler refuses the remote $ref, the tool is relaxed, and validation cannot resolve it: the call
    comes back as content (never dropped), no 5xx, nothing fetched."""
    schema = {"type": "object", "properties": {"a": {"$ref": f"http://127.0.0.1:{listener.port}/x.json"}}}
    fresh.script = Script(text='<tool_call>{"name": "lookup", "arguments": {"a": 1}}</tool_call>')
    message = fresh.chat(tools=[_tool(schema)]).json()["choices"][0]["message"]
    assert "lookup" in (message.get("content") or "")
    assert not message.get("tool_calls")
    assert listener.received == []


# --------------------------------------------------------------------------- API keys


@pytest.fixture(scope="module")
def keyed() -> Iterator[Proxy]:
    with start_proxy(Settings(api_keys=["key-one", "key-two", "k3"])) as running:
        yield running


@pytest.mark.parametrize("header", [
    None, "", "Bearer", "Bearer wrong", "Basic key-one", "key-one", "Bearer key-one-extra",
    "Bearer key-on", "Bearer KEY-ONE", "Bearer key-one,key-two", "Bearer k", "Bearer \u00e9\u00e8",
])
def test_wrong_or_missing_keys_are_401(keyed: Proxy, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header.encode("utf-8")}  # raw bytes: non-ASCII too
    for method, path, body in (("GET", "/v1/models", None), ("POST", "/v1/chat/completions", {"messages": USER}),
                               ("POST", "/v1/completions", {"prompt": "hi"})):
        response = httpx.request(method, f"{keyed.url}{path}", json=body, headers=headers, timeout=10)
        error = openai_error(response, 401)
        assert error["type"] == "authentication_error" and error["code"] == "invalid_api_key"
        assert "key-one" not in response.text and "key-two" not in response.text  # keys are never echoed


@pytest.mark.parametrize("key", ["key-one", "key-two", "k3"])
def test_every_configured_key_works(keyed: Proxy, key: str) -> None:
    for scheme in ("Bearer", "bearer"):
        headers = {"Authorization": f"{scheme} {key}"}
        assert httpx.get(f"{keyed.url}/v1/models", headers=headers, timeout=10).status_code == 200
        response = httpx.post(f"{keyed.url}/v1/chat/completions", json={"messages": USER}, headers=headers, timeout=10)
        assert response.status_code == 200


def test_health_and_metrics_need_no_key(keyed: Proxy) -> None:
    assert httpx.get(f"{keyed.url}/health", timeout=10).status_code == 200
    assert httpx.get(f"{keyed.url}/metrics", timeout=10).status_code == 200


def test_keys_come_from_the_environment_as_a_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOOLPROXY_API_KEYS", "a1, b2 ,c3")
    assert Settings().api_keys == ["a1", "b2", "c3"]


# --------------------------------------------------------------------------- CORS

PREFLIGHT = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "authorization, content-type"}


def test_cors_is_off_by_default(proxy: Proxy) -> None:
    preflight = httpx.options(f"{proxy.url}/v1/chat/completions", headers=PREFLIGHT, timeout=10)
    assert "access-control-allow-origin" not in preflight.headers
    response = httpx.post(f"{proxy.url}/v1/chat/completions", json={"messages": USER},
                          headers={"Origin": "https://app.example"}, timeout=10)
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


def test_cors_allows_only_the_configured_origins() -> None:
    with start_proxy(Settings(cors_origins=["https://app.example"])) as running:
        url = f"{running.url}/v1/chat/completions"
        preflight = httpx.options(url, headers=PREFLIGHT, timeout=10)
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://app.example"
        assert "POST" in preflight.headers["access-control-allow-methods"]
        response = httpx.post(url, json={"messages": USER}, headers={"Origin": "https://app.example"}, timeout=10)
        assert response.headers["access-control-allow-origin"] == "https://app.example"
        other = httpx.options(url, headers={**PREFLIGHT, "Origin": "https://evil.example"}, timeout=10)
        assert other.headers.get("access-control-allow-origin") != "https://evil.example"
        assert json.loads(httpx.post(url, json={"messages": USER}, timeout=10).text)["object"] == "chat.completion"
