"""Gemma 4's call encoding, ``call:NAME{key:<|"|>text<|"|>,n:3,tags:[<|"|>a<|"|>],place:{floor:3}}``, to
``(name, arguments JSON)``.

Keys are bare (or quoted like strings), strings are delimited by ``<|"|>`` and hold any text (no escapes),
numbers, ``true``/``false``/``null``, lists and nested objects are written as in JSON. Anything else is refused
with :class:`GemmaCallError`. :class:`GemmaCallParser` reads one call per ``<|tool_call>`` region and emits it
whole when its closing brace arrives (braces inside strings do not count).
"""

from __future__ import annotations

import json
import re
from typing import Any

from toolproxy.parsing.emitter import Emitter
from toolproxy.parsing.failure import BodyFailure

QUOTE = '<|"|>'
PREFIX = "call:"
MAX_DEPTH = 64
MAX_NAME = 256
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_KEY = re.compile(r"[^\s:,{}\[\]<]+")


class GemmaCallError(ValueError):
    pass


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0

    def value(self, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise GemmaCallError("nested too deeply")
        t, i = self.text, self.i
        if t.startswith(QUOTE, i):
            return self.string()
        if t.startswith("{", i):
            return self.object(depth)
        if t.startswith("[", i):
            self.i += 1
            items: list[Any] = []
            while not t.startswith("]", self.i):
                if items:
                    self.expect(",")
                items.append(self.value(depth + 1))
            self.i += 1
            return items
        for word, value in (("true", True), ("false", False), ("null", None)):
            if t.startswith(word, i):
                self.i += len(word)
                return value
        number = _NUMBER.match(t, i)
        if number is None:
            raise GemmaCallError(f"no value at {i}")
        self.i = number.end()
        return json.loads(number.group())

    def string(self) -> str:
        end = self.text.find(QUOTE, self.i + len(QUOTE))
        if end < 0:
            raise GemmaCallError("unterminated string")
        out = self.text[self.i + len(QUOTE): end]
        self.i = end + len(QUOTE)
        return out

    def object(self, depth: int) -> dict[str, Any]:
        self.expect("{")
        out: dict[str, Any] = {}
        while not self.text.startswith("}", self.i):
            if out:
                self.expect(",")
            if self.text.startswith(QUOTE, self.i):
                key = self.string()
            else:
                match = _KEY.match(self.text, self.i)
                if match is None:
                    raise GemmaCallError(f"no key at {self.i}")
                key, self.i = match.group(), match.end()
            self.expect(":")
            out[key] = self.value(depth + 1)
        self.i += 1
        return out

    def expect(self, literal: str) -> None:
        if not self.text.startswith(literal, self.i):
            raise GemmaCallError(f"expected {literal!r} at {self.i}")
        self.i += len(literal)


def call_from_gemma(source: str) -> tuple[str, str]:
    """``'call:f{a:1}'`` -> ``("f", '{"a": 1}')``."""
    source = source.strip()
    if not source.startswith(PREFIX) or "{" not in source:
        raise GemmaCallError("a call is call:NAME{...}")
    brace = source.index("{")
    name = source[len(PREFIX): brace]
    if not name or any(c.isspace() for c in name):
        raise GemmaCallError(f"bad tool name {name!r}")
    reader = _Reader(source)
    reader.i = brace
    arguments = reader.object(0)
    if reader.i != len(source):
        raise GemmaCallError("text after the call")
    return name, json.dumps(arguments, ensure_ascii=False)


class GemmaCallParser:
    """One ``call:NAME{...}``: emitted whole when its closing brace arrives."""

    def __init__(self, out: Emitter) -> None:
        self._out = out
        self._call = ""
        self._depth = 0
        self._quoted = False
        self.done = False

    def feed(self, text: str) -> int:
        for i, c in enumerate(text):
            self._call += c
            if self._call.endswith(QUOTE):
                self._quoted = not self._quoted
                continue
            if self._quoted:
                continue
            if c == "{":
                self._depth += 1
            elif c == "}":
                self._depth -= 1
                if self._depth == 0:
                    self._emit(i)
                    return i + 1
            elif not self._depth and len(self._call) > MAX_NAME + len(PREFIX):
                raise BodyFailure(i, "tool name too long")
        return len(text)

    def _emit(self, i: int) -> None:
        try:
            name, arguments = call_from_gemma(self._call)
        except GemmaCallError as exc:
            raise BodyFailure(i, str(exc)) from exc
        self._out.whole_call(name, arguments)
        self.done = True

    def finish(self) -> None:
        return None

    def abort(self) -> None:
        return None
