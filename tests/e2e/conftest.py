"""One real toolproxy server on the real embedded model, shared by the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.servers import running_server
from toolproxy.app import create_app
from toolproxy.models import ModelNotInstalled, resolve_model
from toolproxy.service import ChatService
from toolproxy.settings import Settings


@pytest.fixture(scope="session")
def embedded_url(model_path: str) -> Iterator[str]:
    settings = Settings(model=model_path, ctx=4096, threads=2, style="hermes", default_max_tokens=256)
    with running_server(create_app(settings)) as url:
        yield url


@dataclass(frozen=True)
class Smollm2Server:
    """The second real model (issue 15), served once for the session: SmolLM2-135M-Instruct by short name."""

    url: str
    path: str
    service: ChatService  # the server's own service (plans without generating)


@pytest.fixture(scope="session")
def smollm2_server() -> Iterator[Smollm2Server]:
    try:
        path = resolve_model("smollm2")
    except ModelNotInstalled as exc:
        pytest.fail(str(exc))  # make install-test installs it; a missing model is a broken install, not a skip
    settings = Settings(model="smollm2", ctx=4096, threads=2, default_max_tokens=64)
    app = create_app(settings)
    with running_server(app) as url:
        yield Smollm2Server(url, path, app.state.service)
