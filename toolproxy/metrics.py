"""Prometheus metrics: one :class:`Metrics` (with its own CollectorRegistry) per app, served at ``/metrics``.

- requests by endpoint (the route's path template, ``other`` for unknown paths) and status, their duration,
  requests and SSE streams in flight (an ASGI middleware: it sees client disconnects and cancelled streams);
- errors by OpenAI error ``type``, read from the error bodies toolproxy writes (JSON responses with a 4xx/5xx
  status, and ``data: {"error": ...}`` events in streams) — so every error path is counted, wherever raised;
- tokens, grammar compile time, parse failures and queue depth from the service (:class:`ServiceObserver`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from toolproxy.settings import Settings

_MAX_ERROR_BODY = 64 * 1024  # an error body bigger than this is not parsed (toolproxy never writes one)
_COMPILE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    """The app's metrics; also the service's :class:`toolproxy.observer.ServiceObserver`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("toolproxy_requests", "HTTP requests answered", ["endpoint", "status"], registry=r)
        self.duration = Histogram("toolproxy_request_duration_seconds", "Time to the end of the response",
                                  ["endpoint"], registry=r)
        self.errors = Counter("toolproxy_errors", "Errors returned to clients, by OpenAI error type", ["type"],
                              registry=r)
        self.prompt_tokens = Counter("toolproxy_prompt_tokens", "Prompt tokens evaluated", registry=r)
        self.completion_tokens = Counter("toolproxy_completion_tokens", "Tokens generated", registry=r)
        self.queue_depth = Gauge("toolproxy_queue_depth", "Requests waiting for the model's first piece",
                                 registry=r)
        self.grammar_seconds = Histogram("toolproxy_grammar_compile_seconds", "Time to build a request's grammar",
                                         buckets=_COMPILE_BUCKETS, registry=r)
        self.parse_failures_total = Counter("toolproxy_parse_failures",
                                            "Model outputs (or parts) that failed to parse and were kept as text",
                                            registry=r)
        self.requests_in_flight = Gauge("toolproxy_requests_in_flight", "HTTP requests in progress", registry=r)
        self.streams_in_flight = Gauge("toolproxy_streams_in_flight", "SSE streams in progress", registry=r)

    # -- ServiceObserver --------------------------------------------------------------------------
    def grammar_compiled(self, seconds: float) -> None:
        self.grammar_seconds.observe(seconds)

    def parse_failures(self, count: int) -> None:
        if count > 0:
            self.parse_failures_total.inc(count)

    def tokens(self, prompt: int, completion: int) -> None:
        self.prompt_tokens.inc(max(prompt, 0))
        self.completion_tokens.inc(max(completion, 0))

    def waiting(self, delta: int) -> None:
        self.queue_depth.inc(delta)

    # -- exposition -------------------------------------------------------------------------------
    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware): counts, times and watches every HTTP request."""

    def __init__(self, app: ASGIApp, metrics: Metrics, paths: Callable[[], set[str]] | None = None) -> None:
        self.app = app
        self.metrics = metrics
        self._paths = paths
        self._known: set[str] | None = None

    def _endpoint(self, scope: Scope) -> str:
        """The matched route's path template; for requests answered before routing (413), the path when it
        is one of the app's routes; else ``other`` (unknown paths must not grow the label set)."""
        path = getattr(scope.get("route"), "path", None)
        if isinstance(path, str):
            return path
        if self._known is None:
            self._known = self._paths() if self._paths else set()
        return scope["path"] if scope.get("path") in self._known else "other"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        m = self.metrics
        state: dict[str, Any] = {"status": 0, "kind": "", "body": bytearray(), "stream": False}
        started = time.perf_counter()

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = int(message["status"])
                ctype = _header(message, b"content-type")
                if ctype.startswith(b"text/event-stream"):
                    state["stream"] = True
                    m.streams_in_flight.inc()
                elif state["status"] >= 400 and ctype.startswith(b"application/json"):
                    state["kind"] = "json-error"
            elif message["type"] == "http.response.body":
                self._sniff(state, message.get("body", b""), more=bool(message.get("more_body")))
            await send(message)

        m.requests_in_flight.inc()
        try:
            await self.app(scope, receive, watch)
        except BaseException:
            if not state["status"]:
                state["status"] = 500
                m.errors.labels("server_error").inc()
            raise
        finally:
            m.requests_in_flight.dec()
            if state["stream"]:
                m.streams_in_flight.dec()
            endpoint = self._endpoint(scope)
            m.requests.labels(endpoint, str(state["status"] or 499)).inc()  # 499: client gone before an answer
            m.duration.labels(endpoint).observe(time.perf_counter() - started)

    def _sniff(self, state: dict[str, Any], body: bytes, *, more: bool) -> None:
        if state["kind"] == "json-error":
            buffer: bytearray = state["body"]
            if len(buffer) + len(body) <= _MAX_ERROR_BODY:
                buffer.extend(body)
            if not more:
                self.metrics.errors.labels(_error_type(bytes(buffer))).inc()
        elif state["stream"] and (b'"error"' in body or b"event: error" in body):
            lines = body.split(b"\n")
            for i, line in enumerate(lines):
                if line.startswith(b"data: {\"error\""):
                    self.metrics.errors.labels(_error_type(line[len(b"data: "):])).inc()
                elif line.rstrip(b"\r") == b"event: error" and i + 1 < len(lines):  # Responses / Messages streams
                    self.metrics.errors.labels(_event_error_type(lines[i + 1][len(b"data: "):])).inc()


def _header(message: Message, name: bytes) -> bytes:
    for key, value in message.get("headers", ()):
        if key.lower() == name:
            return bytes(value).lower()
    return b""


def _error_type(body: bytes) -> str:
    try:
        error = json.loads(body)["error"]
        kind = error["type"]
    except (ValueError, KeyError, TypeError):
        return "unknown"
    return kind if isinstance(kind, str) and len(kind) <= 64 else "unknown"


def _event_error_type(data: bytes) -> str:
    """An ``event: error`` payload's type: Anthropic's ``error.type``, the Responses API's ``code``."""
    try:
        event = json.loads(data)
        kind = event["error"]["type"] if isinstance(event.get("error"), dict) else event["code"]
    except (ValueError, KeyError, TypeError, AttributeError):
        return "unknown"
    return kind if isinstance(kind, str) and len(kind) <= 64 else "unknown"


def install_metrics(app: FastAPI, settings: Settings) -> Metrics:
    """Create the app's :class:`Metrics` (``app.state.metrics``, also the service observer), add the
    middleware and the ``GET /metrics`` route (Prometheus text format, unauthenticated like ``/health``)."""
    metrics = Metrics()
    app.state.metrics = metrics

    def paths() -> set[str]:
        return {path for route in app.routes if isinstance(path := getattr(route, "path", None), str)}

    app.add_middleware(MetricsMiddleware, metrics=metrics, paths=paths)

    @app.get("/metrics", include_in_schema=False)
    async def metrics_endpoint(request: Request) -> Response:
        found: Metrics = request.app.state.metrics
        return Response(found.render(), media_type=CONTENT_TYPE_LATEST)

    return metrics
