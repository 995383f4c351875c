"""Incremental parsers for the bodies of call regions (see :mod:`toolproxy.parsing.format`).

Each parser consumes characters with ``feed(text) -> consumed`` until its body is complete (``done``),
raises :class:`BodyFailure` with the index of the first character that does not fit, ``finish()``
closes what is open at the end of the input (truncation), ``abort()`` closes an open call after a
failure. Events go to the shared :class:`~toolproxy.parsing.emitter.Emitter`.
"""

from __future__ import annotations

import contextlib

from toolproxy.parsing.emitter import Emitter
from toolproxy.parsing.failure import BodyFailure
from toolproxy.parsing.format import (
    Body,
    CallKeys,
    GemmaCallBody,
    JsonBody,
    NamedCallBody,
    PathPattern,
    PythonCallsBody,
    Role,
)
from toolproxy.parsing.gemma import GemmaCallParser
from toolproxy.parsing.jsonstream import JsonStream, JsonSyntaxError, Kind, PathItem
from toolproxy.parsing.pythonic import PythonCallError, call_from_source
from toolproxy.parsing.xmlparams import XmlParamsParser

__all__ = ["BodyFailure", "BodyParser", "body_parser"]


def _matches(pattern: PathPattern, path: list[PathItem]) -> bool:
    if len(pattern) != len(path):
        return False
    for want, have in zip(pattern, path, strict=True):
        if want == "*" and isinstance(have, int):
            continue
        if want != have:
            return False
    return True


class _Call:
    """One JSON call object being assembled; arguments stream once the name is known."""

    def __init__(self, depth: int, keys: CallKeys, out: Emitter) -> None:
        self.depth = depth
        self.keys = keys
        self.out = out
        self.index: int | None = None
        self.name = ""
        self.field = ""  # "" | "name" | "args"
        self.args_is_string = False
        self.args_seen = False
        self.pending_args: list[str] = []

    def begin(self, path: list[PathItem], kind: Kind) -> None:
        if len(path) != self.depth + 1 or self.field:
            return
        key = path[-1]
        if self.keys.name_is_key and isinstance(key, str) and self.index is None:
            self.name = key  # {"NAME": {arguments}}: the name is known as soon as the key is
            self.index = self.out.call_start(key)
            self.field = "args"
            self.args_seen = True
            self.args_is_string = kind == "string"
        elif key in self.keys.name and self.index is None and not self.name:
            if kind != "string":
                raise JsonSyntaxError("a call's name must be a string")
            self.field = "name"
        elif key in self.keys.arguments and not self.args_seen:
            self.field = "args"
            self.args_seen = True
            self.args_is_string = kind == "string"

    def raw(self, c: str) -> None:
        if self.field == "args" and not self.args_is_string:
            self._args(c)

    def string(self, piece: str) -> None:
        if self.field == "name":
            self.name += piece
        elif self.field == "args" and self.args_is_string:
            self._args(piece)

    def end(self, path: list[PathItem]) -> None:
        if len(path) != self.depth + 1:
            return
        if self.field == "name":
            if not self.name:
                raise JsonSyntaxError("empty call name")
            self.index = self.out.call_start(self.name)
            for piece in self.pending_args:
                self.out.args(self.index, piece)
            self.pending_args = []
        self.field = ""

    def _args(self, text: str) -> None:
        if self.index is None:
            self.pending_args.append(text)
        else:
            self.out.args(self.index, text)

    def close(self) -> None:
        """The call object ended normally."""
        if self.index is None:
            raise JsonSyntaxError("a call object without a name")
        if not self.args_seen:
            self.out.args(self.index, "{}")
        self.out.call_end(self.index)

    def abort(self) -> None:
        if self.index is not None:
            self.out.call_end(self.index, complete=False)


class _Roles:
    """JsonHandler routing a JSON value's parts to calls / text / reasoning by path rules."""

    def __init__(self, body: JsonBody, out: Emitter) -> None:
        self.rules = body.rules
        self.keys = body.keys
        self.out = out
        self.call: _Call | None = None
        self.capture: Role | None = None
        self.capture_depth = -1
        self.capture_is_string = False

    def _role(self, path: list[PathItem]) -> Role | None:
        for pattern, role in self.rules:
            if _matches(pattern, path):
                return role
        return None

    def begin(self, path: list[PathItem], kind: Kind) -> None:
        if self.call is not None:
            self.call.begin(path, kind)
            return
        if self.capture is not None:
            return
        role = self._role(path)
        if role == "call":
            if kind != "object":
                raise JsonSyntaxError("a call must be a JSON object")
            self.call = _Call(len(path), self.keys, self.out)
        elif role is not None:
            self.capture = role
            self.capture_depth = len(path)
            self.capture_is_string = kind == "string"

    def raw(self, c: str) -> None:
        if self.call is not None:
            self.call.raw(c)
        elif self.capture is not None and not self.capture_is_string:
            self._emit(c)

    def string(self, piece: str) -> None:
        if self.call is not None:
            self.call.string(piece)
        elif self.capture is not None and self.capture_is_string:
            self._emit(piece)

    def end(self, path: list[PathItem], kind: Kind) -> None:
        if self.call is not None:
            if len(path) == self.call.depth:
                call, self.call = self.call, None
                call.close()
            else:
                self.call.end(path)
        elif self.capture is not None and len(path) == self.capture_depth:
            self.capture = None

    def _emit(self, text: str) -> None:
        if self.capture == "reasoning":
            self.out.reasoning(text)
        else:
            self.out.text(text)

    def abort(self) -> None:
        if self.call is not None:
            self.call.abort()
            self.call = None


class JsonBodyParser:
    def __init__(self, body: JsonBody, out: Emitter) -> None:
        self._roles = _Roles(body, out)
        self._stream = JsonStream(self._roles)
        self.done = False

    def feed(self, text: str) -> int:
        stream = self._stream
        for i, c in enumerate(text):
            try:
                consumed = stream.push(c)
            except JsonSyntaxError as exc:
                raise BodyFailure(i, str(exc)) from exc
            if not consumed:
                self.done = True
                return i
        self.done = stream.done
        return len(text)

    def finish(self) -> None:
        with contextlib.suppress(JsonSyntaxError):
            self._stream.finish()
        self.done = self._stream.done
        self._roles.abort()

    def abort(self) -> None:
        self._roles.abort()


class _ArgsOnly:
    """JsonHandler for a NAME-then-JSON body: the whole value is the arguments."""

    def __init__(self, index: int, out: Emitter) -> None:
        self.index = index
        self.out = out
        self.is_string = False

    def begin(self, path: list[PathItem], kind: Kind) -> None:
        if not path:
            self.is_string = kind == "string"

    def raw(self, c: str) -> None:
        if not self.is_string:
            self.out.args(self.index, c)

    def string(self, piece: str) -> None:
        if self.is_string:
            self.out.args(self.index, piece)

    def end(self, path: list[PathItem], kind: Kind) -> None:
        return None


class NamedCallParser:
    def __init__(self, body: NamedCallBody, out: Emitter) -> None:
        self._body = body
        self._out = out
        self._name = ""
        self._id_name: str | None = None  # the name, once ``id_marker`` ended it
        self._before_name = bool(body.name_start)  # reading the call id before ``name_start``
        self._index: int | None = None
        self._stream: JsonStream | None = None
        self.done = False

    def feed(self, text: str) -> int:
        start = 0
        if self._stream is None:
            start = self._feed_name(text)
            if self._stream is None:
                return len(text)
        stream = self._stream
        for i in range(start, len(text)):
            try:
                consumed = stream.push(text[i])
            except JsonSyntaxError as exc:
                raise BodyFailure(i, str(exc)) from exc
            if not consumed:
                self._close()
                return i
        if stream.done:
            self._close()
        return len(text)

    def _feed_name(self, text: str) -> int:
        end = self._body.name_end
        id_marker = self._body.id_marker
        id_markers = (id_marker,) if isinstance(id_marker, str) else id_marker or ()
        for i, c in enumerate(text):
            self._name += c
            if self._before_name:
                if self._name.endswith(self._body.name_start or ""):
                    self._before_name = False  # the call id before the name is read and ignored
                    self._name = ""
                elif len(self._name) > self._body.max_name_len:
                    raise BodyFailure(i, "call id too long")
                continue
            if self._name.endswith(end):
                name = (self._id_name if self._id_name is not None else self._name[: -len(end)]).strip()
                if not name or any(ch.isspace() for ch in name):
                    raise BodyFailure(i, f"bad tool name {name!r}")
                self._index = self._out.call_start(name)
                self._stream = JsonStream(_ArgsOnly(self._index, self._out))
                return i + 1
            ended = next((m for m in id_markers if self._name.endswith(m)), None) if self._id_name is None else None
            if ended:
                self._id_name = self._name[: -len(ended)]  # the name; a call id follows (ignored)
                self._name = ""
                continue
            if len(self._name) > self._body.max_name_len + len(end):
                raise BodyFailure(i, "tool name too long" if self._id_name is None else "call id too long")
        return len(text)

    def _close(self) -> None:
        if not self.done and self._index is not None:
            self._out.call_end(self._index)
        self.done = True

    def finish(self) -> None:
        if self._stream is not None:
            with contextlib.suppress(JsonSyntaxError):
                self._stream.finish()
        if self._stream is not None and self._stream.done:
            self._close()
        self.abort()

    def abort(self) -> None:
        if not self.done and self._index is not None:
            self._out.call_end(self._index, complete=False)
        self.done = True


class PythonCallsParser:
    """``[f(a=1), g(b="x")]``: each call is emitted whole when its closing parenthesis arrives."""

    def __init__(self, out: Emitter) -> None:
        self._out = out
        self._depth = 0
        self._quote = ""
        self._escape = False
        self._call = ""
        self.done = False

    def feed(self, text: str) -> int:
        for i, c in enumerate(text):
            if self._depth == 0:
                if c.isspace():
                    continue
                if c != "[":
                    raise BodyFailure(i, "a Python call list starts with '['")
                self._depth = 1
                continue
            if self._depth == 1 and not self._call:
                if c.isspace() or c == ",":
                    continue
                if c == "]":
                    self.done = True
                    return i + 1
            self._call += c
            self._track(i, c)
        return len(text)

    def _track(self, i: int, c: str) -> None:
        if self._quote:
            if self._escape:
                self._escape = False
            elif c == "\\":
                self._escape = True
            elif c == self._quote:
                self._quote = ""
            return
        if c in "'\"":
            self._quote = c
        elif c in "([{":
            self._depth += 1
        elif c in ")]}":
            self._depth -= 1
            if self._depth < 1:
                raise BodyFailure(i, "unbalanced brackets")
            if self._depth == 1:
                if c != ")":
                    raise BodyFailure(i, "list items must be calls")
                try:
                    name, arguments = call_from_source(self._call)
                except PythonCallError as exc:
                    raise BodyFailure(i, str(exc)) from exc
                self._out.whole_call(name, arguments)
                self._call = ""
        elif self._depth == 1 and c == ",":
            raise BodyFailure(i, "list items must be calls")

    def finish(self) -> None:
        return None

    def abort(self) -> None:
        return None


BodyParser = JsonBodyParser | NamedCallParser | PythonCallsParser | XmlParamsParser | GemmaCallParser


def body_parser(body: Body, out: Emitter) -> BodyParser:
    if isinstance(body, JsonBody):
        return JsonBodyParser(body, out)
    if isinstance(body, NamedCallBody):
        return NamedCallParser(body, out)
    if isinstance(body, PythonCallsBody):
        return PythonCallsParser(out)
    if isinstance(body, GemmaCallBody):
        return GemmaCallParser(out)
    return XmlParamsParser(body, out)
