"""What the scanner emits. Streaming sends these as deltas; non-streaming collects them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TextDelta:
    """Assistant text meant for ``message.content``."""

    text: str


@dataclass(frozen=True)
class ReasoningDelta:
    """Model reasoning (``<think>``, a style's "thought" field) meant for ``message.reasoning_content``."""

    text: str


@dataclass(frozen=True)
class CallStart:
    """A tool call begins. ``index`` counts calls from 0 within one answer."""

    index: int
    name: str


@dataclass(frozen=True)
class ArgsDelta:
    """More of call ``index``'s arguments, as JSON text. All deltas of a call concatenated are its
    complete ``function.arguments`` JSON string."""

    index: int
    text: str


@dataclass(frozen=True)
class CallEnd:
    index: int


Event = TextDelta | ReasoningDelta | CallStart | ArgsDelta | CallEnd
