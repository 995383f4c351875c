"""Model output -> events: one incremental scanner for every style (see :mod:`.format` for the spec)."""

from __future__ import annotations

from toolproxy.parsing.collect import ParsedCall, ParsedMessage, collect, parse_text
from toolproxy.parsing.events import ArgsDelta, CallEnd, CallStart, Event, ReasoningDelta, TextDelta
from toolproxy.parsing.format import (
    PLAIN_TEXT,
    CallKeys,
    GemmaCallBody,
    JsonBody,
    NamedCallBody,
    OutputFormat,
    PythonCallsBody,
    Region,
    XmlParamsBody,
    plain_format,
)
from toolproxy.parsing.scanner import ParseFailure, Scanner

__all__ = [
    "PLAIN_TEXT",
    "ArgsDelta",
    "CallEnd",
    "CallKeys",
    "CallStart",
    "Event",
    "GemmaCallBody",
    "JsonBody",
    "NamedCallBody",
    "OutputFormat",
    "ParseFailure",
    "ParsedCall",
    "ParsedMessage",
    "PythonCallsBody",
    "ReasoningDelta",
    "Region",
    "Scanner",
    "TextDelta",
    "XmlParamsBody",
    "collect",
    "parse_text",
    "plain_format",
]
