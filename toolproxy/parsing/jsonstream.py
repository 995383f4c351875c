"""An incremental JSON tokenizer with path tracking, one character at a time.

It reports to a :class:`JsonHandler`: ``begin(path, kind)`` before a value's first character,
``raw(c)`` for every *significant* character (whitespace outside strings is dropped, so the raw text of
a value is its compact form, byte-stable however the input was chunked), ``string(piece)`` for the
decoded content of string values, ``end(path, kind)`` after a value's last character.
Object keys are tracked in ``path`` (and their characters reported through ``raw``) but are not values.

Lenient on purpose in one place only: an unknown escape ``\\X`` decodes to ``X`` (Mixtral writes
``get\\_weather``). Everything else that is not JSON raises :class:`JsonSyntaxError`.
"""

from __future__ import annotations

import re
from typing import Literal, Protocol

Kind = Literal["object", "array", "string", "number", "literal"]
PathItem = str | int

_WS = " \t\n\r"
_NUM_CHARS = "+-0123456789.eE"
_NUM_RE = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_LITERALS = ("true", "false", "null")
_REPLACEMENT = "\ufffd"  # for lone surrogates, which no UTF-8 response could carry


class JsonSyntaxError(ValueError):
    """The text stopped being a JSON prefix."""


class JsonHandler(Protocol):
    def begin(self, path: list[PathItem], kind: Kind) -> None: ...

    def raw(self, c: str) -> None: ...

    def string(self, piece: str) -> None: ...

    def end(self, path: list[PathItem], kind: Kind) -> None: ...


class _Frame:
    __slots__ = ("count", "is_object", "state")

    def __init__(self, is_object: bool) -> None:
        self.is_object = is_object
        # object: "key_or_end", "key", "colon", "value", "comma_or_end"; array: "value_or_end", "value",
        # "comma_or_end"
        self.state = "key_or_end" if is_object else "value_or_end"
        self.count = 0


class JsonStream:
    """Push characters with :meth:`push`; it returns False for a character it did not consume (the
    one after a complete top-level value)."""

    def __init__(self, handler: JsonHandler) -> None:
        self._h = handler
        self.path: list[PathItem] = []
        self._stack: list[_Frame] = []
        self._mode = "value"  # value | struct | string | number | literal | done
        self.done = False
        self.started = False
        self._in_key = False
        self._key = ""
        self._esc = ""  # "" | "\\" | "\\uXXX..."
        self._high = ""  # pending high surrogate
        self._scalar = ""

    # ------------------------------------------------------------------ public

    def push(self, c: str) -> bool:
        mode = self._mode
        if mode == "string":
            self._string_char(c)
            return True
        if mode == "number":
            if c in _NUM_CHARS:
                self._scalar += c
                self._h.raw(c)
                return True
            self._end_number()
            if self.done:
                return False
            return self.push(c)
        if mode == "literal":
            self._literal_char(c)
            return True
        if mode == "done":
            return False
        if c in _WS:
            return True
        if mode == "value":
            self._begin_value(c)
        else:
            self._struct_char(c)
        return True

    def finish(self) -> None:
        """End of input: a number at the top level completes; anything else open stays incomplete."""
        if self._mode == "number" and not self._stack:
            self._end_number()

    # ------------------------------------------------------------------ values

    def _begin_value(self, c: str) -> None:
        frame = self._stack[-1] if self._stack else None
        if frame is not None:
            if frame.is_object:
                self.path.append(self._key)
            else:
                self.path.append(frame.count)
                frame.count += 1
        self.started = True
        h = self._h
        if c == "{" or c == "[":
            kind: Kind = "object" if c == "{" else "array"
            h.begin(self.path, kind)
            h.raw(c)
            self._stack.append(_Frame(c == "{"))
            self._mode = "struct"
        elif c == '"':
            h.begin(self.path, "string")
            h.raw(c)
            self._in_key = False
            self._mode = "string"
        elif c in "-0123456789":
            h.begin(self.path, "number")
            h.raw(c)
            self._scalar = c
            self._mode = "number"
        elif c in "tfn":
            h.begin(self.path, "literal")
            h.raw(c)
            self._scalar = c
            self._mode = "literal"
        else:
            raise JsonSyntaxError(f"unexpected {c!r} where a value should start")

    def _end_value(self, kind: Kind) -> None:
        self._h.end(self.path, kind)
        if not self._stack:
            self._mode = "done"
            self.done = True
            return
        self.path.pop()
        self._stack[-1].state = "comma_or_end"
        self._mode = "struct"

    def _end_number(self) -> None:
        if not _NUM_RE.fullmatch(self._scalar):
            raise JsonSyntaxError(f"malformed number {self._scalar!r}")
        self._end_value("number")

    def _literal_char(self, c: str) -> None:
        text = self._scalar + c
        if not any(lit.startswith(text) for lit in _LITERALS):
            raise JsonSyntaxError(f"unexpected {c!r} in a literal")
        self._h.raw(c)
        self._scalar = text
        if text in _LITERALS:
            self._end_value("literal")

    # ------------------------------------------------------------------ structure

    def _struct_char(self, c: str) -> None:
        frame = self._stack[-1]
        state = frame.state
        h = self._h
        if frame.is_object:
            if c == '"' and state in ("key_or_end", "key"):
                h.raw(c)
                self._in_key = True
                self._key = ""
                self._mode = "string"
                return
            if c == ":" and state == "colon":
                h.raw(c)
                frame.state = "value"
                self._mode = "value"
                return
        elif state in ("value_or_end", "value") and c != "]":
            self._mode = "value"
            self._begin_value(c)
            return
        if c == "," and state == "comma_or_end":
            h.raw(c)
            if frame.is_object:
                frame.state = "key"
            else:
                frame.state = "value"
                self._mode = "value"
            return
        closer = "}" if frame.is_object else "]"
        if c == closer and state in ("key_or_end", "value_or_end", "comma_or_end"):
            h.raw(c)
            self._stack.pop()
            self._end_value("object" if frame.is_object else "array")
            return
        raise JsonSyntaxError(f"unexpected {c!r}")

    # ------------------------------------------------------------------ strings

    def _string_char(self, c: str) -> None:
        self._h.raw(c)
        esc = self._esc
        if esc:
            if esc == "\\":
                if c == "u":
                    self._esc = "\\u"
                    return
                self._esc = ""
                self._emit(_ESCAPES.get(c, c))
                return
            if c not in "0123456789abcdefABCDEF":
                raise JsonSyntaxError(f"bad \\u escape digit {c!r}")
            esc += c
            if len(esc) < 6:
                self._esc = esc
                return
            self._esc = ""
            self._emit_code(int(esc[2:], 16))
            return
        if c == "\\":
            self._esc = "\\"
        elif c == '"':
            if self._high:
                self._emit_text(_REPLACEMENT)
                self._high = ""
            if self._in_key:
                self._in_key = False
                self._stack[-1].state = "colon"
                self._mode = "struct"
            else:
                self._end_value("string")
        elif c < " ":
            raise JsonSyntaxError("control character inside a string")
        else:
            self._emit(c)

    def _emit_code(self, code: int) -> None:
        if 0xD800 <= code < 0xDC00:
            if self._high:
                self._emit_text(_REPLACEMENT)
            self._high = chr(code)
            return
        if 0xDC00 <= code < 0xE000:
            if not self._high:
                self._emit_text(_REPLACEMENT)  # a lone low surrogate cannot be encoded
                return
            high = ord(self._high) - 0xD800
            self._high = ""
            self._emit_text(chr(0x10000 + (high << 10) + (code - 0xDC00)))
            return
        self._emit(chr(code))

    def _emit(self, text: str) -> None:
        if self._high:
            text = _REPLACEMENT + text
            self._high = ""
        self._emit_text(text)

    def _emit_text(self, text: str) -> None:
        if self._in_key:
            self._key += text
        else:
            self._h.string(text)
