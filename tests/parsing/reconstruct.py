"""Stream reconstruction helpers for the parsing tests: feed text in chunks, check the event rules,
and turn events into OpenAI deltas checked against OpenAI's streaming rules."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from toolproxy.assembler import Assembler, merge
from toolproxy.parsing import (
    ArgsDelta,
    CallEnd,
    CallStart,
    Event,
    OutputFormat,
    ReasoningDelta,
    Scanner,
    TextDelta,
)
from toolproxy.protocol import AssistantMessage, Delta


def chunks(text: str, seed: int | None, max_size: int = 7) -> list[str]:
    """``text`` split at random points (seeded); ``seed`` None = one character per chunk."""
    if seed is None:
        return list(text)
    rng = random.Random(seed)
    out: list[str] = []
    i = 0
    while i < len(text):
        n = rng.randint(1, max_size)
        out.append(text[i : i + n])
        i += n
    return out


def scan(fmt: OutputFormat, pieces: list[str]) -> tuple[list[Event], Scanner]:
    scanner = Scanner(fmt)
    events: list[Event] = []
    for piece in pieces:
        events.extend(scanner.feed(piece))
    events.extend(scanner.finish())
    return events, scanner


def check_event_rules(events: list[Event]) -> None:
    """CallStart once per index with indexes 0, 1, 2, ...; arguments only between a call's start and
    end; nothing empty."""
    started: list[int] = []
    ended: set[int] = set()
    for event in events:
        if isinstance(event, CallStart):
            assert event.index == len(started), f"call index {event.index} out of order"
            assert event.name, "empty call name"
            started.append(event.index)
        elif isinstance(event, ArgsDelta):
            assert event.index in started and event.index not in ended, "arguments outside their call"
            assert event.text
        elif isinstance(event, CallEnd):
            assert event.index in started and event.index not in ended, "call ended twice"
            ended.add(event.index)
        elif isinstance(event, TextDelta | ReasoningDelta):
            assert event.text, "empty text delta"


@dataclass
class _Slot:
    id: str
    name: str
    arguments: list[str] = field(default_factory=list)


def check_openai_deltas(deltas: list[Delta]) -> None:
    """OpenAI's streaming rules: a tool call's first delta has index, id, type and name; later deltas
    of that index carry only argument fragments; indexes never go backwards."""
    slots: dict[int, _Slot] = {}
    last_index = -1
    for delta in deltas:
        for call in delta.tool_calls or []:
            assert call.index >= last_index, "tool call index went backwards"
            last_index = call.index
            if call.index not in slots:
                assert call.index == len(slots), "tool call indexes must be dense"
                assert call.id and call.type == "function" and call.function.name, "first delta incomplete"
                slots[call.index] = _Slot(call.id, call.function.name)
            else:
                assert call.id is None and call.function.name is None, "id/name repeated"
            if call.function.arguments:
                slots[call.index].arguments.append(call.function.arguments)
    ids = [slot.id for slot in slots.values()]
    assert len(set(ids)) == len(ids), "call ids repeat"


def to_message(fmt: OutputFormat, pieces: list[str]) -> tuple[AssistantMessage, list[Delta]]:
    """The full pipeline the service runs: scanner -> assembler deltas -> merged message."""
    scanner = Scanner(fmt)
    assembler = Assembler()
    deltas: list[Delta] = []
    for piece in pieces:
        deltas.extend(assembler.feed(scanner.feed(piece)))
    deltas.extend(assembler.feed(scanner.finish()))
    deltas.extend(assembler.finish())
    return merge(deltas), deltas


def comparable(message: AssistantMessage) -> tuple[object, ...]:
    """A message without its (random) call ids."""
    calls = [(c.function.name, c.function.arguments) for c in message.tool_calls or []]
    return (message.content, message.reasoning_content, calls)
