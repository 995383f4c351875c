"""Fixtures for the Responses and Messages front doors.

- ``proxy``: toolproxy on the scripted backend (tests/hardening's ``start_proxy``), its response store in a
  temporary folder.
- ``model_backend`` / ``embedded_api``: the real embedded model, loaded once for all of tests/api; servers are
  started on it (and restarted, for the store test) without reloading it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.hardening.conftest import Proxy, start_proxy
from tests.servers import running_server
from toolproxy.app import create_app
from toolproxy.backends.base import Backend, GenerationEvent, GenerationRequest, ModelInfo
from toolproxy.backends.scripted import Script
from toolproxy.settings import Settings

WEATHER: dict[str, Any] = {
    "type": "function",
    "name": "get_weather",
    "description": "Get the current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
HERMES_CALL = '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    db = tmp_path_factory.mktemp("responses") / "responses.sqlite3"
    with start_proxy(Settings(style="hermes", responses_db=str(db), max_request_bytes=256 * 1024)) as running:
        yield running


@pytest.fixture
def fresh(proxy: Proxy) -> Proxy:
    proxy.script = Script(text="Hello there.")
    return proxy


class SharedBackend(Backend):
    """One loaded model behind several apps in turn: closing an app leaves the model loaded."""

    def __init__(self, inner: Backend) -> None:
        self._inner = inner
        self.prompts: list[str] = []  # what each request asked the model, in order
        self.prefers_lazy_grammar = inner.prefers_lazy_grammar
        self.sampling_fields = inner.sampling_fields

    def info(self) -> ModelInfo:
        return self._inner.info()

    def generate(self, request: GenerationRequest) -> AsyncGenerator[GenerationEvent, None]:
        self.prompts.append(request.prompt)
        return self._inner.generate(request)

    def count_tokens(self, text: str) -> int | None:
        return self._inner.count_tokens(text)

    async def aclose(self) -> None:
        return None


def model_settings(model_path: str, db: Path) -> Settings:
    return Settings(model=model_path, ctx=4096, threads=2, style="hermes", default_max_tokens=128,
                    responses_db=str(db))


@pytest.fixture(scope="session")
def model_backend(model_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    from toolproxy.backends.factory import backend_from_settings

    backend = backend_from_settings(model_settings(model_path, tmp_path_factory.mktemp("unused") / "db"))
    yield backend
    asyncio.run(backend.aclose())


@contextmanager
def model_server(model_path: str, backend: Backend, db: Path) -> Iterator[tuple[str, SharedBackend]]:
    """A toolproxy on the shared embedded model with its response store at ``db``: (URL, its backend)."""
    shared = SharedBackend(backend)
    app = create_app(model_settings(model_path, db), backend_factory=lambda _: shared)
    with running_server(app) as url:
        yield url, shared


@pytest.fixture(scope="session")
def embedded_api(model_path: str, model_backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with model_server(model_path, model_backend, tmp_path_factory.mktemp("store") / "responses.sqlite3") as (url, _):
        yield url
