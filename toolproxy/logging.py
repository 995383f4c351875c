"""Request ids in every log line.

- :class:`RequestIdMiddleware` (pure ASGI): takes the client's ``X-Request-ID`` when it is sane (1-128 of
  ``[A-Za-z0-9._:-]``), else makes one; sets it in a context variable for the request's whole life (streams
  included: their tasks copy the context) and returns it in the ``X-Request-ID`` response header.
- :class:`RequestIdFilter`: puts it on every record as ``record.request_id`` (``-`` outside a request);
  :func:`configure_logging` installs it on the root handler with :data:`LOG_FORMAT`.

Content (prompts, model output, tool arguments) is logged only with ``--log-content``: the service checks
``settings.log_content`` before it logs any of it.
"""

from __future__ import annotations

import logging
import re
import uuid
from contextvars import ContextVar

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from toolproxy.settings import Settings

HEADER = "x-request-id"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
_SANE = re.compile(r"[A-Za-z0-9._:-]{1,128}")
CONTENT_LOGGERS = ("sse_starlette",)  # third-party loggers that write response content (every SSE chunk, DEBUG)

request_id: ContextVar[str] = ContextVar("toolproxy_request_id", default="-")


def current_request_id() -> str:
    return request_id.get()


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _incoming(scope) or "req-" + uuid.uuid4().hex[:24]
        header = (HEADER.encode(), rid.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        token = request_id.set(rid)
        await self.app(scope, receive, send_with_id)
        # reset only after a normal end: on an exception the id stays set for the outer error handler's log
        # line (the server runs each request in its own task, so it goes no further)
        request_id.reset(token)


def _incoming(scope: Scope) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == HEADER.encode():
            text = bytes(value).decode("latin-1")
            return text if _SANE.fullmatch(text) else None
    return None


def install_request_ids(app: FastAPI, settings: Settings) -> None:
    """Add the middleware (call it last in ``create_app``: it must be the outermost)."""
    app.add_middleware(RequestIdMiddleware)


def configure_logging(settings: Settings) -> None:
    """Root logging for ``toolproxy serve``: level from settings, request ids on every line (uvicorn's too)."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    silence_content_loggers(settings.log_content)


def silence_content_loggers(log_content: bool) -> None:
    """Without ``--log-content``, loggers that would write prompts or answers stay at INFO or above."""
    for name in CONTENT_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(logging.NOTSET if log_content else logging.INFO)
