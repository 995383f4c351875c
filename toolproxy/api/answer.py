"""The one internal answer, as the new front doors see it: the chat pipeline's assistant deltas
(:meth:`ChatService.answer`) regrouped into *blocks* (reasoning, text, one per call), each opened, appended to
and closed once.

Both the Responses and the Messages adapter translate these block events into their own wire events, and fold
the same events into their non-streamed answer (:class:`Collected`), so streamed and non-streamed agree by
construction, as they do for chat completions.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

from toolproxy.errors import InvalidRequest
from toolproxy.protocol import ChatCompletionRequest, Delta, FinishReason, Usage
from toolproxy.service import Answer, ChatService, Outcome

BlockKind = Literal["reasoning", "text", "call"]


@dataclass(frozen=True)
class BlockStart:
    index: int
    kind: BlockKind
    call_id: str = ""  # calls only
    name: str = ""  # calls only


@dataclass(frozen=True)
class BlockDelta:
    index: int
    text: str  # reasoning or text, or a fragment of a call's JSON arguments


@dataclass(frozen=True)
class BlockStop:
    index: int


@dataclass(frozen=True)
class Finished:
    """Always the last event: why generation ended, the token counts, the model name served."""

    finish_reason: FinishReason
    usage: Usage
    model: str
    stop_sequence: str | None = None  # the request's stop string that ended the text, when one did


BlockEvent = BlockStart | BlockDelta | BlockStop | Finished


@dataclass
class Block:
    kind: BlockKind
    call_id: str = ""
    name: str = ""
    parts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self.parts)


@dataclass
class Collected:
    """The fold of a block event stream: the non-streamed answer."""

    blocks: list[Block] = field(default_factory=list)
    finished: Finished | None = None

    def add(self, event: BlockEvent) -> None:
        if isinstance(event, BlockStart):
            self.blocks.append(Block(event.kind, event.call_id, event.name))
        elif isinstance(event, BlockDelta):
            self.blocks[event.index].parts.append(event.text)
        elif isinstance(event, Finished):
            self.finished = event


#: (pattern, replacement) pairs renaming the chat request's field names in an error to the front door's own
Renames = tuple[tuple[str, str], ...]


@contextmanager
def renamed_params(renames: Renames) -> Iterator[None]:
    """An :class:`InvalidRequest` raised by the pipeline names the chat field (``max_tokens``,
    ``tools[0].function.parameters``): rename it to the field the client sent."""
    try:
        yield
    except InvalidRequest as exc:
        for pattern, replacement in renames:
            if exc.param and re.match(pattern, exc.param):
                exc.param = re.sub(pattern, replacement, exc.param, count=1)
                exc.message = re.sub(pattern, replacement, exc.message, count=1)
                break
        raise


async def answer(service: ChatService, request: ChatCompletionRequest,
                 renames: Renames = ()) -> AsyncGenerator[BlockEvent, None]:
    """Plan now (a bad request raises here, before any event), then the block events of the generation."""
    with renamed_params(renames):
        items = await service.answer(request)
    return _blocks(items, request.model or service.model_id)


async def _blocks(items: AsyncGenerator[Answer, None], model: str) -> AsyncGenerator[BlockEvent, None]:
    grouper = _Grouper()
    try:
        async for item in items:
            if isinstance(item, Delta):
                for event in grouper.delta(item):
                    yield event
            elif isinstance(item, Outcome):
                for event in grouper.close():
                    yield event
                yield Finished(item.finish_reason, item.usage, model, item.stop_sequence)
    finally:
        await items.aclose()


class _Grouper:
    """Deltas -> block events: a change of kind (or a new call) closes the open block and opens the next."""

    def __init__(self) -> None:
        self._count = 0
        self._open: tuple[BlockKind, int] | None = None  # (kind, call index) of the open block
        self._calls: dict[int, int] = {}  # delta tool-call index -> block index

    def delta(self, delta: Delta) -> list[BlockEvent]:
        events: list[BlockEvent] = []
        if delta.reasoning_content:
            events += self._text("reasoning", delta.reasoning_content)
        if delta.content:
            events += self._text("text", delta.content)
        for call in delta.tool_calls or []:
            if call.id is not None:
                events += self.close()
                self._calls[call.index] = self._count
                self._open = ("call", call.index)
                events.append(BlockStart(self._count, "call", call.id, call.function.name or ""))
                self._count += 1
            if call.function.arguments and call.index in self._calls:
                events.append(BlockDelta(self._calls[call.index], call.function.arguments))
        return events

    def close(self) -> list[BlockEvent]:
        if self._open is None:
            return []
        self._open = None
        return [BlockStop(self._count - 1)]

    def _text(self, kind: BlockKind, text: str) -> list[BlockEvent]:
        events: list[BlockEvent] = []
        if self._open is None or self._open[0] != kind:
            events += self.close()
            self._open = (kind, -1)
            events.append(BlockStart(self._count, kind))
            self._count += 1
        events.append(BlockDelta(self._count - 1, text))
        return events
