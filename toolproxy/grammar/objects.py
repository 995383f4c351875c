"""Objects: named properties in schema order, then other keys; required, counts, patterns, names.

Soundness rests on two facts: a named property appears at most once (one slot each, in order), and a key
of the "other keys" branch can never be a named property — it is either spelled canonically and
excluded textually, or its value must also satisfy every named property it could be.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from toolproxy.errors import UnsupportedSchema
from toolproxy.grammar.facts import TOP, Conj, Fact, ObjClause
from toolproxy.grammar.gbnf import gbnf_literal
from toolproxy.grammar.strings import excluding, length_repeat

if TYPE_CHECKING:
    from toolproxy.grammar.emit import Emitter


def json_text(value: str) -> str:
    from toolproxy.grammar.emit import json_text as _json_text

    return _json_text(value)


def _matches(regex: str, key: str) -> bool | None:
    """ECMA-262 search approximated by Python's re; None when unsure."""
    if not all(" " <= ch <= "~" for ch in key):
        return None  # Python and ECMA-262 differ on \n before $, Unicode classes, ...
    if re.search(r"\\[pPcuxk]|\(\?<[=!]|\[\^?\]|\\[dDwWsSbB]", regex):
        return None
    try:
        return re.search(regex, key) is not None
    except re.error:
        return None


def _named_value(f: Fact, key: str) -> Conj:
    """What the value of named key ``key`` must satisfy: every clause's say on it."""
    conj: Conj = TOP
    for c in f.obj_clauses:
        conj |= _clause_value(c, key)
    for u, scope in f.uneval_props:
        if not any(c.source in scope and _evaluates(c, key) is True for c in f.obj_clauses):
            conj |= u
    return conj


def _clause_value(c: ObjClause, key: str) -> Conj:
    conj: Conj = TOP
    declared = False
    for name, value in c.props:
        if name == key:
            conj |= value
            declared = True
    matched: bool | None = False
    for regex, value, _ in c.patterns:
        m = _matches(regex, key)
        if m is not False:
            conj |= value  # patternProperties apply to declared properties too
        if m is None:
            matched = None
        elif m and matched is not None:
            matched = True
    if not declared and matched is not True and c.additional is not None:
        conj |= c.additional
    return conj


def _evaluates(c: ObjClause, key: str) -> bool | None:
    if c.additional is not None or any(name == key for name, _ in c.props):
        return True
    found: bool | None = False
    for regex, _, _ in c.patterns:
        m = _matches(regex, key)
        if m:
            return True
        if m is None:
            found = None
    return found


def _generic_value(f: Fact, only_pattern: tuple[ObjClause, str] | None) -> Conj:
    """Value constraint for a key that is not a named property (matching one pattern, or any)."""
    conj: Conj = TOP
    for c in f.obj_clauses:
        if only_pattern is not None and c is only_pattern[0]:
            for _, value, _ in c.patterns:
                conj |= value
            continue
        for _, value, _ in c.patterns:
            conj |= value
        if c.additional is not None:
            conj |= c.additional
    for u, scope in f.uneval_props:
        in_scope = [c for c in f.obj_clauses if c.source in scope]
        if any(c.additional is not None for c in in_scope):
            continue
        if only_pattern is not None and only_pattern[0] in in_scope:
            continue
        conj |= u
    return conj


def object_expr(em: Emitter, f: Fact, conj: Conj) -> str | None:
    ws, colon = em.frag("jws"), em.frag("jws-colon")
    sep = f'"," {em.frag("jws-comma")}'
    names: list[str] = []
    for c in f.obj_clauses:
        names.extend(n for n, _ in c.props if n not in names)
    rank = em.doc.name_rank
    names.extend(sorted((n for n in f.required if n not in names), key=lambda n: (rank.get(n, len(rank)), n)))
    slots: list[tuple[str, str, bool]] = []
    for name in names:
        required = name in f.required
        ok_name = True if f.prop_names == TOP else em.checker.valid(name, f.prop_names)
        value = em.rule(_named_value(f, name)) if ok_name is True else None
        if value is None:
            if required:
                return None
            continue
        key = gbnf_literal(json_text(name))
        slots.append((name, f"{key} {ws} \":\" {colon} {value} {ws}", required))
    extra = _extra_kv(em, f, names)
    lo, hi = f.min_props, f.max_props
    counting = lo > 0 or hi is not None
    memo: dict[tuple[int, bool, int], str | None] = {}
    n = len(slots)

    def tail(first: bool, count: int) -> str | None:
        need = max(0, lo - count)
        room = None if hi is None else hi - count
        if room is not None and room < need:
            return None
        if extra is None or room == 0:
            return "" if need == 0 else None
        if first:
            more = length_repeat(f"( {sep} {extra} )", max(0, need - 1), None if room is None else room - 1)
            body = f"{extra} {more}".strip()
            return body if need > 0 else f"( {body} )?"
        return length_repeat(f"( {sep} {extra} )", need, room)

    def state_key(i: int, first: bool, count: int) -> tuple[int, bool, int]:
        return (i, first, count if counting else 0)

    def needs(k: tuple[int, bool, int]) -> list[tuple[int, bool, int]]:
        i, first, count = k
        if i == n or (hi is not None and count > hi):
            return []
        out = [state_key(i + 1, False, count + 1)]
        if not slots[i][2] and state_key(i + 1, first, count) not in out:
            out.append(state_key(i + 1, first, count))
        return out

    def compute(k: tuple[int, bool, int]) -> str | None:
        i, first, count = k
        if hi is not None and count > hi:
            return None
        if i == n:
            return tail(first, count)
        _, kv, req = slots[i]
        after = memo[state_key(i + 1, False, count + 1)]
        take = None if after is None else f"{'' if first else sep + ' '}{kv} {after}".strip()
        skip = None if req else memo[state_key(i + 1, first, count)]
        if take is None:
            return skip
        if skip is None:
            return take
        if not first and not counting:
            return f"( {sep} {kv} )? {after}".strip()
        return f"( {take} | {skip or chr(34) * 2} )"

    def state(i: int, first: bool, count: int) -> str | None:
        root = state_key(i, first, count)
        order: list[tuple[int, bool, int]] = []
        refs: dict[tuple[int, bool, int], int] = {root: 1}
        stack = [root]
        while stack:  # iterative: objects may have thousands of properties
            k = stack.pop()
            order.append(k)
            for d in needs(k):
                refs[d] = refs.get(d, 0) + 1
                if refs[d] == 1:
                    stack.append(d)
        for k in sorted(order, reverse=True):  # later slots first
            out = compute(k)
            if out is not None and refs[k] > 1 and len(out) > 60:
                token = em.new_rule("obj")  # shared by two shapes of the object: one rule, not two copies
                em.define(token, out)
                out = token
            memo[k] = out
        return memo[root]

    body = state(0, True, 0)
    if body is None:
        return None
    return f'"{{" {ws} {body} "}}"'.replace("  ", " ")


def _extra_kv(em: Emitter, f: Fact, names: list[str]) -> str | None:
    """The key-value pair of a key that is not a named property, or None when there is none."""
    ws, colon = em.frag("jws"), em.frag("jws-colon")
    alts: list[str] = []
    named_all: Conj = TOP
    for n in names:
        named_all |= _named_value(f, n)
    if f.prop_names == TOP:
        value_conj = _generic_value(f, None)
        value = em.rule(value_conj)
        key = None
        if value is not None and names:
            key = em.new_rule("other-key")
            em.define(key, excluding(em, names, 0, None) or em.never())
        elif value is not None:
            key = em.frag("canon-string")
    else:
        value_conj = _generic_value(f, None) | named_all
        value = em.rule(value_conj)
        key = _names_key(em, f) if value is not None else None
    if key is not None and value is not None:
        alts.append(f'{key} {ws} ":" {colon} {value} {ws}')
    if f.prop_names == TOP:
        for c in f.obj_clauses:
            for regex, _, at in c.patterns:
                from toolproxy.grammar.strings import _pattern

                try:
                    expr = _pattern(regex, at)
                except UnsupportedSchema:  # an unsupported pattern only loses that branch
                    continue
                vc = _generic_value(f, (c, regex))
                for n in names:
                    if _matches(regex, n) is not False:
                        vc |= _named_value(f, n)
                pv = em.rule(vc)
                if pv is not None:
                    alts.append(f'"\\"" ( {expr} ) "\\"" {ws} ":" {colon} {pv} {ws}')
    if not alts:
        return None
    token = em.new_rule("other")
    em.define(token, " | ".join(alts))
    return token


def _names_key(em: Emitter, f: Fact) -> str | None:
    """Keys allowed by propertyNames (their string part only)."""
    from toolproxy.grammar.strings import string_expr

    alts: list[str] = []
    for fact in em.expander.expand(f.prop_names):
        if fact.enum is not None:
            strings = [v for v in fact.enum if isinstance(v, str)]
            if strings:
                alts.append(" | ".join(gbnf_literal(json_text(s)) for s in strings))
        elif "string" in fact.types:
            expr = string_expr(em, fact)
            if expr is not None:
                alts.append(expr)
    if not alts:
        return None
    return "( " + " | ".join(alts) + " )"
