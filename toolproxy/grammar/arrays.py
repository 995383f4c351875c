"""Arrays: prefixItems/items, min/maxItems, contains/min/maxContains, uniqueItems (sound subset)."""

from __future__ import annotations

from itertools import combinations, permutations
from typing import TYPE_CHECKING, Any

from toolproxy.grammar.facts import TOP, Conj, Fact, negate_conj
from toolproxy.grammar.strings import length_repeat

if TYPE_CHECKING:
    from toolproxy.grammar.emit import Emitter

__all__ = ["array_expr"]
UNIQUE_DOMAIN = 5


def _positions(f: Fact) -> tuple[list[Conj], Conj]:
    """Per-position conjunctions for the prefix, and the conjunction of the remaining items."""
    width = max((len(c.prefix) for c in f.item_clauses), default=0)
    uneval: list[tuple[int, Conj]] = []
    for u_conj, scope in f.uneval_items:
        in_scope = [c for c in f.item_clauses if c.source in scope]
        if any(c.rest is not None for c in in_scope):
            continue
        start = max((len(c.prefix) for c in in_scope), default=0)
        uneval.append((start, u_conj))
        width = max(width, start)
    pos: list[Conj] = []
    for i in range(width):
        conj: Conj = TOP
        for c in f.item_clauses:
            if i < len(c.prefix):
                conj |= c.prefix[i]
            elif c.rest is not None:
                conj |= c.rest
        for start, u in uneval:
            if i >= start:
                conj |= u
        pos.append(conj)
    rest: Conj = TOP
    for c in f.item_clauses:
        if c.rest is not None:
            rest |= c.rest
    for _, u in uneval:
        rest |= u
    return pos, rest


def array_expr(em: Emitter, f: Fact, conj: Conj) -> str | None:
    pos, rest = _positions(f)
    lo, hi = f.min_items, f.max_items
    if f.unique:
        found = None if f.contains else _unique(em, pos, rest, lo, hi)
        if found is not None:
            return found
        hi = 1 if hi is None else min(hi, 1)  # sound subset: at most one item is always unique
    contains = [c for c in f.contains if not (c[1] == 0 and c[2] is None)]
    if len(contains) == 1 and not pos and hi is None and lo <= max(contains[0][1], 1):
        c, clo, chi = contains[0]
        return _interleaved(em, rest, c, clo, chi)
    if contains:
        return _designated(em, pos, rest, contains, lo, hi)
    return _sequence(em, pos, rest, lo, hi)


def _sequence(em: Emitter, pos: list[Conj], rest: Conj, lo: int, hi: int | None) -> str | None:
    ws = em.frag("jws")
    sep = f'"," {em.frag("jws-comma")}'
    refs = [em.rule(c) for c in pos]
    rest_ref = em.rule(rest)
    limit = hi
    for i, r in enumerate(refs):
        if r is None:
            limit = i if limit is None else min(limit, i)
            break
    if rest_ref is None:
        limit = len(pos) if limit is None else min(limit, len(pos))
    if limit is not None and lo > limit:
        return None

    def elem(i: int) -> str:
        r = refs[i] if i < len(refs) else rest_ref
        return f"{r} {ws}"

    def tail(i: int) -> str:
        if rest_ref is None:
            return ""
        top = None if limit is None else limit - i
        if top is not None and top <= 0:
            return ""
        return length_repeat(f"( {sep} {elem(i)} )", max(0, lo - i), top)

    def part(i: int) -> str:
        if i >= len(refs):
            return tail(i)
        if limit is not None and i >= limit:
            return ""
        inner = f"{sep} {elem(i)} {part(i + 1)}".rstrip()
        return inner if i < lo else f"( {inner} )?"

    if limit == 0:
        body = ""
    else:
        body = f"{elem(0)} {part(1)}".rstrip()
        if lo == 0:
            body = f"( {body} )?"
    return f'"[" {ws} {body} "]"'.replace("  ", " ")


def _interleaved(em: Emitter, rest: Conj, c: Conj, lo: int, hi: int | None) -> str | None:
    """Any order: ``lo..hi`` items matching ``contains`` among the others."""
    ws = em.frag("jws")
    sep = f'"," {em.frag("jws-comma")}'
    b = em.rule(rest | c)
    a = em.rule(rest if hi is None else rest | {negate_conj(c)})
    if hi is not None and hi < lo:
        return None
    alts: list[str] = []
    if lo == 0 and a is not None:
        alts.append(f"( {a} {ws} ( {sep} {a} {ws} )* )?")
    elif lo == 0:
        alts.append("")
    if b is not None and (hi is None or hi >= 1):
        first = max(lo, 1)
        pre = f"( {a} {ws} {sep} )*" if a is not None else ""
        more = f"( {sep} {pre} {b} {ws} )"
        reps = length_repeat(more, first - 1, None if hi is None else hi - 1)
        if hi is None:
            x = em.rule(rest)
            post = f"( {sep} {x} {ws} )*"
        else:
            post = f"( {sep} {a} {ws} )*" if a is not None else ""
        alts.append(f"{pre} {b} {ws} {reps} {post}")
    alts = [" ".join(x.split()) for x in alts if x is not None]
    if not alts:
        return None
    inner = " | ".join(f"( {x} )" if x else '""' for x in alts)
    return f'"[" {ws} ( {inner} ) "]"'


def _designated(
    em: Emitter,
    pos: list[Conj],
    rest: Conj,
    contains: list[tuple[Conj, int, int | None]],
    lo: int,
    hi: int | None,
) -> str | None:
    """Sound subset: the items right after the prefix are the ones ``contains`` counts."""
    pos = list(pos)
    for c, clo, chi in contains:
        if chi is not None and clo > chi:
            return None
        if chi is not None:
            pos = [p | {negate_conj(c)} for p in pos]
        start = len(pos)
        pos.extend(rest | c for _ in range(clo))
        if chi is not None:
            rest = rest | {negate_conj(c)}
        lo = max(lo, start + clo)
    return _sequence(em, pos, rest, lo, hi)


def _finite(em: Emitter, conj: Conj) -> list[Any] | None:
    values: list[Any] = []
    for fact in em.expander.expand(conj):
        if fact.enum is not None:
            values.extend(v for v in fact.enum if em.checker.valid(v, conj) is True)
        elif fact.types <= {"null", "boolean"}:
            if "null" in fact.types:
                values.append(None)
            if "boolean" in fact.types:
                values.extend([True, False])
        else:
            return None
    out: list[Any] = []
    for v in values:
        if all(not _same(v, w) for w in out):
            out.append(v)
    return out


def _same(a: Any, b: Any) -> bool:
    from toolproxy.grammar.facts import value_key

    return value_key(a) == value_key(b)


def _unique(em: Emitter, pos: list[Conj], rest: Conj, lo: int, hi: int | None) -> str | None:
    """uniqueItems over a small finite domain: every duplicate-free list, spelled out."""
    if pos:
        return None
    domain = _finite(em, rest)
    if domain is None or len(domain) > UNIQUE_DOMAIN:
        return None
    ws = em.frag("jws")
    lists: list[str] = []
    top = len(domain) if hi is None else min(hi, len(domain))
    for n in range(lo, top + 1):
        for combo in combinations(domain, n):
            orders = permutations(combo) if n <= 3 else [combo]
            for order in orders:
                lists.append(em.const_expr(list(order)))
    if not lists:
        return None
    del ws
    return " | ".join(lists)
