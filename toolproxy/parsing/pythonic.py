"""Python call syntax (``get_weather(city="Paris")``) to ``(name, arguments JSON)`` with :mod:`ast`.

Never ``eval``: the source is parsed, and each keyword value must be a literal
(:func:`ast.literal_eval` on the node); ``**{"from": 1}`` (a dict literal with string keys: how a parameter
whose name is no Python keyword argument is written) counts as the keyword arguments it holds. Tuples become
JSON arrays; ``None``/``True``/``False`` map to ``null``/``true``/``false``. Anything else (positional
arguments, names, calls, sets, bytes, complex numbers, non-finite floats, ``**name``, an argument given twice)
is refused with :class:`PythonCallError`.
"""

from __future__ import annotations

import ast
import json
import math
from typing import Any


class PythonCallError(ValueError):
    pass


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    raise PythonCallError("the called object is not a (dotted) name")


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise PythonCallError("non-finite float")
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise PythonCallError("dict keys must be strings")
            out[key] = _jsonable(item)
        return out
    raise PythonCallError(f"{type(value).__name__} has no JSON form")


def _escaped_newlines(source: str) -> str:
    """``source`` with the raw line breaks inside its quoted strings escaped (LFM2.5's template writes a string
    argument holding a newline as ``city='a<newline>b'``, which Python does not parse)."""
    out: list[str] = []
    quote = ""
    escaped = False
    for c in source:
        if quote and not escaped and c in "\r\n":
            out.append("\\n" if c == "\n" else "\\r")
            continue
        out.append(c)
        if escaped:
            escaped = False
        elif quote and c == "\\":
            escaped = True
        elif c == quote:
            quote = ""
        elif not quote and c in "'\"":
            quote = c
    return "".join(out)


def _parse(source: str) -> ast.expr:
    try:
        return ast.parse(source.strip(), mode="eval").body
    except SyntaxError as exc:
        retry = _escaped_newlines(source.strip())
        if retry != source.strip():
            try:
                return ast.parse(retry, mode="eval").body
            except SyntaxError:
                pass
        raise PythonCallError(f"not Python: {exc.msg}") from exc
    except (MemoryError, RecursionError) as exc:
        raise PythonCallError("too deeply nested") from exc


def literal_from_source(source: str) -> Any:
    """A Python literal (``True``, ``['a', 'b']``, ``{'k': 1}``) as the JSON value it stands for."""
    return _jsonable(_literal(_parse(source), "value"))


def call_from_source(source: str) -> tuple[str, str]:
    """``'f(a=1, b="x")'`` -> ``("f", '{"a":1,"b":"x"}')`` (compact JSON, non-ASCII kept)."""
    call = _parse(source)
    if not isinstance(call, ast.Call):
        raise PythonCallError("not a call")
    if call.args:
        raise PythonCallError("positional arguments have no parameter names")
    arguments: dict[str, Any] = {}
    for keyword in call.keywords:
        for name, value in _keyword_values(keyword):
            if name in arguments:
                raise PythonCallError(f"argument {name!r} given twice")
            arguments[name] = _jsonable(value)
    return _dotted(call.func), json.dumps(arguments, ensure_ascii=False, separators=(",", ":"))


def _keyword_values(keyword: ast.keyword) -> list[tuple[str, Any]]:
    """``a=1`` -> ``[("a", 1)]``; ``**{"from": 1}`` (a dict *literal*: how a name that is no Python keyword
    argument is written) -> ``[("from", 1)]``."""
    if keyword.arg is not None:
        return [(keyword.arg, _literal(keyword.value, repr(keyword.arg)))]
    if not isinstance(keyword.value, ast.Dict):
        raise PythonCallError("**kwargs must unpack a dict literal")
    value = _literal(keyword.value, "**{...}")
    if not all(isinstance(key, str) for key in value):
        raise PythonCallError("**{...} keys must be strings")
    if len(value) != len(keyword.value.keys):
        raise PythonCallError("**{...} repeats a key")
    return list(value.items())


def _literal(node: ast.expr, what: str) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as exc:
        raise PythonCallError(f"argument {what} is not a literal") from exc
