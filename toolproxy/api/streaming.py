"""Server-sent events for the new front doors: ``event: <type>`` + ``data: <json>`` per event, as both the
Responses and the Messages API frame them (no ``[DONE]``). A failure mid-stream ends it with the API's own
error events (never a hung connection)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any, Protocol

from sse_starlette.sse import EventSourceResponse

from toolproxy.api.answer import BlockEvent, Collected
from toolproxy.errors import ToolproxyError

log = logging.getLogger("toolproxy.api")


class Builder(Protocol):
    def start(self) -> list[dict[str, Any]]: ...

    def on(self, event: BlockEvent) -> list[dict[str, Any]]: ...

    def failed(self, exc: ToolproxyError) -> list[dict[str, Any]]: ...


async def run(builder: Builder, events: AsyncGenerator[BlockEvent, None]) -> Collected:
    """The non-streamed answer: the builder sees every event (its result is read off it), events are dropped."""
    collected = Collected()
    try:
        async for event in events:
            collected.add(event)
            builder.on(event)
    finally:
        await events.aclose()
    return collected


def sse(builder: Builder, events: AsyncGenerator[BlockEvent, None],
        on_done: Callable[[Collected], Awaitable[None]] | None = None) -> EventSourceResponse:
    async def frames() -> AsyncGenerator[dict[str, str], None]:
        collected = Collected()
        outgoing = builder.start()
        try:
            for item in outgoing:
                yield _frame(item)
            async for event in events:
                collected.add(event)
                for item in builder.on(event):
                    yield _frame(item)
            if on_done is not None:
                await on_done(collected)
        except ToolproxyError as exc:
            log.warning("stream failed: %s", exc)
            for item in builder.failed(exc):
                yield _frame(item)
        except Exception as exc:
            log.exception("stream failed")
            for item in builder.failed(ToolproxyError(f"internal error: {type(exc).__name__}")):
                yield _frame(item)
        finally:
            await events.aclose()

    return EventSourceResponse(frames(), ping=15)


def _frame(event: dict[str, Any]) -> dict[str, str]:
    return {"event": event["type"], "data": json.dumps(event, ensure_ascii=False)}
