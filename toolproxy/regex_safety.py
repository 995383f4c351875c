"""Spot regular expressions that make a backtracking engine (Python's ``re``, used by jsonschema) explode.

Schemas' ``pattern`` / ``patternProperties`` reach ``re`` when the grammar compiler checks enum values and
when relaxed tools' arguments are validated, on the event loop: ``(a+)+$`` against ``"aaaa…!"`` takes
exponential time. Refused shapes, inside a quantifier that repeats more than once:

- a variable-count quantifier with nothing mandatory beside it that it cannot also match, so the rounds
  cannot be told apart: ``(a+)+``, ``(\\w+\\s?)*``, ``(a{2,3})+`` (but ``( [A-Z][a-z]*)*`` is fine);
- alternatives that can start with the same character: ``(a|aa)+``, ``(a|a)*``.

A conservative static check (the idea of safe-regex / rxxr): it may refuse a harmless pattern, it does not
catch every polynomial blow-up (``\\d*\\d*\\d*x``). Patterns Python cannot parse are left to the compiler.
"""

from __future__ import annotations

import re
import re._constants as _c  # the stdlib's own regex parser (private, stable since 3.11)
import re._parser as _p
import string
from dataclasses import dataclass
from typing import Any

_CATEGORIES: dict[Any, frozenset[str]] = {
    _c.CATEGORY_DIGIT: frozenset(string.digits),
    _c.CATEGORY_WORD: frozenset(string.ascii_letters + string.digits + "_"),
    _c.CATEGORY_SPACE: frozenset(" \t\n\r\f\v"),
}
_REPEATS = (_c.MAX_REPEAT, _c.MIN_REPEAT, getattr(_c, "POSSESSIVE_REPEAT", _c.MAX_REPEAT))


@dataclass(frozen=True)
class _First:
    """The characters a piece can start with: ``chars`` or, when ``negated``, everything but ``chars``."""

    chars: frozenset[str]
    negated: bool = False

    def overlaps(self, other: _First) -> bool:
        if self.negated and other.negated:
            return True
        if self.negated:
            return not other.chars <= self.chars
        if other.negated:
            return not self.chars <= other.chars
        return bool(self.chars & other.chars)

    def union(self, other: _First) -> _First:
        if not self.negated and not other.negated:
            return _First(self.chars | other.chars)
        if self.negated and other.negated:
            return _First(self.chars & other.chars, True)
        neg, pos = (self, other) if self.negated else (other, self)
        return _First(neg.chars - pos.chars, True)


_ANYTHING = _First(frozenset(), True)


def unsafe_reason(pattern: str) -> str | None:
    """Why ``pattern`` risks catastrophic backtracking, or None when it looks safe (or does not parse)."""
    try:
        parsed = _p.parse(pattern)
    except (re.error, RecursionError, OverflowError, ValueError):
        return None
    return _walk(list(parsed), repeated=False)


def _walk(items: list[Any], *, repeated: bool) -> str | None:
    for op, av in items:
        if op in _REPEATS:
            _low, high, body = av
            many = high is _c.MAXREPEAT or high > 1
            if many and _ambiguous_body(_unwrap(list(body))):
                return "a quantifier nested inside another quantifier with nothing to tell the rounds apart"
            found = _walk(list(body), repeated=repeated or many)
            if found:
                return found
            if many and _overlapping_branches(list(body)):
                return "alternatives that can start alike inside a quantifier"
        elif op is _c.SUBPATTERN:
            found = _walk(list(av[-1]), repeated=repeated)
            if found:
                return found
        elif op is _c.BRANCH:
            for branch in av[1]:
                found = _walk(list(branch), repeated=repeated)
                if found:
                    return found
            if repeated and _overlap(av[1]):
                return "alternatives that can start alike inside a quantifier"
        elif op in (_c.ASSERT, _c.ASSERT_NOT):
            found = _walk(list(av[1]), repeated=repeated)
            if found:
                return found
    return None


def _unwrap(items: list[Any]) -> list[Any]:
    while len(items) == 1 and items[0][0] is _c.SUBPATTERN:
        items = list(items[0][1][-1])
    return items


def _ambiguous_body(items: list[Any]) -> bool:
    """A repeated body whose variable-count part cannot be told apart from the next round: nothing mandatory
    in the body is disjoint from the characters that part consumes (``(a+)+``, ``(\\w+\\s?)*``)."""
    if len(items) == 1 and items[0][0] is _c.BRANCH:
        return any(_ambiguous_body(_unwrap(list(alt))) for alt in items[0][1][1])
    variable = [av for op, av in items if op in _REPEATS and av[0] != av[1] and (av[1] is _c.MAXREPEAT or av[1] > 1)]
    separators = [_first([(op, av)]) for op, av in items if _mandatory(op, av)]
    for _, _, body in variable:
        chars = _all_chars(list(body))
        if not any(not sep.overlaps(chars) for sep in separators):
            return True
    return False


def _mandatory(op: Any, av: Any) -> bool:
    if op in (_c.LITERAL, _c.IN):
        return True
    return op in _REPEATS and av[0] >= 1 and av[0] == av[1] and all(o in (_c.LITERAL, _c.IN) for o, _ in av[2])


def _all_chars(items: list[Any]) -> _First:
    out = _First(frozenset())
    for op, av in items:
        if op in _REPEATS:
            out = out.union(_all_chars(list(av[2])))
        elif op is _c.SUBPATTERN:
            out = out.union(_all_chars(list(av[-1])))
        elif op is _c.BRANCH:
            for alt in av[1]:
                out = out.union(_all_chars(list(alt)))
        elif op is _c.AT:
            continue
        else:
            out = out.union(_first([(op, av)]))
    return out


def _overlapping_branches(items: list[Any]) -> bool:
    for op, av in items:
        if op is _c.BRANCH:
            return _overlap(av[1])
        if op is _c.SUBPATTERN:
            return _overlapping_branches(list(av[-1]))
        return False
    return False


def _overlap(branches: list[Any]) -> bool:
    firsts = [_first(list(branch)) for branch in branches]
    return any(a.overlaps(b) for i, a in enumerate(firsts) for b in firsts[i + 1:])


def _first(items: list[Any]) -> _First:
    for op, av in items:
        if op is _c.AT:
            continue  # anchors consume nothing
        if op is _c.LITERAL:
            return _First(frozenset(chr(av)))
        if op is _c.IN:
            return _in_set(av)
        if op is _c.ANY:
            return _First(frozenset("\n"), True)
        if op is _c.SUBPATTERN:
            return _first(list(av[-1]))
        if op is _c.BRANCH:
            out = _First(frozenset())
            for branch in av[1]:
                out = out.union(_first(list(branch)))
            return out
        if op in _REPEATS and av[0] >= 1:
            return _first(list(av[2]))
        return _ANYTHING  # ANY, NOT_LITERAL, optional pieces, backrefs, lookarounds: assume anything
    return _ANYTHING  # an empty alternative matches where any other does


def _in_set(av: list[Any]) -> _First:
    chars: set[str] = set()
    negated = False
    for op, arg in av:
        if op is _c.NEGATE:
            negated = True
        elif op is _c.LITERAL:
            chars.add(chr(arg))
        elif op is _c.RANGE and arg[1] - arg[0] < 512:
            chars.update(chr(c) for c in range(arg[0], arg[1] + 1))
        elif op is _c.CATEGORY and arg in _CATEGORIES:
            chars.update(_CATEGORIES[arg])
        else:
            return _ANYTHING
    return _First(frozenset(chars), negated)
