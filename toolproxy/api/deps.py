"""What every route needs from the app: the running service (503 while the model loads)."""

from __future__ import annotations

from fastapi import Request

from toolproxy.errors import BackendUnavailable
from toolproxy.service import ChatService


def current_service(request: Request) -> ChatService:
    service: ChatService | None = getattr(request.app.state, "service", None)
    if service is None:
        raise BackendUnavailable("the model is still loading")
    return service
