"""Typed errors. Raised deep, rendered once (by the HTTP layer) as OpenAI's error shape."""

from __future__ import annotations


class ToolproxyError(Exception):
    """Base of every error toolproxy raises on purpose."""

    status_code: int = 500
    error_type: str = "server_error"

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code


class InvalidRequest(ToolproxyError):
    """The client's request is malformed or asks for something we cannot do (HTTP 400)."""

    status_code = 400
    error_type = "invalid_request_error"


class AuthenticationError(ToolproxyError):
    status_code = 401
    error_type = "authentication_error"


class NotFound(ToolproxyError):
    status_code = 404
    error_type = "not_found_error"


class ContextOverflow(InvalidRequest):
    """The prompt (plus max_tokens) does not fit the model's context window."""

    def __init__(self, message: str) -> None:
        super().__init__(message, param="messages", code="context_length_exceeded")


class BackendUnavailable(ToolproxyError):
    """The model backend cannot take the request now (loading, down, unreachable) (HTTP 503)."""

    status_code = 503
    error_type = "service_unavailable"


class BackendError(ToolproxyError):
    """The model backend failed while serving a request (HTTP 502)."""

    status_code = 502
    error_type = "backend_error"


class UnsupportedSchema(ValueError):
    """The grammar compiler refuses a JSON Schema.

    ``pointer`` is the JSON pointer (RFC 6901) of the offending keyword inside the schema
    given to the compiler, ``reason`` says why.
    """

    def __init__(self, pointer: str, reason: str) -> None:
        super().__init__(f"unsupported schema at '{pointer or '#'}': {reason}")
        self.pointer = pointer
        self.reason = reason
