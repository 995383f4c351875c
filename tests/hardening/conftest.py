"""A real loopback toolproxy on the scripted backend, with handles on its event loop, backend and metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.grammar.oracle import Oracle
from tests.servers import running_server
from toolproxy.app import create_app
from toolproxy.backends.base import GenerationRequest
from toolproxy.backends.scripted import Script, ScriptedBackend
from toolproxy.settings import Settings

TOOLS: list[dict[str, Any]] = [
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
USER = [{"role": "user", "content": "hi"}]


@dataclass
class Proxy:
    """One running toolproxy: its URL, app, scripted backend and event loop (for task counts)."""

    url: str
    app: FastAPI
    script: Script = field(default_factory=lambda: Script(text="Hello there."))
    backend: ScriptedBackend | None = None
    loop: asyncio.AbstractEventLoop | None = None

    def handler(self, _: GenerationRequest) -> Script:
        return self.script

    def tasks(self) -> int:
        """Tasks alive on the server's event loop (asked on that loop), not counting this question and
        sse_starlette's shutdown watcher (one per loop, started by the first stream, by design)."""
        assert self.loop is not None

        async def count() -> int:
            me = asyncio.current_task()
            return sum(1 for task in asyncio.all_tasks()
                       if task is not me and getattr(task.get_coro(), "__qualname__", "") != "_shutdown_watcher")

        return asyncio.run_coroutine_threadsafe(count(), self.loop).result(timeout=10)

    def chat(self, timeout: float = 30, **body: Any) -> httpx.Response:
        body.setdefault("messages", USER)
        return httpx.post(f"{self.url}/v1/chat/completions", json=body, timeout=timeout)

    def metrics(self) -> dict[str, float]:
        return scrape(self.url)


def scrape(url: str) -> dict[str, float]:
    """``GET /metrics`` parsed with prometheus_client's own parser: ``{'name{label="v",...}': value}``."""
    from prometheus_client.parser import text_string_to_metric_families

    response = httpx.get(f"{url}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return out


@contextmanager
def start_proxy(settings: Settings | None = None) -> Iterator[Proxy]:
    """toolproxy on a free loopback port with a scripted backend whose answer is ``proxy.script``."""
    settings = settings or Settings(style="hermes")
    holder: dict[str, Proxy] = {}

    def factory(_: Settings) -> ScriptedBackend:
        proxy = holder["proxy"]
        proxy.loop = asyncio.get_running_loop()  # the lifespan runs on the server's loop
        proxy.backend = ScriptedBackend(proxy.handler)
        return proxy.backend

    app = create_app(settings, backend_factory=factory)
    holder["proxy"] = Proxy(url="", app=app)
    with running_server(app) as url:
        holder["proxy"].url = url
        yield holder["proxy"]


@pytest.fixture(scope="module")
def proxy() -> Iterator[Proxy]:
    with start_proxy() as running:
        yield running


@pytest.fixture
def fresh(proxy: Proxy) -> Proxy:
    """The module's proxy with the default script again."""
    proxy.script = Script(text="Hello there.")
    return proxy


def openai_error(response: httpx.Response, status: int | None = None) -> dict[str, Any]:
    """The error object of an OpenAI-shaped error response (and its status, when given)."""
    if status is not None:
        assert response.status_code == status, response.text[:500]
    assert 400 <= response.status_code < 600, response.status_code
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["type"], str) and error["type"]
    assert error["param"] is None or isinstance(error["param"], str)
    assert error["code"] is None or isinstance(error["code"], str)
    return dict(error)


@pytest.fixture(scope="session")
def oracle(model_path: str) -> Oracle:
    """llama.cpp's grammar engine (vocabulary only), as in tests/grammar/conftest.py."""
    return Oracle(model_path)
