"""The assertion keywords of one schema object -> a Fact (applicators are handled in ``expand.py``)."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from toolproxy.errors import UnsupportedSchema
from toolproxy.grammar.facts import (
    ALL_TYPES,
    TYPE_NAMES,
    Conj,
    Fact,
    ItemClause,
    ObjClause,
    normalize_value,
)
from toolproxy.grammar.resolver import child


def _num(schema: dict[str, Any], key: str, at: str) -> Fraction | None:
    value = schema.get(key)
    if value is None or isinstance(value, bool):
        return None
    if not isinstance(value, (int, float)):
        raise UnsupportedSchema(child(at, key), "expected a number")
    return Fraction(value) if isinstance(value, int) else Fraction(repr(value))


def _count(schema: dict[str, Any], key: str, at: str) -> int | None:
    value = schema.get(key)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UnsupportedSchema(child(at, key), "expected a non-negative integer")
    return value


def _types(schema: dict[str, Any], at: str) -> frozenset[str]:
    spec = schema.get("type")
    if spec is None:
        return ALL_TYPES
    names = spec if isinstance(spec, list) else [spec]
    out: set[str] = set()
    for name in names:
        if not isinstance(name, str) or name not in TYPE_NAMES:
            raise UnsupportedSchema(child(at, "type"), f"unknown type {name!r}")
        out |= TYPE_NAMES[name]
    return frozenset(out)


def local_fact(schema: dict[str, Any], at: str) -> Fact:
    """Everything but the in-place applicators ($ref, allOf, anyOf, oneOf, not, if, dependentSchemas)."""
    kw: dict[str, Any] = {"types": _types(schema, at)}
    if "enum" in schema:
        if not isinstance(schema["enum"], list):
            raise UnsupportedSchema(child(at, "enum"), "enum must be an array")
        kw["enum"] = tuple(normalize_value(v) for v in schema["enum"])
    if "const" in schema:
        kw["enum"] = (normalize_value(schema["const"]),)
        if "enum" in schema:
            keys = {repr(v) for v in kw["enum"]}
            kw["enum"] = tuple(v for v in (normalize_value(v) for v in schema["enum"]) if repr(v) in keys)
    _numbers(schema, at, kw)
    _strings(schema, at, kw)
    _arrays(schema, at, kw)
    _objects(schema, at, kw)
    return Fact(**kw)


def _numbers(schema: dict[str, Any], at: str, kw: dict[str, Any]) -> None:
    lo, hi = _num(schema, "minimum", at), _num(schema, "maximum", at)
    lo_excl = hi_excl = False
    xlo, xhi = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if isinstance(xlo, bool):  # draft 4 spelling
        lo_excl = xlo
    elif (x := _num(schema, "exclusiveMinimum", at)) is not None and (lo is None or x >= lo):
        lo, lo_excl = x, True
    if isinstance(xhi, bool):
        hi_excl = xhi
    elif (x := _num(schema, "exclusiveMaximum", at)) is not None and (hi is None or x <= hi):
        hi, hi_excl = x, True
    kw.update(lo=lo, lo_excl=lo_excl and lo is not None, hi=hi, hi_excl=hi_excl and hi is not None)
    mult = _num(schema, "multipleOf", at)
    if mult is not None:
        if mult <= 0:
            raise UnsupportedSchema(child(at, "multipleOf"), "multipleOf must be > 0")
        kw["multiples"] = (mult,)


def _strings(schema: dict[str, Any], at: str, kw: dict[str, Any]) -> None:
    kw["min_len"] = _count(schema, "minLength", at) or 0
    kw["max_len"] = _count(schema, "maxLength", at)
    pattern = schema.get("pattern")
    if pattern is not None:
        if not isinstance(pattern, str):
            raise UnsupportedSchema(child(at, "pattern"), "pattern must be a string")
        kw["patterns"] = ((pattern, child(at, "pattern")),)
    fmt = schema.get("format")
    if isinstance(fmt, str):
        kw["formats"] = ((fmt, child(at, "format")),)


def _arrays(schema: dict[str, Any], at: str, kw: dict[str, Any]) -> None:
    prefix: tuple[Conj, ...] = ()
    rest: Conj | None = None
    items = schema.get("items")
    if isinstance(items, list):  # draft 4-2019 tuple form
        prefix = tuple(frozenset({child(at, "items", i)}) for i in range(len(items)))
        if "additionalItems" in schema:
            rest = frozenset({child(at, "additionalItems")})
    elif items is not None:
        rest = frozenset({child(at, "items")})
    if isinstance(schema.get("prefixItems"), list):
        prefix = tuple(frozenset({child(at, "prefixItems", i)}) for i in range(len(schema["prefixItems"])))
    if prefix or rest is not None:
        kw["item_clauses"] = (ItemClause(prefix=prefix, rest=rest, source=at),)
    kw["min_items"] = _count(schema, "minItems", at) or 0
    kw["max_items"] = _count(schema, "maxItems", at)
    if "contains" in schema:
        lo = _count(schema, "minContains", at)
        hi = _count(schema, "maxContains", at)
        kw["contains"] = ((frozenset({child(at, "contains")}), 1 if lo is None else lo, hi),)
    if schema.get("uniqueItems") is True:
        kw["unique"] = True


def _objects(schema: dict[str, Any], at: str, kw: dict[str, Any]) -> None:
    props = schema.get("properties")
    pats = schema.get("patternProperties")
    has_add = "additionalProperties" in schema
    if isinstance(props, dict) or isinstance(pats, dict) or has_add:
        clause = ObjClause(
            props=tuple(
                (name, frozenset({child(at, "properties", name)})) for name in (props or {})
            ),
            patterns=tuple(
                (rx, frozenset({child(at, "patternProperties", rx)}), child(at, "patternProperties", rx))
                for rx in (pats or {})
            ),
            additional=frozenset({child(at, "additionalProperties")}) if has_add else None,
            source=at,
        )
        kw["obj_clauses"] = (clause,)
    required = schema.get("required")
    if isinstance(required, list):
        if not all(isinstance(r, str) for r in required):
            raise UnsupportedSchema(child(at, "required"), "required must list strings")
        kw["required"] = frozenset(required)
    kw["min_props"] = _count(schema, "minProperties", at) or 0
    kw["max_props"] = _count(schema, "maxProperties", at)
    if "propertyNames" in schema:
        kw["prop_names"] = frozenset({child(at, "propertyNames")})

