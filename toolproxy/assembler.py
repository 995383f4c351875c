"""Scanner events -> OpenAI assistant deltas, shared by the streaming and the non-streaming path.

Non-streaming is the merge of the same deltas, so both paths agree by construction. Calls get unique
``call_...`` ids here. Calls to tools whose schema was too hard for the grammar compiler ("relaxed" tools)
are held back until complete and validated with jsonschema; a call that fails validation is returned as
content (never dropped) and reported through ``problems``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import jsonschema
from referencing import Registry
from referencing.exceptions import Unresolvable

from toolproxy.parsing.events import ArgsDelta, CallEnd, CallStart, Event, ReasoningDelta, TextDelta
from toolproxy.protocol import (
    AssistantMessage,
    Delta,
    DeltaFunctionCall,
    DeltaToolCall,
    OutFunctionCall,
    OutToolCall,
)


def new_call_id() -> str:
    return "call_" + uuid.uuid4().hex[:24]


@dataclass
class _Held:
    name: str
    args: list[str] = field(default_factory=list)


class Assembler:
    def __init__(self, relaxed: dict[str, dict[str, Any]] | None = None) -> None:
        self._relaxed = relaxed or {}
        self._out_index: dict[int, int] = {}  # scanner call index -> output index
        self._held: dict[int, _Held] = {}
        self._next = 0
        self.problems: list[str] = []
        self.call_ids: list[str] = []  # ids issued, in output order
        self._names: list[str] = []
        self._args: list[list[str]] = []

    @property
    def calls(self) -> list[tuple[str, str]]:
        """(name, arguments) of the calls emitted so far, in output order."""
        return [(self._names[i], "".join(self._args[i])) for i in range(self._next)]

    @property
    def calls_emitted(self) -> int:
        return self._next

    def feed(self, events: Iterable[Event]) -> list[Delta]:
        deltas: list[Delta] = []
        for event in events:
            deltas.extend(self._one(event))
        return deltas

    def finish(self) -> list[Delta]:
        """Flush calls still held back at the end (truncated output): they come back as content."""
        deltas: list[Delta] = []
        for index in sorted(self._held):
            held = self._held.pop(index)
            self.problems.append(f"call to {held.name!r} was cut off before its end")
            deltas.append(Delta(content=_as_text(held.name, "".join(held.args))))
        return deltas

    def _one(self, event: Event) -> list[Delta]:
        if isinstance(event, TextDelta):
            return [Delta(content=event.text)] if event.text else []
        if isinstance(event, ReasoningDelta):
            return [Delta(reasoning_content=event.text)] if event.text else []
        if isinstance(event, CallStart):
            if event.name in self._relaxed:
                self._held[event.index] = _Held(event.name)
                return []
            return [self._start(event.index, event.name)]
        if isinstance(event, ArgsDelta):
            if event.index in self._held:
                self._held[event.index].args.append(event.text)
                return []
            if event.index not in self._out_index or not event.text:
                return []
            out = self._out_index[event.index]
            self._args[out].append(event.text)
            return [Delta(tool_calls=[DeltaToolCall(index=out, function=DeltaFunctionCall(arguments=event.text))])]
        if isinstance(event, CallEnd) and event.index in self._held:
            return self._release(event.index)
        return []

    def _start(self, index: int, name: str) -> Delta:
        out = self._next
        self._next += 1
        self._out_index[index] = out
        self.call_ids.append(new_call_id())
        self._names.append(name)
        self._args.append([])
        return Delta(
            tool_calls=[
                DeltaToolCall(
                    index=out,
                    id=self.call_ids[-1],
                    type="function",
                    function=DeltaFunctionCall(name=name, arguments=""),
                )
            ]
        )

    def _release(self, index: int) -> list[Delta]:
        held = self._held.pop(index)
        text = "".join(held.args)
        problem = _validate(text, self._relaxed[held.name])
        if problem:
            self.problems.append(f"arguments of {held.name!r} rejected: {problem}")
            return [Delta(content=_as_text(held.name, text))]
        start = self._start(index, held.name)
        out = self._out_index[index]
        self._args[out].append(text)
        args = Delta(tool_calls=[DeltaToolCall(index=out, function=DeltaFunctionCall(arguments=text))])
        return [start, args]


def _validate(arguments: str, schema: dict[str, Any]) -> str | None:
    try:
        value = json.loads(arguments)
    except json.JSONDecodeError as exc:
        return f"not JSON ({exc.msg})"
    try:  # an empty registry: a remote $ref is never fetched (SSRF), it is unresolvable (issue 9)
        jsonschema.validate(value, schema, registry=Registry())
    except jsonschema.ValidationError as exc:
        return exc.message
    except jsonschema.SchemaError as exc:
        return f"schema error: {exc.message}"
    except Unresolvable as exc:
        return f"schema reference {getattr(exc, 'ref', '')!r} cannot be resolved (remote references are not fetched)"
    except RecursionError:
        return "schema references loop without end"
    return None


def _as_text(name: str, arguments: str) -> str:
    return json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False)


def merge(deltas: Iterable[Delta]) -> AssistantMessage:
    """Fold deltas into one assistant message (the non-streaming answer)."""
    content: list[str] = []
    reasoning: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    for delta in deltas:
        if delta.content:
            content.append(delta.content)
        if delta.reasoning_content:
            reasoning.append(delta.reasoning_content)
        for call in delta.tool_calls or []:
            slot = calls.setdefault(call.index, {"id": call.id, "name": call.function.name, "args": []})
            if call.function.arguments:
                slot["args"].append(call.function.arguments)
    tool_calls = [
        OutToolCall(id=slot["id"], function=OutFunctionCall(name=slot["name"], arguments="".join(slot["args"])))
        for _, slot in sorted(calls.items())
    ]
    text = "".join(content)
    return AssistantMessage(
        content=text if (text or not tool_calls) else None,
        reasoning_content="".join(reasoning) or None,
        tool_calls=tool_calls or None,
    )
