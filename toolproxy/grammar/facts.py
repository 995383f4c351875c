"""The compiler's intermediate form: a *fact* is a conjunction of per-type constraints.

A schema is expanded (``expand.py``) into a disjunction of facts. Subschemas that facts refer to
(property values, items, ...) stay lazy as *conjunctions* (frozensets of members): a member is the
JSON pointer of a subschema, or ``"!" + json([members...])`` for the negation of a conjunction.
Keywords of one type never constrain values of other types: each field below only applies to its type.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

Conj = frozenset[str]
TOP: Conj = frozenset()

NUMBER = frozenset({"int", "frac"})
ALL_TYPES = frozenset({"null", "boolean", "int", "frac", "string", "array", "object"})
TYPE_NAMES: dict[str, frozenset[str]] = {
    "null": frozenset({"null"}),
    "boolean": frozenset({"boolean"}),
    "integer": frozenset({"int"}),
    "number": NUMBER,
    "string": frozenset({"string"}),
    "array": frozenset({"array"}),
    "object": frozenset({"object"}),
    # non-standard spellings real clients send (BFCL and friends)
    "dict": frozenset({"object"}),
    "float": NUMBER,
    "int": frozenset({"int"}),
    "bool": frozenset({"boolean"}),
    "str": frozenset({"string"}),
    "list": frozenset({"array"}),
    "tuple": frozenset({"array"}),
    "any": ALL_TYPES,
}


class NotNegatable(Exception):
    """Internal: the complement of this fact cannot be expressed (caller decides: subset or refuse)."""


def negate_conj(conj: Conj) -> str:
    return "!" + json.dumps(sorted(conj), separators=(",", ":"))


def negated_members(member: str) -> Conj:
    return frozenset(json.loads(member[1:]))


def normalize_value(value: Any) -> Any:
    """JSON-Schema equality: 1 == 1.0, true != 1, object key order irrelevant."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, list):
        return [normalize_value(v) for v in value]
    if isinstance(value, dict):
        return {k: normalize_value(v) for k, v in value.items()}
    return value


def value_key(value: Any) -> str:
    return json.dumps(normalize_value(value), sort_keys=True, ensure_ascii=False)


def value_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "int" if value.is_integer() else "frac"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


@dataclass(frozen=True)
class ObjClause:
    """properties / patternProperties / additionalProperties of one schema (they interact)."""

    props: tuple[tuple[str, Conj], ...] = ()
    patterns: tuple[tuple[str, Conj, str], ...] = ()  # (regex, value conj, pointer of the regex)
    additional: Conj | None = None  # None: keyword absent (TOP: present and true)
    source: str = "!"  # pointer of the schema it comes from ("!": from a negation, evaluates nothing)


@dataclass(frozen=True)
class ItemClause:
    """prefixItems / items of one schema."""

    prefix: tuple[Conj, ...] = ()
    rest: Conj | None = None  # None: keyword absent
    source: str = "!"


@dataclass(frozen=True)
class Fact:
    types: frozenset[str] = ALL_TYPES
    enum: tuple[Any, ...] | None = None  # a finite set of allowed values (normalized)
    excluded: frozenset[str] = frozenset()  # value_key of forbidden values
    # numbers
    lo: Fraction | None = None
    lo_excl: bool = False
    hi: Fraction | None = None
    hi_excl: bool = False
    multiples: tuple[Fraction, ...] = ()
    # strings
    min_len: int = 0
    max_len: int | None = None
    patterns: tuple[tuple[str, str], ...] = ()  # (regex, pointer)
    formats: tuple[tuple[str, str], ...] = ()  # (format, pointer)
    # arrays
    item_clauses: tuple[ItemClause, ...] = ()
    min_items: int = 0
    max_items: int | None = None
    contains: tuple[tuple[Conj, int, int | None], ...] = ()
    unique: bool = False
    # objects
    obj_clauses: tuple[ObjClause, ...] = ()
    required: frozenset[str] = frozenset()
    min_props: int = 0
    max_props: int | None = None
    prop_names: Conj = TOP
    # unevaluatedProperties / unevaluatedItems: (value conj, pointers in the keyword's scope)
    uneval_props: tuple[tuple[Conj, frozenset[str]], ...] = ()
    uneval_items: tuple[tuple[Conj, frozenset[str]], ...] = ()

    def intersect(self, o: Fact) -> Fact:
        enum = self.enum
        if o.enum is not None:
            if enum is None:
                enum = o.enum
            else:
                keys = {value_key(v) for v in o.enum}
                enum = tuple(v for v in enum if value_key(v) in keys)
        lo, lo_excl = _tighter_lo(self.lo, self.lo_excl, o.lo, o.lo_excl)
        hi, hi_excl = _tighter_hi(self.hi, self.hi_excl, o.hi, o.hi_excl)
        return Fact(
            types=self.types & o.types,
            enum=enum,
            excluded=self.excluded | o.excluded,
            lo=lo,
            lo_excl=lo_excl,
            hi=hi,
            hi_excl=hi_excl,
            multiples=_union(self.multiples, o.multiples),
            min_len=max(self.min_len, o.min_len),
            max_len=_min_opt(self.max_len, o.max_len),
            patterns=_union(self.patterns, o.patterns),
            formats=_union(self.formats, o.formats),
            item_clauses=_union(self.item_clauses, o.item_clauses),
            min_items=max(self.min_items, o.min_items),
            max_items=_min_opt(self.max_items, o.max_items),
            contains=_union(self.contains, o.contains),
            unique=self.unique or o.unique,
            obj_clauses=_union(self.obj_clauses, o.obj_clauses),
            required=self.required | o.required,
            min_props=max(self.min_props, o.min_props),
            max_props=_min_opt(self.max_props, o.max_props),
            prop_names=self.prop_names | o.prop_names,
            uneval_props=_union(self.uneval_props, o.uneval_props),
            uneval_items=_union(self.uneval_items, o.uneval_items),
        )

    def simplify(self) -> Fact | None:
        """Drop the types whose constraints are contradictory; None when nothing is left."""
        types = set(self.types)
        if self.lo is not None and self.hi is not None and (
            self.lo > self.hi or (self.lo == self.hi and (self.lo_excl or self.hi_excl))
        ):
            types -= NUMBER
        if "int" in types and self.lo is not None and self.hi is not None:
            lo = _int_lo(self.lo, self.lo_excl)
            hi = _int_hi(self.hi, self.hi_excl)
            if lo > hi:
                types.discard("int")
        if self.max_len is not None and self.min_len > self.max_len:
            types.discard("string")
        if self.max_items is not None and self.min_items > self.max_items:
            types.discard("array")
        if self.max_props is not None and (
            self.min_props > self.max_props or len(self.required) > self.max_props
        ):
            types.discard("object")
        enum = self.enum
        if enum is not None:
            enum = tuple(
                v for v in enum if value_type(v) in types and value_key(v) not in self.excluded
            )
            if not enum:
                return None
        if not types:
            return None
        if types == set(self.types) and enum == self.enum:
            return self
        return replace(self, types=frozenset(types), enum=enum)


def _union(a: tuple[Any, ...], b: tuple[Any, ...]) -> tuple[Any, ...]:
    return a + tuple(x for x in b if x not in a)


def _min_opt(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def _tighter_lo(
    a: Fraction | None, ax: bool, b: Fraction | None, bx: bool
) -> tuple[Fraction | None, bool]:
    if a is None:
        return b, bx
    if b is None or a > b:
        return a, ax
    if b > a:
        return b, bx
    return a, ax or bx


def _tighter_hi(
    a: Fraction | None, ax: bool, b: Fraction | None, bx: bool
) -> tuple[Fraction | None, bool]:
    if a is None:
        return b, bx
    if b is None or a < b:
        return a, ax
    if b < a:
        return b, bx
    return a, ax or bx


def _int_lo(lo: Fraction, excl: bool) -> int:
    n = -((-lo.numerator) // lo.denominator)  # ceil
    return n + 1 if excl and n == lo else n


def _int_hi(hi: Fraction, excl: bool) -> int:
    n = hi.numerator // hi.denominator  # floor
    return n - 1 if excl and n == hi else n


def int_bounds(f: Fact) -> tuple[int | None, int | None]:
    lo = _int_lo(f.lo, f.lo_excl) if f.lo is not None else None
    hi = _int_hi(f.hi, f.hi_excl) if f.hi is not None else None
    return lo, hi
