"""Events -> one assistant message (the non-streaming answer, and the reference streaming must match)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from toolproxy.parsing.events import ArgsDelta, CallEnd, CallStart, Event, ReasoningDelta, TextDelta
from toolproxy.parsing.format import OutputFormat
from toolproxy.parsing.scanner import ParseFailure, Scanner


@dataclass(frozen=True)
class ParsedCall:
    name: str
    arguments: str
    """The JSON string for ``function.arguments`` (partial JSON if the output was cut off)."""


@dataclass(frozen=True)
class ParsedMessage:
    content: str | None
    reasoning: str | None
    calls: list[ParsedCall] = field(default_factory=list)
    failures: list[ParseFailure] = field(default_factory=list)
    incomplete: bool = False


def collect(events: Iterable[Event]) -> ParsedMessage:
    text: list[str] = []
    reasoning: list[str] = []
    names: dict[int, str] = {}
    args: dict[int, list[str]] = {}
    for event in events:
        if isinstance(event, TextDelta):
            text.append(event.text)
        elif isinstance(event, ReasoningDelta):
            reasoning.append(event.text)
        elif isinstance(event, CallStart):
            names[event.index] = event.name
            args[event.index] = []
        elif isinstance(event, ArgsDelta):
            args[event.index].append(event.text)
        elif isinstance(event, CallEnd):
            pass
    calls = [ParsedCall(names[i], "".join(args[i])) for i in sorted(names)]
    return ParsedMessage("".join(text) or None, "".join(reasoning) or None, calls)


def parse_text(fmt: OutputFormat, text: str) -> ParsedMessage:
    """Non-streaming: the scanner fed the whole output once."""
    scanner = Scanner(fmt)
    events = scanner.feed(text) + scanner.finish()
    message = collect(events)
    return ParsedMessage(message.content, message.reasoning, message.calls, list(scanner.failures), scanner.incomplete)
