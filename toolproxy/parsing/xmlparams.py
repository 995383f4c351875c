"""The incremental parser of :class:`~toolproxy.parsing.format.XmlParamsBody`: calls written one parameter at a
time (a string value as raw text, any other value as JSON). The arguments stream as the JSON object the
parameters build, ``{"k": "v", "n": 3}``: a string value streams as it is generated (held back only where a
closing marker or the layout newline might begin), any other value is emitted whole when its parameter closes.
The deltas concatenate to exactly the final ``arguments`` string.
"""

from __future__ import annotations

import json

from toolproxy.parsing.emitter import Emitter
from toolproxy.parsing.failure import BodyFailure
from toolproxy.parsing.format import XmlParamsBody
from toolproxy.parsing.markers import held_suffix
from toolproxy.parsing.pythonic import PythonCallError, literal_from_source


def _piece(text: str) -> str:
    """``text`` as the inside of a JSON string (escaping is per character, so pieces concatenate)."""
    return json.dumps(text, ensure_ascii=False)[1:-1]


def _not_json(name: str) -> object:
    raise ValueError(f"{name} is not JSON")  # Python's json reads NaN / Infinity; clients' parsers do not


CDATA_OPEN = "<![CDATA["
CDATA_CLOSE = "]]>"
MAX_LITERAL = 10_000  # characters of a Python literal read back (ast's cost grows with the nesting)


def json_value(raw: str, is_string: bool) -> str:
    """A parameter's raw value as JSON text: a string parameter's as a string; any other is kept when it is
    valid JSON (as written, stripped), else read as the Python literal the templates' ``{{ value }}`` writes
    (Qwen3-Coder's ``True``, Seed-OSS's ``['a', 'b']``; bare names such as ``NaN`` stay strings), else it is a
    string."""
    if not is_string:
        text = raw.strip()
        try:
            json.loads(text, parse_constant=_not_json)
        except ValueError:
            pass
        else:
            return text
        if len(text) <= MAX_LITERAL:
            try:
                return json.dumps(literal_from_source(text), ensure_ascii=False)
            except PythonCallError:
                pass
    return json.dumps(raw, ensure_ascii=False)


Tree = str | list[tuple[str, "Tree"]]
"""A value written as elements: its text, or its child elements as (tag, value) pairs."""


def _elements(raw: str, ns: str) -> Tree | None:
    """``raw`` as a :data:`Tree` (None: not well-formed elements: then it is read as text)."""
    if ns not in raw:
        return raw
    pieces = raw.split(ns)
    if pieces[0].strip():
        return None

    def children(i: int) -> tuple[list[tuple[str, Tree]], int] | None:
        out: list[tuple[str, Tree]] = []
        while i < len(pieces) and pieces[i].startswith("<") and not pieces[i].startswith("</"):
            tag, sep, text = pieces[i][1:].partition(">")
            close = f"</{tag}>"
            if not sep:
                return None
            if i + 1 < len(pieces) and pieces[i + 1].startswith(close):
                value: Tree = text
                i += 1
            else:
                inner = children(i + 1)
                if inner is None or text.strip() or inner[1] >= len(pieces) or not pieces[inner[1]].startswith(close):
                    return None
                value, i = inner
            if pieces[i][len(close):].strip():
                return None
            out.append((tag, value))
            i += 1
        return out, i

    found = children(1)
    return found[0] if found is not None and found[1] == len(pieces) else None


def _typed(tree: Tree, schema: object) -> object:
    """A :data:`Tree` as JSON data: by the schema's ``type`` where it has one (a string stays text, an empty
    array or object is ``""``), else a list where every tag is ``item``, an object otherwise, text as
    :func:`json_value` reads it."""
    kind = schema.get("type") if isinstance(schema, dict) else None
    if isinstance(tree, str):
        if kind == "string":
            return tree
        if kind in ("array", "object") and not tree.strip():
            return [] if kind == "array" else {}
        return json.loads(json_value(tree, False))
    if kind == "array" or (kind != "object" and tree and all(tag == "item" for tag, _ in tree)):
        items = schema.get("items") if isinstance(schema, dict) else None
        return [_typed(value, items) for _, value in tree]
    props = schema.get("properties") if isinstance(schema, dict) else None
    known = props if isinstance(props, dict) else {}
    return {tag: _typed(value, known.get(tag)) for tag, value in tree}


def nested_value(raw: str, ns: str, schema: object) -> str:
    """A non-string parameter's raw value written as elements (MiniMax M3: ``NS<item>a NS</item>`` items, other
    tags an object's keys, each tag after ``ns``) as JSON text; text that is not well-formed elements is read
    as :func:`json_value` reads it."""
    tree = _elements(raw, ns)
    if tree is None:
        return json_value(raw, False)
    return json.dumps(_typed(tree, schema), ensure_ascii=False)


class XmlParamsParser:
    """``feed(text) -> consumed``: what is not consumed is fed again with more text (see :mod:`bodies`)."""

    def __init__(self, body: XmlParamsBody, out: Emitter) -> None:
        self._b = body
        self._out = out
        self._strings = dict(body.strings)
        self._schemas = {(tool, key): schema for tool, key, schema in body.schemas}
        self._state = "call"  # call | name | tail | sep | param | key | gap | value
        self._acc = ""
        self._calls = 0
        self._index: int | None = None
        self._name = ""
        self._params = 0
        self._key = ""
        self._is_string = False
        self._sent = 0  # characters of the current string value already emitted
        self.done = False

    # ------------------------------------------------------------------ feeding

    def feed(self, text: str) -> int:
        i = 0
        n = len(text)
        while i < n and not self.done:
            step = self._step(text, i)
            if step is None:
                return i
            i = step
        return i

    def _expect(self, text: str, i: int, options: tuple[str, ...]) -> tuple[str | None, bool]:
        """(the option ``text[i:]`` starts with, whether it may still become one); the longest first, and none
        while a longer one may still come (MiniMax M3's ``NS<`` opens a parameter, ``NS</invoke>`` a call's end)."""
        rest = text[i:]
        for option in sorted((o for o in options if o), key=len, reverse=True):
            if rest.startswith(option):
                return option, False
            if option.startswith(rest):
                return None, True
        return None, False

    def _step(self, text: str, i: int) -> int | None:
        b = self._b
        c = text[i]
        state = self._state
        if state in ("call", "param", "sep") and c.isspace():
            return i + 1
        if state == "call":
            if not b.name_open:
                if self._calls:
                    self.done = True
                    return i
                self._state, self._name = "name", ""
                return i
            hit, maybe = self._expect(text, i, (b.name_open,))
            if hit:
                self._state, self._name = "name", ""
                return i + len(hit)
            if maybe:
                return None
            if not self._calls:
                raise BodyFailure(i, f"expected {b.name_open!r}")
            self.done = True
            return i
        if state == "name":
            if not b.name_open and (c.isspace() or c == "<"):
                return self._named(i, i)
            self._name += c
            if not b.name_open and b.name_sep and self._name.endswith(b.name_sep):
                self._name = self._name[: -len(b.name_sep)]
                after = self._named(i, i + 1)
                self._state = "param"  # the separator is read
                return after
            if b.name_open and self._name.endswith(b.name_close):
                self._name = self._name[: -len(b.name_close)]
                after = self._named(i, i + 1)
                if b.name_tail:
                    self._state, self._acc = "tail", ""
                return after
            if len(self._name) > b.max_name_len + len(b.name_close):
                raise BodyFailure(i, "tool name too long")
            return i + 1
        if state == "tail":  # what stands between the name and ``name_tail`` is ignored (Kimi K3's index)
            self._acc += c
            if self._acc.endswith(b.name_tail):
                self._state, self._acc = "param", ""
            elif len(self._acc) > b.max_name_len:
                raise BodyFailure(i, f"expected {b.name_tail!r}")
            return i + 1
        if state == "sep":
            hit, maybe = self._expect(text, i, (b.name_sep,))
            if hit:
                self._state = "param"
                return i + len(hit)
            if maybe:
                return None
            raise BodyFailure(i, f"expected {b.name_sep!r}")
        if state == "param":
            hit, maybe = self._expect(text, i, (b.param_open, b.call_close))
            if hit == b.param_open:
                self._state, self._acc = "key", ""
                return i + len(hit)
            if hit:
                self._close_call()
                return i + len(hit)
            if maybe:
                return None
            if b.call_close:
                raise BodyFailure(i, f"expected {b.param_open!r} or {b.call_close!r}")
            self._close_call()
            self.done = not b.name_open
            return i
        if state == "key":
            self._acc += c
            if self._acc.endswith(b.key_close):
                self._key = self._acc[: -len(b.key_close)].strip()
                if not self._key:
                    raise BodyFailure(i, "empty parameter name")
                self._acc = ""
                if b.value_open:
                    self._state = "gap"
                else:
                    self._open_value()
            elif len(self._acc) > b.max_name_len + len(b.key_close):
                raise BodyFailure(i, "parameter name too long")
            return i + 1
        if state == "gap":  # what stands between the key and the value's start is ignored (DSML string="true")
            self._acc += c
            if self._acc.endswith(b.value_open):
                self._acc = ""
                self._open_value()
            elif len(self._acc) > b.max_name_len:
                raise BodyFailure(i, f"expected {b.value_open!r}")
            return i + 1
        # value
        self._acc += c
        close = self._value_end()
        if self._acc.endswith(close) and self._whole(self._acc[: -len(close)]):
            self._close_value(self._acc[: -len(close)])
            self._state = "param"
        elif self._is_string:
            self._stream_string()
        return i + 1

    def _value_end(self) -> str:
        b = self._b
        return b.value_close + self._key + b.key_close if b.keyed_close else b.value_close

    def _whole(self, raw: str) -> bool:
        """Whether ``raw`` closes every element it opens (always, unless values may hold elements)."""
        ns = self._b.nested
        if not ns or self._is_string:
            return True
        closes = raw.count(ns + "</")
        return raw.count(ns + "<") == 2 * closes

    # ------------------------------------------------------------------ events

    def _named(self, i: int, after: int) -> int:
        name = self._name.strip()
        if not name or any(ch.isspace() for ch in name):
            raise BodyFailure(i, f"bad tool name {name!r}")
        self._index = self._out.call_start(name)
        self._name, self._params = name, 0
        self._state = "sep" if self._b.name_sep and not self._b.name_open else "param"
        return after

    def _open_value(self) -> None:
        assert self._index is not None
        self._is_string = self._key in self._strings.get(self._name, ())
        head = "{" if not self._params else ", "
        self._out.args(self._index, f"{head}{json.dumps(self._key, ensure_ascii=False)}: "
                       + ('"' if self._is_string else ""))
        self._params += 1
        self._sent = 0
        self._state = "value"

    def _trimmed_start(self, raw: str) -> int:
        if self._b.cdata and raw.startswith(CDATA_OPEN):
            return len(CDATA_OPEN)
        return 1 if self._b.trim_newline and raw.startswith("\n") else 0

    def _stream_string(self) -> None:
        raw = self._acc
        if self._b.trim_newline and not raw:
            return
        if self._b.cdata and CDATA_OPEN.startswith(raw):
            return  # maybe the start of a CDATA wrapper: nothing is sure yet
        end = self._value_end()
        close = CDATA_CLOSE + end if self._b.cdata and raw.startswith(CDATA_OPEN) else ""
        safe = len(raw) - max(held_suffix(raw, end), held_suffix(raw, close) if close else 0)
        if self._b.trim_newline and safe > 0 and raw[safe - 1] == "\n":
            safe -= 1
        start = max(self._sent, self._trimmed_start(raw))
        if safe > start:
            assert self._index is not None
            self._out.args(self._index, _piece(raw[start:safe]))
            self._sent = safe

    def _close_value(self, raw: str) -> None:
        assert self._index is not None
        start = self._trimmed_start(raw)
        end = len(raw) - 1 if self._b.trim_newline and raw.endswith("\n") and len(raw) > start else len(raw)
        if start == len(CDATA_OPEN) and self._b.cdata and raw.endswith(CDATA_CLOSE):
            end = len(raw) - len(CDATA_CLOSE)
        if self._is_string:
            rest = raw[max(self._sent, start):end]
            self._out.args(self._index, _piece(rest) + '"')
        elif self._b.nested:
            schema = json.loads(self._schemas.get((self._name, self._key), "null"))
            self._out.args(self._index, nested_value(raw[start:end], self._b.nested, schema))
        else:
            self._out.args(self._index, json_value(raw[start:end], False))
        self._acc = ""

    def _close_call(self) -> None:
        assert self._index is not None
        self._out.args(self._index, "}" if self._params else "{}")
        self._out.call_end(self._index)
        self._index = None
        self._calls += 1
        self._state = "call"

    # ------------------------------------------------------------------ the end

    def finish(self) -> None:
        if self._state == "param" and not self._b.call_close and self._params:
            self._close_call()  # cut off after a whole parameter: the call is complete (``{}`` would not be
            # a prefix of the arguments the call was about to get, so a call cut off before any stays open)
        if self._state == "call" and self._calls:
            self.done = True
        self.abort()

    def abort(self) -> None:
        if self._index is not None:
            self._out.call_end(self._index, complete=False)
            self._index = None
