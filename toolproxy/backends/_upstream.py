"""What every HTTP upstream backend shares: one httpx client per event loop, SSE reading, error translation.

httpx's exceptions and the upstream's HTTP errors become :mod:`toolproxy.errors` here and nowhere else:

- the request never reached a working server (connection refused/reset, DNS, connect timeout, 502/503/504,
  the connection lost before the first byte of output): :class:`BackendUnavailable` - safe to retry elsewhere;
- the server took the request and then failed (garbage, 5xx, a read timeout, the connection lost
  mid-answer): :class:`BackendError`;
- the server refused the request itself (400): :class:`InvalidRequest` / :class:`ContextOverflow`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from toolproxy.errors import BackendError, BackendUnavailable, ContextOverflow, InvalidRequest, ToolproxyError

# Errors raised while connecting or sending: nothing was generated, the request can go elsewhere.
_UNREACHABLE = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)
# Errors raised while reading the answer.
_LOST = (httpx.ReadError, httpx.RemoteProtocolError, httpx.WriteError, httpx.WriteTimeout)


@dataclass(frozen=True)
class Timeouts:
    """Seconds. ``read`` bounds the silence between two pieces of the answer (prompt processing included)."""

    connect: float = 5.0
    read: float = 300.0
    write: float = 30.0

    def httpx(self) -> httpx.Timeout:
        return httpx.Timeout(connect=self.connect, read=self.read, write=self.write, pool=self.connect)


class HttpUpstream:
    """An httpx.AsyncClient bound to the running event loop (recreated if the loop changes, e.g. in tests)."""

    def __init__(self, base_url: str, *, timeouts: Timeouts, api_key: str | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeouts = timeouts
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop or self._client.is_closed:
            self._client = httpx.AsyncClient(
                base_url=self.base_url, timeout=self.timeouts.httpx(), headers=self._headers,
                transport=self._transport, limits=httpx.Limits(max_connections=256, max_keepalive_connections=32),
            )
            self._loop = loop
        return self._client

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None and self._loop is asyncio.get_running_loop():
            await client.aclose()

    async def get_json(self, path: str, *, timeout: float | None = None) -> Any:
        """GET ``path`` and decode its JSON body; typed errors as for a generation."""
        try:
            response = await self.client().get(path, timeout=timeout or self.timeouts.connect * 2)
        except _UNREACHABLE as exc:
            raise BackendUnavailable(f"upstream {self.base_url} is unreachable ({type(exc).__name__})") from exc
        except (httpx.TimeoutException, *_LOST) as exc:
            raise BackendUnavailable(f"upstream {self.base_url} did not answer ({type(exc).__name__})") from exc
        if response.status_code >= 400:
            raise http_error(self.base_url, response.status_code, response.content)
        return decode_json(self.base_url, response.content)

    @asynccontextmanager
    async def stream(self, path: str, body: dict[str, Any]) -> AsyncIterator[httpx.Response]:
        """POST ``body`` and yield the streaming response (status checked). Leaving the block closes the
        connection, which tells llama-server / vLLM to stop generating."""
        client = self.client()
        request = client.build_request("POST", path, json=body)
        for attempt in range(2):
            try:
                response = await client.send(request, stream=True)
                break
            except _UNREACHABLE as exc:
                raise BackendUnavailable(f"upstream {self.base_url} is unreachable ({type(exc).__name__})") from exc
            except httpx.TimeoutException as exc:
                raise BackendError(f"upstream {self.base_url} timed out", code="upstream_timeout") from exc
            except _LOST as exc:
                # A kept-alive connection the server had just closed (llama-server drops idle ones after 5 s):
                # nothing was processed, so one retry on a fresh connection is safe.
                if attempt:
                    raise BackendUnavailable(
                        f"upstream {self.base_url} closed the connection ({type(exc).__name__})"
                    ) from exc
        try:
            if response.status_code >= 400:
                try:
                    content = await response.aread()
                except httpx.HTTPError:
                    content = b""
                raise http_error(self.base_url, response.status_code, content)
            yield response
        finally:
            await response.aclose()

    @asynccontextmanager
    async def sse(self, path: str, body: dict[str, Any], *,
                  produced: list[bool]) -> AsyncIterator[AsyncGenerator[Any, None]]:
        """POST ``body``; yield the decoded ``data:`` events of the streamed answer (see :func:`sse_data`)."""
        async with self.stream(path, body) as response, aclosing(
            sse_data(response, self.base_url, produced=produced)
        ) as events:
            yield events


async def sse_data(response: httpx.Response, base_url: str, *, produced: list[bool]) -> AsyncGenerator[Any, None]:
    """The decoded JSON of each ``data:`` line of a server-sent-events stream (``[DONE]`` ends it).

    ``produced[0]`` tells, when the connection is lost, whether output was already handed on (then the
    loss is a :class:`BackendError`; before it, :class:`BackendUnavailable`, so a pool can retry)."""
    finished = False
    try:
        async for line in response.aiter_lines():
            if finished or not line.startswith("data:"):
                continue  # comments (": ping"), "event:" lines, blank separators; the rest after [DONE]
            data = line[5:].strip()
            if data == "[DONE]":
                finished = True  # read on to the end of the body, so the connection can be reused
                continue
            payload = decode_json(base_url, data.encode())
            if isinstance(payload, dict) and "error" in payload:
                error = payload["error"]
                raise stream_error(base_url, error if isinstance(error, dict) else {"message": str(error)})
            yield payload
    except httpx.TimeoutException as exc:
        raise BackendError(f"upstream {base_url} stalled past the read timeout", code="upstream_timeout") from exc
    except _LOST as exc:
        if produced[0]:
            raise BackendError(f"upstream {base_url} closed the connection mid-answer",
                               code="upstream_disconnected") from exc
        raise BackendUnavailable(f"upstream {base_url} closed the connection before answering") from exc


def decode_json(base_url: str, content: bytes) -> Any:
    try:
        return json.loads(content)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BackendError(f"upstream {base_url} sent something that is not JSON: {content[:80]!r}",
                           code="upstream_garbage") from exc


def http_error(base_url: str, status: int, content: bytes) -> ToolproxyError:
    """The typed error for an upstream HTTP error status (its ``{"error": {...}}`` body when it has one)."""
    detail: dict[str, Any] = {}
    try:
        body = json.loads(content) if content else {}
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            detail = body["error"]
        elif isinstance(body, dict):
            detail = {"message": body.get("detail") or body.get("message") or ""}
    except (UnicodeDecodeError, json.JSONDecodeError):
        detail = {"message": content[:200].decode("utf-8", "replace")}
    detail.setdefault("code", status)
    return stream_error(base_url, detail)


def stream_error(base_url: str, detail: dict[str, Any]) -> ToolproxyError:
    message = str(detail.get("message") or "no message")
    kind = str(detail.get("type") or "")
    code = detail.get("code")
    status = code if isinstance(code, int) else 500
    if kind == "exceed_context_size_error" or (isinstance(code, str) and code == "context_length_exceeded"):
        return ContextOverflow(f"upstream: {message}")
    if status in (502, 503, 504) or kind == "unavailable_error":
        return BackendUnavailable(f"upstream {base_url} is unavailable: {message}")
    if status == 400 or kind == "invalid_request_error":
        return InvalidRequest(f"upstream refused the request: {message}")
    if status in (401, 403):
        return BackendError(f"upstream {base_url} refused our credentials: {message}", code="upstream_auth")
    if status == 404:
        return BackendError(f"upstream {base_url} has no such endpoint (wrong --upstream-kind?): {message}",
                            code="upstream_not_found")
    return BackendError(f"upstream {base_url} failed ({status}): {message}")


def token_count(value: Any) -> int:
    """A token count from an upstream's JSON (anything else counts 0)."""
    return value if isinstance(value, int) and value >= 0 else 0


def unexpected_event(base_url: str, data: Any) -> BackendError:
    return BackendError(f"upstream {base_url} sent an unexpected event: {str(data)[:80]}", code="upstream_garbage")


def ended_early(base_url: str, produced: bool, what: str) -> ToolproxyError:
    """The stream ended before ``what``: after some text that is a failure mid-answer; before any, the upstream
    is unavailable (the pool may fail over)."""
    cls = BackendError if produced else BackendUnavailable
    return cls(f"upstream {base_url} ended the answer without {what}")
