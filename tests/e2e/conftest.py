"""One real toolproxy server on the real embedded model, shared by the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers import running_server
from toolproxy.app import create_app
from toolproxy.settings import Settings


@pytest.fixture(scope="session")
def embedded_url(model_path: str) -> Iterator[str]:
    settings = Settings(model=model_path, ctx=4096, threads=2, style="hermes", default_max_tokens=256)
    with running_server(create_app(settings)) as url:
        yield url
