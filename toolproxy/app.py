"""HTTP layer: routes, lifespan, auth, and the one place errors become OpenAI's error shape.

No business logic here: everything is delegated to :class:`toolproxy.service.ChatService`.
"""

from __future__ import annotations

import hmac
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from sse_starlette.sse import EventSourceResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from toolproxy import __version__
from toolproxy.api.deps import current_service as _service
from toolproxy.api.errors import error_body
from toolproxy.api.mount import install_apis
from toolproxy.backends.base import Backend, GenerationDone, TextPiece
from toolproxy.errors import AuthenticationError, InvalidRequest, ToolproxyError
from toolproxy.limits import install_limits
from toolproxy.logging import install_request_ids
from toolproxy.metrics import install_metrics
from toolproxy.protocol import (
    ChatCompletionRequest,
    Completion,
    CompletionChoice,
    CompletionRequest,
    ModelCard,
    ModelList,
)
from toolproxy.service import ChatService
from toolproxy.settings import Settings

log = logging.getLogger("toolproxy.app")

BackendFactory = Callable[[Settings], Backend]


def default_backend_factory(settings: Settings) -> Backend:
    """Embedded llama.cpp, a pool of ``--upstream`` servers, or a spawned llama-server (see backends/factory)."""
    from toolproxy.backends.factory import backend_from_settings

    return backend_from_settings(settings)


def create_app(settings: Settings | None = None, *, backend_factory: BackendFactory | None = None) -> FastAPI:
    """Build the ASGI app. The backend is created in the lifespan (model loaded once) and closed on exit."""
    settings = settings or Settings()
    factory = backend_factory or default_backend_factory

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        backend = factory(settings)
        app.state.service = ChatService(backend, settings, observer=app.state.metrics)
        try:
            yield
        finally:
            await backend.aclose()

    app = FastAPI(title="toolproxy", version=__version__, lifespan=lifespan)
    app.state.settings = settings
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["*"],
        )
    _install_error_handlers(app)
    # --- hardening (issue 9): body limit, metrics, request ids (added last = outermost) ---
    install_limits(app, settings)
    install_metrics(app, settings)
    install_request_ids(app, settings)
    # --- end hardening ---

    auth = _auth_dependency(settings.api_keys)

    @app.get("/health")
    async def health(request: Request) -> JSONResponse:
        if getattr(request.app.state, "service", None) is None:
            return JSONResponse({"status": "loading"}, status_code=503)
        return JSONResponse({"status": "ok"})

    @app.get("/v1/models", dependencies=[Depends(auth)])
    async def models(request: Request) -> ModelList:
        service = _service(request)
        origin = service.style_origin
        return ModelList(data=[ModelCard(id=service.model_id, style=service.default_style,
                                         style_source=origin.source, style_detail=origin.detail)])

    @app.post("/v1/chat/completions", dependencies=[Depends(auth)], response_model=None)
    async def chat_completions(body: ChatCompletionRequest, request: Request) -> Response:
        service = _service(request)
        if body.stream:
            chunks = await service.chat_stream(body)

            async def events() -> AsyncIterator[dict[str, str]]:
                try:
                    async for chunk in chunks:
                        yield {"data": chunk.model_dump_json(exclude_none=True)}
                except ToolproxyError as exc:
                    log.warning("stream failed: %s", exc)
                    yield {"data": json.dumps(_error_body(exc))}
                except Exception as exc:  # never a hung connection: an error event, then [DONE]
                    log.exception("stream failed")
                    yield {"data": json.dumps(_error_body(ToolproxyError(f"internal error: {type(exc).__name__}")))}
                finally:
                    await chunks.aclose()
                yield {"data": "[DONE]"}

            return EventSourceResponse(events(), ping=15)
        completion = await service.chat(body)
        payload = completion.model_dump(exclude_none=True)
        for choice in payload["choices"]:
            choice["message"].setdefault("content", None)
            choice.setdefault("logprobs", None)
        return JSONResponse(payload)

    @app.post("/v1/completions", dependencies=[Depends(auth)], response_model=None)
    async def completions(body: CompletionRequest, request: Request) -> Response:
        service = _service(request)
        if not body.stream:
            return JSONResponse((await service.completion(body)).model_dump())
        generation = service.completion_stream_request(body)
        cid = "cmpl-" + uuid.uuid4().hex[:24]

        async def events() -> AsyncIterator[dict[str, str]]:
            stream = service.backend.generate(generation)
            try:
                async for event in stream:
                    if isinstance(event, TextPiece):
                        text, finish = event.text, None
                    elif isinstance(event, GenerationDone):
                        text, finish = "", event.finish_reason
                    chunk = Completion(
                        id=cid, model=service.model_id,
                        choices=[CompletionChoice(text=text, finish_reason=finish or "stop")],
                    ).model_dump()
                    if finish is None:
                        chunk["choices"][0]["finish_reason"] = None
                    yield {"data": json.dumps(chunk)}
            except ToolproxyError as exc:
                yield {"data": json.dumps(_error_body(exc))}
            finally:
                await stream.aclose()
            yield {"data": "[DONE]"}

        return EventSourceResponse(events(), ping=15)

    install_apis(app, settings, dependencies=[Depends(auth)])  # Responses + Anthropic Messages (issue 16)
    return app


def _auth_dependency(keys: list[str]) -> Callable[[Request], Awaitable[None]]:
    encoded = [key.encode() for key in keys]

    async def check(request: Request) -> None:
        if not encoded:
            return
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer":  # Anthropic's clients send x-api-key (issue 16)
            token = request.headers.get("x-api-key", "")
        ok = False
        for key in encoded:  # compare against every key: constant time whichever matches
            ok |= hmac.compare_digest(token.strip().encode(), key)
        if not ok:
            raise AuthenticationError("invalid or missing API key (Authorization: Bearer <key>, or x-api-key)",
                                      code="invalid_api_key")

    return check


def _error_body(exc: ToolproxyError) -> dict[str, Any]:
    return error_body(exc)


def _error_response(exc: ToolproxyError, path: str = "") -> JSONResponse:
    """The error in the shape of the API the request came in on (toolproxy/api/errors.py)."""
    return JSONResponse(error_body(exc, path), status_code=exc.status_code)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ToolproxyError)
    async def on_toolproxy_error(request: Request, exc: ToolproxyError) -> JSONResponse:
        if exc.status_code >= 500:
            log.error("%s: %s", type(exc).__name__, exc.message)
        return _error_response(exc, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {}
        loc = [str(part) for part in first.get("loc", ()) if part != "body"]
        param = ".".join(loc) or None
        message = first.get("msg", "invalid request")
        if first.get("type") == "json_invalid":
            message = "request body is not valid JSON"
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        where = f"{param}: " if param else ""
        return _error_response(InvalidRequest(f"{where}{message}{more}", param=param), request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        error = ToolproxyError(str(exc.detail))
        error.status_code = exc.status_code
        error.error_type = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
        return _error_response(error, request.url.path)

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return _error_response(_internal(exc), request.url.path)

    app.add_middleware(_UnexpectedErrors)  # innermost: its 500 is counted and logged with the request id


def _internal(exc: Exception) -> ToolproxyError:
    return ToolproxyError(f"internal error: {type(exc).__name__}")


class _UnexpectedErrors:
    """Answers an exception that escapes a route (a bug) with the OpenAI-shaped 500, logged, and keeps it there.

    Starlette's handler for ``Exception`` sends that 500 too but then re-raises, and uvicorn closes the connection
    of an app that raised: a client's next request on its keep-alive connection fails with a reset. After the
    response has started (a stream) there is nothing better than letting it propagate."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:
            if started:
                raise
            log.exception("unexpected error")
            await _error_response(_internal(exc), scope.get("path", ""))(scope, receive, send)

