"""Find ``$ref`` loops that never consume any input: ``{"$ref": "#"}``, ``a -> b -> a`` through ``$defs``.

JSON Schema leaves such schemas undefined ("a schema MUST NOT be run into an infinite loop", draft 2020-12
§9.4.1); a validator recurses until it crashes. Recursion through ``properties`` / ``items`` (a tree of
nodes) is fine: each round consumes a level of the instance. Only in-place edges count here: ``$ref``,
``$dynamicRef``, ``allOf``/``anyOf``/``oneOf``, ``not``, ``if``/``then``/``else``, ``dependentSchemas``.
Iterative (no recursion) and linear in the size of the schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from toolproxy.errors import UnsupportedSchema
from toolproxy.grammar.resolver import Document, child

_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
_ONE = ("not", "if", "then", "else", "contains", "additionalProperties", "propertyNames",
        "unevaluatedProperties", "unevaluatedItems", "items", "additionalItems")  # fmt: skip
_IN_PLACE_LISTS = ("allOf", "anyOf", "oneOf")
_IN_PLACE_ONE = ("not", "if", "then", "else")


def find_ref_cycle(schema: Any) -> str | None:
    """The JSON pointer of a schema on an input-free ``$ref`` loop, or None. Schemas the resolver cannot
    index (remote references, too deep) are left to the grammar compiler, which refuses them itself."""
    try:
        doc = Document(schema)
    except (UnsupportedSchema, RecursionError):
        return None
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in _schema_pointers(schema):
        if start in state:
            continue
        stack: list[tuple[str, Iterator[str]]] = [(start, _in_place(doc, start))]
        state[start] = 1
        while stack:
            pointer, edges = stack[-1]
            nxt = next(edges, None)
            if nxt is None:
                state[pointer] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return nxt
            elif nxt not in state:
                state[nxt] = 1
                stack.append((nxt, _in_place(doc, nxt)))
    return None


def _in_place(doc: Document, pointer: str) -> Iterator[str]:
    try:
        node = doc.at(pointer)
    except UnsupportedSchema:
        return
    if not isinstance(node, dict):
        return
    for key, dynamic in (("$ref", False), ("$dynamicRef", True)):
        ref = node.get(key)
        if isinstance(ref, str):
            try:
                target = doc.resolve(ref, pointer, dynamic=dynamic)
            except UnsupportedSchema:
                continue
            yield target
    for key in _IN_PLACE_LISTS:
        subs = node.get(key)
        if isinstance(subs, list):
            yield from (child(pointer, key, i) for i in range(len(subs)))
    for key in _IN_PLACE_ONE:
        if key in node:
            yield child(pointer, key)
    deps = node.get("dependentSchemas")
    if isinstance(deps, dict):
        yield from (child(pointer, "dependentSchemas", name) for name in deps)


def _schema_pointers(schema: Any) -> Iterator[str]:
    stack: list[tuple[Any, str]] = [(schema, "")]
    while stack:
        node, pointer = stack.pop()
        if not isinstance(node, dict):
            continue
        yield pointer
        for key in _MAPS:
            sub = node.get(key)
            if isinstance(sub, dict):
                stack.extend((value, child(pointer, key, name)) for name, value in sub.items())
        for key in _LISTS:
            sub = node.get(key)
            if isinstance(sub, list):
                stack.extend((value, child(pointer, key, i)) for i, value in enumerate(sub))
        for key in _ONE:
            if key in node:
                stack.append((node[key], child(pointer, key)))
