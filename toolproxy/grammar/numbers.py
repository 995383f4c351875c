"""Exact grammars for constrained numbers: bounds, excluded values and multipleOf, via a digit automaton.

The text is ``-? (0 | [1-9][0-9]*) (. [0-9]+)?`` (no exponent: a sound subset for constrained numbers).
Each constraint is a small automaton over that text (a comparison against a decimal constant, or a
remainder); their product is explored from the start state, dead states are pruned and every live state
becomes one rule (right-recursive loops), so the grammar never lets the sampler into a dead end.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

from toolproxy.errors import UnsupportedSchema
from toolproxy.grammar.gbnf import char_class

MAX_STATES = 3000
_STATE_REF = re.compile("\x03(\\d+)\x03")
DIGITS = "0123456789"


@dataclass(frozen=True)
class Decimal:
    neg: bool
    int_digits: str  # no leading zeros ("" for 0)
    frac_digits: str  # no trailing zeros


def to_decimal(x: Fraction) -> Decimal | None:
    """Exact decimal expansion, None when ``x`` has none (e.g. 1/3)."""
    num, den = abs(x.numerator), x.denominator
    scale = 0
    while den != 1:
        if (den % 2 and den % 5) or scale > 400:
            return None
        num *= 10
        scale += 1
        g = _gcd(num, den)
        num, den = num // g, den // g
    text = str(num).rjust(scale + 1, "0")
    ip, fp = (text[:-scale], text[-scale:]) if scale else (text, "")
    return Decimal(x < 0, ip.lstrip("0"), fp.rstrip("0"))


def _gcd(a: int, b: int) -> int:
    while b:
        a, b = b, a % b
    return a


@dataclass(frozen=True)
class NumberSpec:
    allow_int: bool  # integral values admitted
    allow_frac: bool  # non-integral values admitted
    comparisons: tuple[tuple[Fraction, frozenset[str]], ...] = ()  # (constant, allowed outcomes "<=>")
    moduli: tuple[tuple[int, int], ...] = ()  # (M, K): value * 10**K must be a multiple of M


# state = (phase, neg, nonzero, frac_len, comparator states, remainders, nonzero fraction digit seen)
# phase: 0 start, 1 after '-', 2 int '0', 3 int digits, 4 after '.', 5 frac digits
_State = tuple[object, ...]
_Cmp = tuple[object, str]


class _Machine:
    def __init__(self, spec: NumberSpec, at: str) -> None:
        self.spec = spec
        self.bounds: list[tuple[Decimal, frozenset[str]]] = []
        for c, ok in spec.comparisons:
            dec = to_decimal(c)
            if dec is None:
                raise UnsupportedSchema(at, "number bound has no exact decimal form")
            self.bounds.append((dec, ok))
        self.max_frac: int | None = min((k for _, k in spec.moduli), default=None)
        if not spec.allow_frac:
            self.max_frac = 0
        self.frac_cap = max((len(d.frac_digits) for d, _ in self.bounds), default=0) + 1

    def start(self) -> _State:
        cmps = tuple((0, "=") for _ in self.bounds)
        rems = tuple(0 for _ in self.spec.moduli)
        return (0, False, False, 0, cmps, rems, False)

    def step(self, s: _State, ch: str) -> _State | None:
        phase, neg, nz, flen, cmps, rems, fnz = s
        assert isinstance(cmps, tuple) and isinstance(rems, tuple) and isinstance(flen, int)
        if ch == "-":
            return (1, True, nz, flen, cmps, rems, fnz) if phase == 0 else None
        if ch == ".":
            if phase not in (2, 3) or self.max_frac == 0:
                return None
            ends = tuple(self._end_int(c, b) for c, b in zip(cmps, self.bounds, strict=True))
            return (4, neg, nz, 0, ends, rems, fnz)
        d = int(ch)
        if phase == 2:
            return None
        rems = tuple((r * 10 + d) % m for r, (m, _) in zip(rems, self.spec.moduli, strict=True))
        if phase in (0, 1):
            if d == 0:
                return (2, neg, nz, flen, cmps, rems, fnz)
            nxt = tuple(self._int_digit(c, b, d) for c, b in zip(cmps, self.bounds, strict=True))
            return (3, neg, True, flen, nxt, rems, fnz)
        if phase == 3:
            nxt = tuple(self._int_digit(c, b, d) for c, b in zip(cmps, self.bounds, strict=True))
            return (3, neg, nz or d != 0, flen, nxt, rems, fnz)
        if self.max_frac is not None and flen >= self.max_frac:
            return s if d == 0 and phase == 5 else None  # trailing zeros keep the value
        pos = flen
        if self.spec.moduli:
            flen += 1
        else:
            flen = min(flen + 1, self.frac_cap)
        nxt = tuple(self._frac_digit(c, b, d, pos) for c, b in zip(cmps, self.bounds, strict=True))
        return (5, neg, nz or d != 0, flen, nxt, rems, fnz or d != 0)

    @staticmethod
    def _int_digit(c: _Cmp, b: tuple[Decimal, frozenset[str]], d: int) -> _Cmp:
        n, cmp = c
        assert isinstance(n, int)
        digits = b[0].int_digits
        if n >= len(digits):
            return (len(digits) + 1, cmp)
        if cmp == "=":
            ref = int(digits[n])
            cmp = "<" if d < ref else (">" if d > ref else "=")
        return (n + 1, cmp)

    @staticmethod
    def _end_int(c: _Cmp, b: tuple[Decimal, frozenset[str]]) -> _Cmp:
        n, cmp = c
        assert isinstance(n, int)
        digits = b[0].int_digits
        if n > len(digits):
            return ("F", ">")
        if n < len(digits):
            return ("F", "<")
        return ("F", cmp)

    @staticmethod
    def _frac_digit(c: _Cmp, b: tuple[Decimal, frozenset[str]], d: int, pos: int) -> _Cmp:
        if c[1] != "=":
            return c
        frac = b[0].frac_digits
        ref = int(frac[pos]) if pos < len(frac) else 0
        return ("F", "<" if d < ref else (">" if d > ref else "="))

    def accepting(self, s: _State) -> bool:
        phase, neg, nz, flen, cmps, rems, fnz = s
        assert isinstance(cmps, tuple) and isinstance(rems, tuple) and isinstance(flen, int)
        if phase not in (2, 3, 5) or (neg and not nz):
            return False  # incomplete, or "-0"
        is_int = not (phase == 5 and fnz)
        if (is_int and not self.spec.allow_int) or (not is_int and not self.spec.allow_frac):
            return False
        for c, (dec, ok) in zip(cmps, self.bounds, strict=True):
            final = self._end_int(c, (dec, ok)) if phase in (2, 3) else c
            mag = final[1]
            read = flen if phase == 5 else 0
            if mag == "=" and read < len(dec.frac_digits):
                mag = "<"  # the constant goes on with non-zero fraction digits
            if self._signed(mag, bool(neg), bool(nz), dec) not in ok:
                return False
        for r, (m, k) in zip(rems, self.spec.moduli, strict=True):
            assert isinstance(r, int)
            pad = k - (flen if phase == 5 else 0)
            if (r * pow(10, pad, m)) % m:
                return False
        return True

    @staticmethod
    def _signed(mag_cmp: str, neg: bool, nz: bool, dec: Decimal) -> str:
        dec_zero = not dec.int_digits and not dec.frac_digits
        x_neg = neg and nz
        b_neg = dec.neg and not dec_zero
        if x_neg != b_neg:
            return "<" if x_neg else ">"
        if x_neg and mag_cmp != "=":
            return "<" if mag_cmp == ">" else ">"
        return mag_cmp


def number_rules(
    spec: NumberSpec, new_rule: Callable[[str], str], define: Callable[[str, str], None], at: str
) -> str | None:
    """Emit the rules of the spec's automaton; the expression for its start, None if it is empty."""
    found = _automaton(spec, at)
    if found is None:
        return None
    start, bodies = found
    names = [new_rule("num") for _ in bodies]

    def name(m: re.Match[str]) -> str:
        return names[int(m.group(1))]

    for token, text in zip(names, bodies, strict=True):
        define(token, _STATE_REF.sub(name, text))
    return _STATE_REF.sub(name, start)


@lru_cache(maxsize=1024)
def _automaton(spec: NumberSpec, at: str) -> tuple[str, tuple[str, ...]] | None:
    """(start expression, other state bodies); states are referred to as ``\x03<index>\x03``."""
    machine = _Machine(spec, at)
    start = machine.start()
    trans: dict[_State, list[tuple[str, _State]]] = {}
    order = [start]
    todo = [start]
    queued = {start}
    while todo:
        s = todo.pop()
        out: list[tuple[str, _State]] = []
        for ch in "-." + DIGITS:
            nxt = machine.step(s, ch)
            if nxt is None:
                continue
            out.append((ch, nxt))
            if nxt not in queued:
                queued.add(nxt)
                todo.append(nxt)
                order.append(nxt)
                if len(order) > MAX_STATES:
                    raise UnsupportedSchema(at, "numeric constraints too complex to express")
        trans[s] = out
    live = {s for s in trans if machine.accepting(s)}
    changed = True
    while changed:
        changed = False
        for s, out in trans.items():
            if s not in live and any(t in live for _, t in out):
                live.add(s)
                changed = True
    if start not in live:
        return None
    # minimize (Moore): states with the same acceptance and the same moves merge
    cls: dict[_State, int] = {s: int(machine.accepting(s)) for s in live}
    while True:
        sigs = {
            s: (cls[s], tuple(sorted((ch, cls[t]) for ch, t in trans[s] if t in live))) for s in live
        }
        ids: dict[object, int] = {}
        new = {s: ids.setdefault(sigs[s], len(ids)) for s in order if s in live}
        if len(ids) == len(set(cls.values())):
            break
        cls = new
    rep: dict[int, _State] = {}
    for s in order:
        if s in live:
            rep.setdefault(cls[s], s)
    states = [s for s in order if s in live and rep[cls[s]] == s]
    moves = {s: [(ch, rep[cls[t]]) for ch, t in trans[s] if t in live] for s in states}
    final = {s for s in states if not moves[s]}  # accepting dead ends: referenced as nothing
    named = [s for s in states if s != start and s not in final]
    names = {s: f"\x03{k}\x03" for k, s in enumerate(named)}
    names.update({s: "" for s in states if s == start or s in final})
    bodies: dict[_State, str] = {}
    for s in states:
        if s in final and s != start:
            continue
        groups: dict[_State, list[str]] = {}
        for ch, t in moves[s]:
            groups.setdefault(t, []).append(ch)
        loop = groups.pop(s, None)
        alts = " | ".join(f"{_chars(chars)} {names[t]}".rstrip() for t, chars in groups.items())
        accept = machine.accepting(s)
        if not alts:
            body = f"{_chars(loop)}*" if loop else '""'
        else:
            body = f"( {alts} )?" if accept else (f"( {alts} )" if loop else alts)
            if loop:
                body = f"{_chars(loop)}* {body}"
        bodies[s] = body
    return f"( {bodies[start]} )", tuple(bodies[s] for s in named)


def _chars(chars: list[str]) -> str:
    if len(chars) == 1:
        return f'"{chars[0]}"'
    return char_class([(ord(c), ord(c)) for c in chars])
