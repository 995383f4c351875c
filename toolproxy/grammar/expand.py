"""Expanding a conjunction of subschemas into a disjunction of Facts (allOf merge, anyOf/oneOf/not/if)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from toolproxy.errors import UnsupportedSchema
from toolproxy.grammar.facts import (
    ALL_TYPES,
    NUMBER,
    TOP,
    Conj,
    Fact,
    ItemClause,
    NotNegatable,
    ObjClause,
    negate_conj,
    negated_members,
    value_key,
)
from toolproxy.grammar.keywords import local_fact
from toolproxy.grammar.resolver import Document, child

FALSE: Conj = frozenset({negate_conj(TOP)})
OBJECT = frozenset({"object"})
ARRAY = frozenset({"array"})
STRING = frozenset({"string"})
MAX_FACTS = 256
MAX_EXPANSIONS = 20000
_IN_PLACE_ONE = ("if", "then", "else")
_IN_PLACE_LIST = ("allOf", "anyOf", "oneOf")


class Expander:
    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self._memo: dict[Conj, list[Fact]] = {}
        self._active: set[Conj] = set()
        self._scopes: dict[str, frozenset[str]] = {}
        self._budget = MAX_EXPANSIONS

    # -- public ------------------------------------------------------------------------------
    def expand(self, conj: Conj) -> list[Fact]:
        found = self._memo.get(conj)
        if found is not None:
            return found
        where = min((m for m in conj if not m.startswith("!")), default="")
        if conj in self._active:
            raise UnsupportedSchema(where, "schema refers to itself without consuming any input")
        self._budget -= 1
        if self._budget < 0:
            raise UnsupportedSchema(where, "schema too large to compile")
        self._active.add(conj)
        try:
            facts = self._expand(conj)
        finally:
            self._active.discard(conj)
        self._memo[conj] = facts
        return facts

    def negate(self, facts: list[Fact], at: str) -> list[Fact]:
        try:
            return self._negate(facts, at)
        except NotNegatable as exc:
            raise UnsupportedSchema(at, "cannot express the negation of this schema") from exc

    # -- expansion ---------------------------------------------------------------------------
    def _expand(self, conj: Conj) -> list[Fact]:
        base = Fact()
        choices: list[list[Fact]] = []
        uneval: list[tuple[str, Conj, str]] = []
        closed: set[str] = set()
        todo = sorted(conj, reverse=True)
        while todo:
            member = todo.pop()
            if member in closed:
                continue
            closed.add(member)
            if member.startswith("!"):
                inner = negated_members(member)
                where = min((m for m in inner if not m.startswith("!")), default="")
                choices.append(self.negate(self.expand(inner), where))
                continue
            schema = self.doc.at(member)
            if schema is True:
                continue
            if schema is False:
                return []
            if not isinstance(schema, dict):
                raise UnsupportedSchema(member, "a schema must be an object or a boolean")
            base = base.intersect(local_fact(schema, member))
            todo.extend(reversed(self._in_place(schema, member, choices, uneval)))  # document order
        facts = self._product([base], choices, min(conj, default=""))
        if uneval:
            facts = [self._with_uneval(f, uneval) for f in facts]
        return facts

    def _in_place(
        self,
        schema: dict[str, Any],
        at: str,
        choices: list[list[Fact]],
        uneval: list[tuple[str, Conj, str]],
    ) -> list[str]:
        more: list[str] = []
        for key in ("$ref", "$dynamicRef"):
            if isinstance(schema.get(key), str):
                more.append(self.doc.resolve(schema[key], at, dynamic=key == "$dynamicRef"))
        for i in range(len(schema.get("allOf") or [])):
            more.append(child(at, "allOf", i))
        if isinstance(schema.get("anyOf"), list):
            alts: list[Fact] = []
            for i in range(len(schema["anyOf"])):
                alts.extend(self.expand(frozenset({child(at, "anyOf", i)})))
            choices.append(alts)
        if isinstance(schema.get("oneOf"), list):
            choices.append(self._one_of(at, len(schema["oneOf"])))
        if "not" in schema:
            more.append(negate_conj(frozenset({child(at, "not")})))
        if "if" in schema and ("then" in schema or "else" in schema):
            choices.append(self._if_then_else(schema, at))
        deps: dict[str, Any] = {}
        for key in ("dependentRequired", "dependentSchemas", "dependencies"):
            if isinstance(schema.get(key), dict):
                deps.update({k: (key, v) for k, v in schema[key].items()})
        for name, (key, dep) in deps.items():
            choices.append(self._dependency(name, key, dep, at))
        if "unevaluatedProperties" in schema:
            uneval.append(("props", frozenset({child(at, "unevaluatedProperties")}), at))
        if "unevaluatedItems" in schema:
            uneval.append(("items", frozenset({child(at, "unevaluatedItems")}), at))
        return more

    def _product(self, facts: list[Fact], choices: list[list[Fact]], at: str) -> list[Fact]:
        out = [f for f in (g.simplify() for g in facts) if f is not None]
        for alts in choices:
            nxt: list[Fact] = []
            for f in out:
                for g in alts:
                    h = f.intersect(g).simplify()
                    if h is not None and h not in nxt:
                        nxt.append(h)
            if len(nxt) > MAX_FACTS:
                raise UnsupportedSchema(at, "too many combinations of anyOf/oneOf/if branches")
            out = nxt
        return out

    def _one_of(self, at: str, n: int) -> list[Fact]:
        branches = [self.expand(frozenset({child(at, "oneOf", i)})) for i in range(n)]
        result: list[Fact] = []
        dropped = False
        for i in range(n):
            acc = branches[i]
            for j in range(n):
                if j == i or not acc:
                    continue
                if all(f.intersect(g).simplify() is None for f in acc for g in branches[j]):
                    continue
                try:
                    neg = self._negate(branches[j], at)
                except NotNegatable:
                    acc = []  # sound subset: drop a branch we cannot prove exclusive
                    dropped = True
                    break
                acc = self._product(acc, [neg], at)
            result.extend(f for f in acc if f not in result)
        if not result and dropped:
            raise UnsupportedSchema(child(at, "oneOf"), "cannot express that exactly one branch matches")
        return result

    def _if_then_else(self, schema: dict[str, Any], at: str) -> list[Fact]:
        cond = frozenset({child(at, "if")})
        then = frozenset({child(at, "then")}) if "then" in schema else TOP
        other = frozenset({child(at, "else")}) if "else" in schema else TOP
        yes = self.expand(cond | then)
        try:
            no = self._product(self._negate(self.expand(cond), at), [self.expand(other)], at)
        except NotNegatable:
            no = self.expand(then | other)  # sound subset: values valid whichever way `if` goes
        return yes + [f for f in no if f not in yes]

    def _dependency(self, name: str, key: str, dep: Any, at: str) -> list[Fact]:
        alts = [
            Fact(types=ALL_TYPES - OBJECT),
            Fact(types=OBJECT, obj_clauses=(ObjClause(props=((name, FALSE),)),)),
        ]
        present = Fact(types=OBJECT, required=frozenset({name}))
        if isinstance(dep, list):
            return [*alts, replace(present, required=frozenset({name, *map(str, dep)}))]
        target = child(at, key, name)
        return alts + [present.intersect(f) for f in self.expand(frozenset({target}))]

    # -- unevaluated* ------------------------------------------------------------------------
    def scope(self, at: str) -> frozenset[str]:
        """Pointers whose annotations an unevaluated* keyword at ``at`` sees (in-place applicators)."""
        found = self._scopes.get(at)
        if found is not None:
            return found
        seen: set[str] = set()
        todo = [at]
        while todo:
            p = todo.pop()
            if p in seen:
                continue
            seen.add(p)
            node = self.doc.at(p)
            if not isinstance(node, dict):
                continue
            for key in ("$ref", "$dynamicRef"):
                if isinstance(node.get(key), str):
                    todo.append(self.doc.resolve(node[key], p, dynamic=key == "$dynamicRef"))
            for key in _IN_PLACE_LIST:
                todo.extend(child(p, key, i) for i in range(len(node.get(key) or [])))
            todo.extend(child(p, key) for key in _IN_PLACE_ONE if key in node)
            for name in node.get("dependentSchemas") or {}:
                todo.append(child(p, "dependentSchemas", name))
        self._scopes[at] = frozenset(seen)
        return self._scopes[at]

    def _with_uneval(self, f: Fact, uneval: list[tuple[str, Conj, str]]) -> Fact:
        for kind, conj, at in uneval:
            entry = ((conj, self.scope(at)),)
            if kind == "props":
                f = replace(f, uneval_props=f.uneval_props + entry)
            else:
                f = replace(f, uneval_items=f.uneval_items + entry)
        return f

    # -- negation ----------------------------------------------------------------------------
    def _negate(self, facts: list[Fact], at: str) -> list[Fact]:
        out = [Fact()]
        for f in facts:
            out = self._product(out, [negate_fact(f)], at)
            if not out:
                break
        return out


def negate_fact(f: Fact) -> list[Fact]:
    """The complement of a fact as a disjunction of facts; NotNegatable when not expressible."""
    if f.patterns or f.formats or f.multiples or f.unique or f.prop_names or f.uneval_props or f.uneval_items:
        raise NotNegatable
    pieces: list[Fact] = []
    if f.types != ALL_TYPES:
        pieces.append(Fact(types=ALL_TYPES - f.types))
    if f.enum is not None:
        pieces.append(Fact(excluded=frozenset(value_key(v) for v in f.enum)))
    if f.excluded:
        pieces.append(Fact(enum=tuple(json.loads(k) for k in sorted(f.excluded))))
    if f.lo is not None:
        pieces.append(Fact(types=NUMBER, hi=f.lo, hi_excl=not f.lo_excl))
    if f.hi is not None:
        pieces.append(Fact(types=NUMBER, lo=f.hi, lo_excl=not f.hi_excl))
    if f.min_len > 0:
        pieces.append(Fact(types=STRING, max_len=f.min_len - 1))
    if f.max_len is not None:
        pieces.append(Fact(types=STRING, min_len=f.max_len + 1))
    if f.min_items > 0:
        pieces.append(Fact(types=ARRAY, max_items=f.min_items - 1))
    if f.max_items is not None:
        pieces.append(Fact(types=ARRAY, min_items=f.max_items + 1))
    for clause in f.item_clauses:
        for i, conj in enumerate(clause.prefix):
            prefix = (TOP,) * i + (frozenset({negate_conj(conj)}),)
            pieces.append(Fact(types=ARRAY, min_items=i + 1, item_clauses=(ItemClause(prefix=prefix),)))
        if clause.rest is not None:
            if clause.prefix:
                raise NotNegatable
            pieces.append(Fact(types=ARRAY, contains=((frozenset({negate_conj(clause.rest)}), 1, None),)))
    for conj, lo, hi in f.contains:
        if hi is not None or lo > 1:
            raise NotNegatable
        if lo == 1:
            rest = frozenset({negate_conj(conj)})
            pieces.append(Fact(types=ARRAY, item_clauses=(ItemClause(rest=rest),)))
    for name in sorted(f.required):
        pieces.append(Fact(types=OBJECT, obj_clauses=(ObjClause(props=((name, FALSE),)),)))
    for oc in f.obj_clauses:
        if oc.patterns or oc.additional is not None:
            raise NotNegatable
        for name, conj in oc.props:
            neg = ObjClause(props=((name, frozenset({negate_conj(conj)})),))
            pieces.append(Fact(types=OBJECT, required=frozenset({name}), obj_clauses=(neg,)))
    if f.min_props > 0:
        pieces.append(Fact(types=OBJECT, max_props=f.min_props - 1))
    if f.max_props is not None:
        pieces.append(Fact(types=OBJECT, min_props=f.max_props + 1))
    return pieces
