"""Normalise tool schemas as real clients send them into standard JSON Schema.

Handles BFCL-style types (``dict``, ``float``, ``tuple``, ``any``, ``list``, ``str``, ``bool``, ``int``),
OpenAPI ``nullable``, a missing ``parameters`` (no arguments), and parameters without ``type``.
"""

from __future__ import annotations

from typing import Any

from toolproxy.errors import InvalidRequest

_TYPE_ALIASES: dict[str, str | None] = {
    "dict": "object",
    "object": "object",
    "float": "number",
    "double": "number",
    "number": "number",
    "int": "integer",
    "integer": "integer",
    "long": "integer",
    "str": "string",
    "string": "string",
    "bool": "boolean",
    "boolean": "boolean",
    "list": "array",
    "array": "array",
    "tuple": "array",
    "null": "null",
    "any": None,  # no constraint
}

_SUBSCHEMA_KEYS = ("items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames")
_SUBSCHEMA_LIST_KEYS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SUBSCHEMA_MAP_KEYS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")

_MAX_DEPTH = 64

# Closing objects (additionalProperties: false) is only sound along plain property/item paths: inside allOf it
# can make a valid composition unsatisfiable, inside `not` it would loosen the constraint.
_CLOSE_THROUGH = frozenset({"properties", "items", "prefixItems", "additionalProperties"})
_OPEN_KEYS = frozenset({"additionalProperties", "patternProperties", "unevaluatedProperties", "allOf", "anyOf",
                        "oneOf", "$ref", "$dynamicRef", "if", "dependentSchemas", "not"})


def normalize_schema(schema: Any, *, where: str = "parameters", close: bool = False, _depth: int = 0) -> Any:
    """Return a standard JSON Schema equivalent of a client-sent schema (the input is not modified).

    ``close``: object schemas that list ``properties`` but say nothing of other keys get
    ``additionalProperties: false``. Every value admitted is still valid against the original schema (a
    sound subset); it stops a model from inventing arguments a function does not take.
    """
    if _depth > _MAX_DEPTH:
        raise InvalidRequest(f"{where}: schema nested deeper than {_MAX_DEPTH} levels", param="tools")
    if isinstance(schema, bool):
        return schema
    if not isinstance(schema, dict):
        raise InvalidRequest(f"{where}: a JSON Schema must be an object or a boolean", param="tools")
    out: dict[str, Any] = dict(schema)
    if "type" in out:
        out = _normalize_type(out, where)
    if out.pop("nullable", False) is True and "type" in out:
        types = out["type"] if isinstance(out["type"], list) else [out["type"]]
        if "null" not in types:
            out["type"] = [*types, "null"]
            if "enum" in out and isinstance(out["enum"], list) and None not in out["enum"]:
                out["enum"] = [*out["enum"], None]
    if close and "properties" in out and not _OPEN_KEYS & out.keys():
        out["additionalProperties"] = False
    for key in _SUBSCHEMA_KEYS:
        if key in out and isinstance(out[key], dict | bool):
            out[key] = normalize_schema(out[key], where=f"{where}.{key}", close=close and key in _CLOSE_THROUGH,
                                        _depth=_depth + 1)
    for key in _SUBSCHEMA_LIST_KEYS:
        if key in out and isinstance(out[key], list):
            out[key] = [
                normalize_schema(sub, where=f"{where}.{key}[{i}]", close=close and key in _CLOSE_THROUGH,
                                 _depth=_depth + 1)
                for i, sub in enumerate(out[key])
            ]
    if isinstance(out.get("items"), list):  # draft-4 style tuple items
        out["prefixItems"] = [
            normalize_schema(sub, where=f"{where}.items[{i}]", close=close, _depth=_depth + 1)
            for i, sub in enumerate(out.pop("items"))
        ]
        if "additionalItems" in out:
            out["items"] = normalize_schema(out.pop("additionalItems"), where=f"{where}.additionalItems",
                                            close=close, _depth=_depth + 1)
    for key in _SUBSCHEMA_MAP_KEYS:
        if key in out and isinstance(out[key], dict):
            out[key] = {
                name: normalize_schema(sub, where=f"{where}.{key}.{name}", close=close and key in _CLOSE_THROUGH,
                                       _depth=_depth + 1)
                for name, sub in out[key].items()
            }
    return out


def _normalize_type(out: dict[str, Any], where: str) -> dict[str, Any]:
    raw = out["type"]
    names = raw if isinstance(raw, list) else [raw]
    mapped: list[str] = []
    for name in names:
        if not isinstance(name, str):
            raise InvalidRequest(f"{where}.type: {name!r} is not a type name", param="tools")
        key = name.strip().lower()
        if key not in _TYPE_ALIASES:
            raise InvalidRequest(f"{where}.type: unknown type {name!r}", param="tools")
        target = _TYPE_ALIASES[key]
        if target is None:  # 'any' admits everything
            out.pop("type")
            return out
        if target not in mapped:
            mapped.append(target)
    out["type"] = mapped[0] if len(mapped) == 1 else mapped
    return out


def normalize_parameters(parameters: dict[str, Any] | None, *, tool: str) -> dict[str, Any]:
    """The arguments schema of a tool: always an object schema."""
    where = f"tool '{tool}' parameters"
    if parameters is None or parameters == {}:
        return {"type": "object", "properties": {}, "additionalProperties": False}
    schema = normalize_schema(parameters, where=where, close=True)
    if isinstance(schema, bool):
        return {"type": "object"} if schema else {"type": "object", "maxProperties": 0}
    if "type" not in schema and ("properties" in schema or "required" in schema):
        schema["type"] = "object"
    if schema.get("type") not in ("object", None):
        raise InvalidRequest(f"{where}: arguments must be an object schema, got type {schema['type']!r}",
                             param="tools")
    return schema
