"""JSON Schema -> GBNF for *Python literals* (the pythonic style's keyword argument values).

Every admitted text is an :func:`ast.literal_eval`-able literal whose JSON form (``None`` -> null,
``True`` -> true, tuples never produced) is valid for the schema:

- strings: double- or single-quoted (LFM2.5 writes ``'Paris'``), any character but the quote, ``\\`` and control
  characters, escapes ``\\\\ \\" \\'
  \\n \\r \\t`` only (no ``\\u``/``\\x``: no lone surrogates); enum/const values are written exactly;
- integers ``-?(0|[1-9][0-9]*)`` (Python refuses leading zeros too), numbers with a bounded exponent
  (always finite), ``True``/``False``/``None``;
- arrays as lists, objects as dicts with string keys: declared properties in declared order, required ones
  mandatory, optional ones optional (no additional keys when properties are declared).
- keyword arguments ``city="Paris"``; a parameter whose name Python cannot write so (a keyword such as ``from``
  or ``class``, or not an identifier: ``max-size``) as ``**{"from": "Paris"}`` — valid Python, parsed back by
  :mod:`toolproxy.parsing.pythonic`, and the spelling the history writer (:func:`python_call`) uses.

Only the keywords listed in ``_SUPPORTED`` are understood; any other assertion keyword (``minimum``,
``pattern``, ``$ref``, ``allOf``, ...) raises :class:`UnsupportedSchema`: the service then relaxes that
tool to any keyword arguments and validates the parsed arguments with jsonschema afterwards.
"""

from __future__ import annotations

import json
import keyword
import unicodedata
from typing import Any

from toolproxy.errors import UnsupportedSchema
from toolproxy.grammar import GrammarBuilder, gbnf_literal

_ANNOTATIONS = frozenset(
    {"description", "title", "default", "examples", "format", "$schema", "$comment", "$id", "deprecated",
     "readOnly", "writeOnly", "nullable"}
)
_SUPPORTED = frozenset({"type", "properties", "required", "items", "enum", "const", "anyOf", "additionalProperties"})

_BASE = {
    "py-ws": "[ ]?",
    "py-string": '"\\"" ( [^"\\\\\\x00-\\x1f] | "\\\\" ["\\\\\'nrt] )* "\\"" '
    '| "\'" ( [^\'\\\\\\x00-\\x1f] | "\\\\" ["\\\\\'nrt] )* "\'"',
    "py-int": '"-"? ( "0" | [1-9] [0-9]{0,15} )',
    "py-number": 'py-int ( "." [0-9]{1,16} )? ( [eE] [-+]? [0-9]{1,2} )?',
    "py-bool": '"True" | "False"',
    "py-none": '"None"',
    "py-list": '"[" py-ws ( py-any ( py-ws "," py-ws py-any )* )? py-ws "]"',
    "py-dict": '"{" py-ws ( py-string py-ws ":" py-ws py-any ( py-ws "," py-ws py-string py-ws ":" py-ws py-any )* )? '
    'py-ws "}"',
    "py-any": "py-string | py-number | py-bool | py-none | py-list | py-dict",
    "py-name": "[a-zA-Z_] [a-zA-Z0-9_]{0,63}",
}


def python_literal(value: Any) -> str:
    """``value`` (JSON data) written as a Python literal that evaluates back to it."""
    if value is None:
        return "None"
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int | float | str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(python_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        pairs = (f"{json.dumps(str(k), ensure_ascii=False)}: {python_literal(v)}" for k, v in value.items())
        return "{" + ", ".join(pairs) + "}"
    raise TypeError(f"{type(value).__name__} is not JSON data")


def is_keyword_name(key: str) -> bool:
    """Whether ``key`` can be written ``key=value`` in a Python call (else ``**{"key": value}``). Python reads
    identifiers NFKC-normalised (``ﬁle`` is ``file``): such a name keeps its exact spelling in the dict form."""
    return key.isidentifier() and not keyword.iskeyword(key) and unicodedata.normalize("NFKC", key) == key


def python_call(name: str, arguments: dict[str, Any]) -> str:
    """``name(a=1, **{"from": "x"})``: the canonical source of a call, in the grammar's spelling."""
    return f"{name}(" + ", ".join(_argument(k, v) for k, v in arguments.items()) + ")"


def _argument(key: str, value: Any) -> str:
    if is_keyword_name(key):
        return f"{key}={python_literal(value)}"
    return "**{" + _quoted(key) + ": " + python_literal(value) + "}"


def _quoted(key: str) -> str:
    return json.dumps(key, ensure_ascii=False)


class PyLiteralGrammar:
    """Adds Python-literal rules for schemas to a :class:`GrammarBuilder`."""

    def __init__(self, builder: GrammarBuilder) -> None:
        self.b = builder
        self._base_done = False

    def base(self, name: str) -> str:
        if not self._base_done:
            for rule, body in _BASE.items():
                got = self.b.add_rule(rule, body)
                if got != rule:
                    raise ValueError(f"grammar rule {rule!r} is already taken")
            self._base_done = True
        return name

    # ------------------------------------------------------------------ schemas

    def kwargs(self, schema: dict[str, Any], name: str, pointer: str = "") -> str:
        """``a=1, b="x"`` for an object schema; a name that is not a Python keyword argument (``from``,
        ``max-size``) is written ``**{"from": value}``. Relaxed (no properties): either spelling, any names."""
        self._check(schema, pointer)
        properties = schema.get("properties")
        if not isinstance(properties, dict) or not properties:
            if schema.get("additionalProperties") is False:
                return ""
            any_value = self.base("py-any")
            item = f'( {self.base("py-name")} "=" {any_value} | "**{{" py-string ": " {any_value} "}}" )'
            return self.b.add_rule(f"{name}-kwargs", f'( {item} ( "," py-ws {item} )* )?')
        items: list[tuple[str, bool]] = []
        required = _required(schema, pointer)
        for key, sub in properties.items():
            value = self.value(sub, f"{name}-{key}", f"{pointer}/properties/{key}")
            if is_keyword_name(key):
                items.append((f"{gbnf_literal(key + '=')} {value}", key in required))
            else:  # from, class, max-size: **{"from": ...} (valid Python, any string key)
                items.append((f'{gbnf_literal("**{" + _quoted(key) + ": ")} {value} "}}"', key in required))
        for key in required:
            if key not in properties:
                raise UnsupportedSchema(f"{pointer}/required", f"required {key!r} is not a declared property")
        return self._ordered(name, items, '"," py-ws')

    def value(self, schema: Any, name: str, pointer: str) -> str:
        if schema is True or schema == {}:
            return self.base("py-any")
        if not isinstance(schema, dict):
            raise UnsupportedSchema(pointer, "false schema")
        self._check(schema, pointer)
        if "const" in schema:
            return self.b.add_rule(f"{name}-const", gbnf_literal(python_literal(schema["const"])))
        if "enum" in schema:
            values = schema["enum"]
            if not isinstance(values, list) or not values:
                raise UnsupportedSchema(f"{pointer}/enum", "empty enum")
            return self.b.add_rule(f"{name}-enum", " | ".join(gbnf_literal(python_literal(v)) for v in values))
        if "anyOf" in schema:
            branches = schema["anyOf"]
            if not isinstance(branches, list) or not branches or set(schema) - _ANNOTATIONS - {"anyOf"}:
                raise UnsupportedSchema(f"{pointer}/anyOf", "anyOf beside other keywords")
            alts = [self.value(s, f"{name}-{i}", f"{pointer}/anyOf/{i}") for i, s in enumerate(branches)]
            return self.b.add_rule(name, " | ".join(alts))
        types = schema.get("type")
        if types is None:
            types = ["object"] if "properties" in schema else ["array"] if "items" in schema else None
        if types is None:
            return self.base("py-any")
        if isinstance(types, str):
            types = [types]
        alts = [self._typed(t, schema, name, pointer) for t in types]
        return self.b.add_rule(name, " | ".join(alts))

    def _typed(self, kind: str, schema: dict[str, Any], name: str, pointer: str) -> str:
        simple = {"string": "py-string", "integer": "py-int", "number": "py-number", "boolean": "py-bool",
                  "null": "py-none"}
        if kind in simple:
            return self.base(simple[kind])
        if kind == "array":
            items = schema.get("items", True)
            item = self.value(items, f"{name}-item", f"{pointer}/items")
            return self.b.add_rule(f"{name}-list", f'"[" py-ws ( {item} ( py-ws "," py-ws {item} )* )? py-ws "]"')
        if kind == "object":
            return self._object(schema, name, pointer)
        raise UnsupportedSchema(f"{pointer}/type", f"unknown type {kind!r}")

    def _object(self, schema: dict[str, Any], name: str, pointer: str) -> str:
        properties = schema.get("properties")
        extra = schema.get("additionalProperties", True)
        if not isinstance(properties, dict) or not properties:
            if extra is False:
                return self.b.add_rule(f"{name}-dict", '"{" py-ws "}"')
            value = self.value(extra, f"{name}-extra", f"{pointer}/additionalProperties")
            pair = f"py-string py-ws \":\" py-ws {value}"
            return self.b.add_rule(f"{name}-dict", f'"{{" py-ws ( {pair} ( py-ws "," py-ws {pair} )* )? py-ws "}}"')
        required = _required(schema, pointer)
        items: list[tuple[str, bool]] = []
        for key, sub in properties.items():
            value = self.value(sub, f"{name}-{_safe(key)}", f"{pointer}/properties/{key}")
            spellings = sorted({json.dumps(key, ensure_ascii=False), repr(key)})  # "k" or Python's repr 'k'
            quoted = "( " + " | ".join(gbnf_literal(q) for q in spellings) + " )"
            items.append((f'{quoted} py-ws ":" py-ws {value}', key in required))
        for key in required:
            if key not in properties:
                raise UnsupportedSchema(f"{pointer}/required", f"required {key!r} is not a declared property")
        inner = self._ordered(f"{name}-props", items, 'py-ws "," py-ws')
        return self.b.add_rule(f"{name}-dict", f'"{{" py-ws {inner} py-ws "}}"' if inner else '"{" py-ws "}"')

    # ------------------------------------------------------------------ helpers

    def _ordered(self, name: str, items: list[tuple[str, bool]], sep: str) -> str:
        """Items in order, comma-separated; required ones mandatory, optional ones optional. Returns a
        rule name, or "" when nothing at all can be written."""
        self.base("py-ws")
        memo: dict[tuple[int, bool], str] = {}

        def tail(i: int, started: bool) -> str:
            if i == len(items):
                return ""
            if (i, started) in memo:
                return memo[(i, started)]
            item, required = items[i]
            lead = f"{sep} {item}" if started else item
            take = f"{lead} {tail(i + 1, True)}".strip()
            if required:
                body = take
            else:
                skip = tail(i + 1, started)
                body = f"{take} | {skip}" if skip else f"( {take} )?"
            rule = self.b.add_rule(f"{name}-{i}{'s' if started else ''}", body)
            memo[(i, started)] = rule
            return rule

        return tail(0, False)

    @staticmethod
    def _check(schema: dict[str, Any], pointer: str) -> None:
        for key in schema:
            if key not in _SUPPORTED and key not in _ANNOTATIONS:
                raise UnsupportedSchema(f"{pointer}/{key}", f"{key!r} has no Python-literal grammar")


def _required(schema: dict[str, Any], pointer: str) -> set[str]:
    required = schema.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        raise UnsupportedSchema(f"{pointer}/required", "required must be a list of names")
    return set(required)


def _safe(key: str) -> str:
    cleaned = "".join(c if c.isalnum() else "-" for c in key)
    return cleaned or "key"
