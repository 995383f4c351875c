"""Mounting the front doors on the app: their routes and the response store."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI

from toolproxy.api.messages.routes import router as messages_router
from toolproxy.api.responses.routes import router as responses_router
from toolproxy.api.responses.store import ResponseStore
from toolproxy.settings import Settings


def install_apis(app: FastAPI, settings: Settings, *, dependencies: Sequence[Any] = ()) -> None:
    """Mount the Responses and Messages routes (behind ``dependencies``, e.g. auth) and the response store."""
    app.state.response_store = ResponseStore(
        settings.responses_db,
        max_count=settings.responses_max_count,
        max_bytes=settings.responses_max_bytes,
        max_age_s=settings.responses_max_age_s,
    )
    app.include_router(responses_router, dependencies=list(dependencies))
    app.include_router(messages_router, dependencies=list(dependencies))
