"""Each API's own error shape, chosen by the request path: a table, not a chain of ifs.

The HTTP layer still renders every error in one place (``app.py``); it asks :func:`error_body` for the body of
the route the request came in on. OpenAI's shape is the default (chat completions, Responses, models, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from toolproxy.errors import ToolproxyError

Renderer = Callable[[ToolproxyError], dict[str, Any]]


def openai_error(exc: ToolproxyError) -> dict[str, Any]:
    return {"error": {"message": exc.message, "type": exc.error_type, "param": exc.param, "code": exc.code}}


# Anthropic names its error types by status (https://docs.anthropic.com/en/api/errors)
ANTHROPIC_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
    529: "overloaded_error",
}


def anthropic_error(exc: ToolproxyError) -> dict[str, Any]:
    kind = ANTHROPIC_TYPES.get(exc.status_code, "invalid_request_error" if exc.status_code < 500 else "api_error")
    return {"type": "error", "error": {"type": kind, "message": exc.message}}


# longest prefix first; anything else gets OpenAI's shape
RENDERERS: tuple[tuple[str, Renderer], ...] = (
    ("/v1/messages", anthropic_error),
)


def renderer_for(path: str) -> Renderer:
    for prefix, render in RENDERERS:
        if path == prefix or path.startswith(prefix + "/"):
            return render
    return openai_error


def error_body(exc: ToolproxyError, path: str = "") -> dict[str, Any]:
    return renderer_for(path)(exc)
