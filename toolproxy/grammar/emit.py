"""Facts -> GBNF: one rule per conjunction of subschemas, one alternative per fact and type."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from fractions import Fraction
from itertools import permutations
from typing import Any

from toolproxy.errors import UnsupportedSchema
from toolproxy.grammar.checker import Checker
from toolproxy.grammar.expand import Expander
from toolproxy.grammar.facts import (
    NUMBER,
    TOP,
    Conj,
    Fact,
    int_bounds,
    negated_members,
    value_type,
)
from toolproxy.grammar.gbnf import gbnf_literal, ref
from toolproxy.grammar.numbers import NumberSpec, number_rules, to_decimal
from toolproxy.grammar.resolver import Document, split

MAX_RULES = 5000
_ANNOTATIONS = frozenset(
    {"$comment", "$schema", "$id", "$anchor", "$defs", "definitions", "title", "description", "default",
     "examples", "deprecated", "readOnly", "writeOnly"}
)  # fmt: skip
MAX_ENUM = 20000
MAX_MODULUS = 2000
SMALL_ENUM = 16


def json_text(value: str | int | float | bool | None) -> str:
    """Compact JSON of a scalar, UTF-8 kept raw unless it holds lone surrogates (then ASCII escapes)."""
    text = json.dumps(value, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(value)
    return text


def hint_for(conj: Conj) -> str:
    plain = sorted(m for m in conj if not m.startswith("!"))
    if not plain:
        negs = sorted(conj)
        return "not-" + hint_for(negated_members(negs[0])) if negs else "any"
    tokens = split(plain[0])
    out: list[str] = []
    i = 0
    while i < len(tokens):
        t = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if t in ("properties", "$defs", "definitions", "dependentSchemas") and nxt is not None:
            out.append(nxt)
            i += 2
            continue
        if t in ("prefixItems", "anyOf", "oneOf", "allOf") and nxt is not None:
            out.append(("item" if t == "prefixItems" else t.lower()) + nxt)
            i += 2
            continue
        if t == "patternProperties" and nxt is not None:
            out.append("pattern")
            i += 2
            continue
        out.append({"items": "item", "additionalProperties": "additional"}.get(t, t))
        i += 1
    return "-".join(out)


class Emitter:
    """Holds the rules of one compilation (placeholders ``ref(id)`` until the builder names them)."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.expander = Expander(doc)
        self.checker = Checker(doc)
        self.rules: dict[int, tuple[str, str]] = {}
        self.fragments: set[str] = set()
        self._by_conj: dict[Conj, str] = {}
        self._hints: dict[int, str] = {}

    # -- rule store --------------------------------------------------------------------------
    def new_rule(self, hint: str) -> str:
        rid = len(self._hints)
        if rid >= MAX_RULES:
            raise UnsupportedSchema("", "schema needs too many grammar rules")
        self._hints[rid] = hint
        return ref(rid)

    def define(self, token: str, body: str) -> None:
        rid = int(token[1:-1])
        self.rules[rid] = (self._hints[rid], body)

    def frag(self, name: str) -> str:
        self.fragments.add(name)
        return name

    # -- conjunctions ------------------------------------------------------------------------
    def rule(self, conj: Conj) -> str | None:
        """A reference to the rule of ``conj``; None when no value satisfies it."""
        if conj == TOP:
            return self.frag("value")
        conj = self.canonical(conj)
        found = self._by_conj.get(conj)
        if found is not None:
            return found
        facts = self.expander.expand(conj)
        if not facts:
            return None
        token = self.new_rule(hint_for(conj))
        self._by_conj[conj] = token
        body = self.body(facts, conj)
        if body is None and not any(token in b for _, b in self.rules.values()):
            del self._by_conj[conj]  # empty and not used recursively: callers drop the branch
            return None
        self.define(token, body if body is not None else self.never())
        return token

    def canonical(self, conj: Conj) -> Conj:
        """Members that are a bare ``$ref`` replaced by their target: one rule per definition."""
        out: set[str] = set()
        for member in conj:
            seen: set[str] = set()
            while not member.startswith("!") and member not in seen:
                seen.add(member)
                node = self.doc.at(member)
                if not (isinstance(node, dict) and isinstance(node.get("$ref"), str)):
                    break
                if any(k not in _ANNOTATIONS for k in node if k != "$ref"):
                    break
                member = self.doc.resolve(node["$ref"], member)
            out.add(member)
        return frozenset(out)

    def bind(self, conj: Conj, token: str) -> None:
        """Make ``token`` the rule of ``conj`` (the root rule, so that recursion refers to it)."""
        self._by_conj[conj] = token

    def never(self) -> str:
        """A rule admitting nothing (used only where emptiness shows up late, inside recursion)."""
        return self.frag("never")

    def body(self, facts: list[Fact], conj: Conj) -> str | None:
        from toolproxy.grammar.arrays import array_expr
        from toolproxy.grammar.objects import object_expr
        from toolproxy.grammar.strings import string_expr

        alts: list[str] = []
        for f in facts:
            parts: list[str | None]
            if f.enum is not None:
                parts = [self.enum_expr(f, conj)]
            else:
                parts = []
                if "null" in f.types and "null" not in f.excluded:
                    parts.append('"null"')
                for word in ("true", "false"):
                    if "boolean" in f.types and word not in f.excluded:
                        parts.append(f'"{word}"')
                if f.types & NUMBER:
                    parts.append(self.number_expr(f, conj))
                if "string" in f.types:
                    parts.append(string_expr(self, f))
                if "array" in f.types and (g := _without_excluded(f, "array")) is not None:
                    parts.append(array_expr(self, g, conj))
                if "object" in f.types and (g := _without_excluded(f, "object")) is not None:
                    parts.append(object_expr(self, g, conj))
            for p in parts:
                if p is not None and p not in alts:
                    alts.append(p)
        if not alts:
            return None
        return " | ".join(alts)

    # -- enums and constants -----------------------------------------------------------------
    def enum_expr(self, f: Fact, conj: Conj) -> str | None:
        assert f.enum is not None
        if len(f.enum) > MAX_ENUM:
            raise UnsupportedSchema("", f"enum with more than {MAX_ENUM} values")
        plain = f.simplify()
        if plain is None or plain.enum is None:
            return None
        needs_check = _has_constraints(f)
        out: list[str] = []
        seen: set[str] = set()
        for value in plain.enum:
            if needs_check:
                ok = _quick_check(f, value)
                if ok is None:
                    ok = self.checker.valid(value, conj)
                if ok is not True:
                    continue
            text = self.const_expr(value, any_order=len(plain.enum) <= SMALL_ENUM)
            if text not in seen:
                seen.add(text)
                out.append(text)
        return " | ".join(out) if out else None

    def const_expr(self, value: Any, *, any_order: bool = False) -> str:
        """The JSON text of ``value`` with bounded whitespace; ``any_order``: small objects in every key
        order (JSON Schema equality ignores the order of keys)."""
        if isinstance(value, dict):
            ws, colon, comma = self.frag("jws"), self.frag("jws-colon"), self.frag("jws-comma")
            if not value:
                return f'"{{" {ws} "}}"'
            orders = permutations(value) if any_order and len(value) <= 3 else [tuple(value)]
            alts = []
            for order in orders:
                kvs = [
                    f'{gbnf_literal(json_text(k))} {ws} ":" {colon} '
                    f"{self.const_expr(value[k], any_order=any_order)} {ws}"
                    for k in order
                ]
                alts.append(f'"{{" {ws} ' + f' "," {comma} '.join(kvs) + ' "}"')
            return alts[0] if len(alts) == 1 else "( " + " | ".join(alts) + " )"
        if isinstance(value, list):
            ws, comma = self.frag("jws"), self.frag("jws-comma")
            if not value:
                return f'"[" {ws} "]"'
            items = [f"{self.const_expr(v, any_order=any_order)} {ws}" for v in value]
            return f'"[" {ws} ' + f' "," {comma} '.join(items) + ' "]"'
        if isinstance(value, float) and not math.isfinite(value):
            raise UnsupportedSchema("", "non-finite number in enum/const")
        return gbnf_literal(json_text(value))

    # -- numbers -----------------------------------------------------------------------------
    def number_expr(self, f: Fact, conj: Conj) -> str | None:
        allow_int, allow_frac = "int" in f.types, "frac" in f.types
        excluded = []
        for key in f.excluded:
            v = json.loads(key)
            if value_type(v) in ("int", "frac"):
                excluded.append(Fraction(v) if isinstance(v, int) else Fraction(repr(v)))
        if not (f.lo is not None or f.hi is not None or f.multiples or excluded):
            if allow_frac and allow_int:
                return self.frag("number")
            if allow_int:
                return self.frag("integer")
        comparisons: list[tuple[Fraction, frozenset[str]]] = []
        if allow_frac:
            if f.lo is not None:
                comparisons.append((f.lo, frozenset(">" if f.lo_excl else ">=")))
            if f.hi is not None:
                comparisons.append((f.hi, frozenset("<" if f.hi_excl else "<=")))
        else:
            lo, hi = int_bounds(f)
            if lo is not None:
                comparisons.append((Fraction(lo), frozenset(">=")))
            if hi is not None:
                comparisons.append((Fraction(hi), frozenset("<=")))
        comparisons.extend((x, frozenset("<>")) for x in sorted(excluded))
        moduli: list[tuple[int, int]] = []
        for m in f.multiples:
            if not allow_frac:
                moduli.append((m.numerator, 0))
                continue
            k = 0
            while (10**k) % m.denominator:
                k += 1
                if k > 30:
                    raise UnsupportedSchema("", "multipleOf has no finite decimal form")
            moduli.append((m.numerator * 10**k // m.denominator, k))
        if not allow_frac:
            moduli = [(m, k) for m, k in moduli if m != 1]  # every integer is a multiple of 1/q
        if math.prod(m for m, _ in moduli) > MAX_MODULUS:
            return self._few_multiples(f, allow_int, allow_frac, excluded)
        spec = NumberSpec(allow_int, allow_frac, tuple(comparisons), tuple(moduli))
        at = min((p for p in conj if not p.startswith("!")), default="")
        hint = "-".join(x for x in (hint_for(conj), "num") if x)
        return number_rules(spec, lambda _: self.new_rule(hint), self.define, at)


    def _few_multiples(
        self, f: Fact, allow_int: bool, allow_frac: bool, excluded: list[Fraction]
    ) -> str | None:
        """Sound subset for huge moduli: the multiples k*m with |k| <= 10 (0 included) within bounds."""
        step = f.multiples[0]
        out: list[str] = []
        for k in sorted(range(-10, 11), key=abs):
            x = step * k
            if any(x / m != int(x / m) for m in f.multiples) or x in excluded:
                continue
            if (f.lo is not None and (x < f.lo or (f.lo_excl and x == f.lo))) or (
                f.hi is not None and (x > f.hi or (f.hi_excl and x == f.hi))
            ):
                continue
            if (x.denominator == 1 and not allow_int) or (x.denominator != 1 and not allow_frac):
                continue
            dec = to_decimal(x)
            if dec is None:
                continue
            text = ("-" if dec.neg else "") + (dec.int_digits or "0")
            text += "." + dec.frac_digits if dec.frac_digits else ""
            out.append(gbnf_literal(text))
        return " | ".join(out) if out else None


def _without_excluded(f: Fact, kind: str) -> Fact | None:
    """Excluded arrays/objects: the empty one becomes a minimum count; others drop the type (sound)."""
    values = [json.loads(k) for k in f.excluded]
    values = [v for v in values if value_type(v) == kind]
    if not values:
        return f
    if any(v for v in values):
        return None
    if kind == "array":
        return replace(f, min_items=max(f.min_items, 1))
    return replace(f, min_props=max(f.min_props, 1))


def _quick_check(f: Fact, value: Any) -> bool | None:
    """Membership of a scalar in a fact with only simple constraints; None: ask the validator."""
    if f.patterns or f.formats or isinstance(value, (list, dict)):
        return None
    if isinstance(value, str):
        n = len(value)
        return n >= f.min_len and (f.max_len is None or n <= f.max_len)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        x = Fraction(value) if isinstance(value, int) else Fraction(repr(value))
        if f.lo is not None and (x < f.lo or (f.lo_excl and x == f.lo)):
            return False
        if f.hi is not None and (x > f.hi or (f.hi_excl and x == f.hi)):
            return False
        return all(x % m == 0 for m in f.multiples)
    return True


def _has_constraints(f: Fact) -> bool:
    return bool(
        f.lo is not None
        or f.hi is not None
        or f.multiples
        or f.min_len
        or f.max_len is not None
        or f.patterns
        or f.formats
        or f.item_clauses
        or f.min_items
        or f.max_items is not None
        or f.contains
        or f.unique
        or f.obj_clauses
        or f.required
        or f.min_props
        or f.max_props is not None
        or f.prop_names
        or f.uneval_props
        or f.uneval_items
    )
