"""Strings: length bounds (in characters, an escape sequence is one), pattern, format, excluded values."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from toolproxy.errors import UnsupportedSchema
from toolproxy.grammar.facts import Fact
from toolproxy.grammar.gbnf import char_class, gbnf_literal, synthesised_rules
from toolproxy.grammar.regex_emit import REPETITION_LIMIT

if TYPE_CHECKING:
    from toolproxy.grammar.emit import Emitter

# characters that the canonical encoding escapes, and how
_SHORT = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _pattern(regex: str, at: str) -> str:
    try:
        from toolproxy.grammar.regex import pattern_to_gbnf
    except ImportError as exc:
        raise UnsupportedSchema(at, "pattern is not supported yet") from exc
    return pattern_to_gbnf(regex, pointer=at)


def _format(fmt: str, at: str) -> str | None:
    try:
        from toolproxy.grammar.formats import format_to_gbnf
    except ImportError as exc:
        raise UnsupportedSchema(at, "format is not supported yet") from exc
    return format_to_gbnf(fmt, pointer=at)


def _length_range(regex: str) -> tuple[int, int | None] | None:
    """Character-length range of the strings a fully anchored pattern (``^...$`` on every top-level
    branch) matches; None when unknown. Uses the regex translator's parser (read-only)."""
    try:
        from toolproxy.grammar.regex_ast import Alt, Anchor, Chars, Rep, Seq
        from toolproxy.grammar.regex_parse import parse_regex

        tree: Any = parse_regex(regex, "")
    except (ImportError, UnsupportedSchema):
        return None

    def span(node: Any) -> tuple[int, int | None] | None:
        if isinstance(node, Chars):
            return (1, 1)
        if isinstance(node, Seq):
            lo = 0
            hi_: int | None = 0
            for item in node.items:
                r = span(item)
                if r is None:
                    return None
                lo += r[0]
                hi_ = None if hi_ is None or r[1] is None else hi_ + r[1]
            return (lo, hi_)
        if isinstance(node, Alt):
            rs = [span(item) for item in node.items]
            if not rs or any(r is None for r in rs):
                return None
            los = [r[0] for r in rs if r is not None]
            his = [r[1] for r in rs if r is not None]
            return (min(los), None if None in his else max(h for h in his if h is not None))
        if isinstance(node, Rep):
            r = span(node.item)
            if r is None:
                return None
            return (r[0] * node.lo, None if node.hi is None or r[1] is None else r[1] * node.hi)
        return None  # anchors inside, word boundaries: give up

    lo: int | None = None
    hi: int | None = 0
    for branch in tree.items if isinstance(tree, Alt) else (tree,):
        items = branch.items if isinstance(branch, Seq) else (branch,)
        if len(items) < 2 or items[0] != Anchor(False) or items[-1] != Anchor(True):
            return None
        r = span(Seq(tuple(items[1:-1])))
        if r is None:
            return None
        lo = r[0] if lo is None else min(lo, r[0])
        hi = None if hi is None or r[1] is None else max(hi, r[1])
    return None if lo is None else (lo, hi)


def _lengths_redundant(f: Fact) -> bool | None:
    """True: every match of the one pattern/format already has an admitted length; False: none has."""
    regexes = [rx for rx, _ in f.patterns]
    if not regexes:
        try:
            from toolproxy.grammar.formats import format_regex
        except ImportError:
            return None
        regexes = [r for r in (format_regex(fmt) for fmt, _ in f.formats) if r is not None]
    if len(regexes) != 1:
        return None
    found = _length_range(regexes[0])
    if found is None:
        return None
    lo, hi = found
    if lo >= f.min_len and hi is not None and (f.max_len is None or hi <= f.max_len):
        return True
    if (f.max_len is not None and lo > f.max_len) or (hi is not None and hi < f.min_len):
        return False
    return None


def length_repeat(item: str, lo: int, hi: int | None) -> str:
    """``item`` repeated lo..hi times. Counts beyond llama.cpp's repetition limit (2000 rules; a larger upper
    bound is silently read as unbounded, a larger lower bound refused) are split into nested exact blocks."""
    weight = max(1, synthesised_rules(item)) if item.startswith("(") else 1
    if weight * max(lo, hi or 0) > REPETITION_LIMIT:
        head = _exactly(item, lo, weight)
        tail = f"{item}*" if hi is None else _up_to(item, hi - lo, weight)
        return " ".join(part for part in (head, tail) if part)
    if hi is None:
        return f"{item}*" if lo == 0 else (f"{item}+" if lo == 1 else f"{item}{{{lo},}}")
    if lo == hi:
        return "" if lo == 0 else (item if lo == 1 else f"{item}{{{lo}}}")
    if lo == 0 and hi == 1:
        return f"{item}?"
    return f"{item}{{{lo},{hi}}}"


def string_expr(em: Emitter, f: Fact) -> str | None:
    contents: list[str] = []
    for regex, at in f.patterns:
        contents.append(_pattern(regex, at))
    for fmt, at in f.formats:
        expr = _format(fmt, at)
        if expr is not None:
            contents.append(expr)
    has_len = f.min_len > 0 or f.max_len is not None
    excluded = sorted(s for s in (json.loads(k) for k in f.excluded) if isinstance(s, str))
    if len(contents) == 1 and has_len and not excluded:
        redundant = _lengths_redundant(f)
        if redundant is False:
            return None
        if redundant:
            has_len = False  # e.g. maxLength 10 on a date, or on "^[A-Z]{3}$"
    if len(contents) > 1 or (contents and (has_len or excluded)):
        at = (f.patterns or f.formats)[0][1]
        raise UnsupportedSchema(at, "cannot combine pattern/format with other string constraints")
    if contents:
        return f'"\\"" ( {contents[0]} ) "\\""'
    if excluded:
        return excluding(em, excluded, f.min_len, f.max_len)
    if not has_len:
        return em.frag("string")
    return f'"\\"" {length_repeat(em.frag("string-char"), f.min_len, f.max_len)} "\\""'


def canon_tokens(text: str) -> list[str]:
    """The canonical JSON encoding of ``text``, one token per character."""
    out = []
    for ch in text:
        if ch in _SHORT:
            out.append(_SHORT[ch])
        elif ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return out


def _other_char(em: Emitter, avoid: set[str]) -> str:
    """One canonical character whose token is not in ``avoid``."""
    raw = sorted(ord(t) for t in avoid if len(t) == 1)
    esc = {t for t in avoid if len(t) > 1}
    if not raw and not esc:
        return em.frag("canon-char")
    specials = [(0, 0x1F), (ord('"'), ord('"')), (ord("\\"), ord("\\"))]
    cls = char_class(specials + [(c, c) for c in raw], negate=True)
    return f"( {cls} | {_escapes(esc) if esc else em.frag('canon-esc')} )"


def _escapes(avoid: set[str]) -> str:
    all_escapes = ['\\"', "\\\\", "\\b", "\\f", "\\n", "\\r", "\\t"] + [
        f"\\u{c:04x}" for c in range(0x20) if chr(c) not in _SHORT
    ]
    return " | ".join(gbnf_literal(e) for e in all_escapes if e not in avoid)


def excluding(em: Emitter, names: list[str], lo: int, hi: int | None) -> str | None:
    """A JSON string (canonical encoding only) of length in [lo, hi] that is none of ``names``."""
    trie: dict[tuple[str, ...], set[str]] = {}
    ends: set[tuple[str, ...]] = set()
    for name in names:
        toks = tuple(canon_tokens(name))
        ends.add(toks)
        for i in range(len(toks)):
            trie.setdefault(toks[:i], set()).add(toks[i])
    canon = em.frag("canon-char")

    def free(depth: int) -> str:
        return length_repeat(canon, max(0, lo - depth), None if hi is None else hi - depth)

    def node(prefix: tuple[str, ...]) -> str | None:
        depth = len(prefix)
        if hi is not None and depth > hi:
            return None
        alts: list[str] = []
        if prefix not in ends and depth >= lo:
            alts.append('"\\""')
        if hi is None or depth < hi:
            kids = trie.get(prefix, set())
            other = _other_char(em, kids)
            rest = free(depth + 1)
            alts.append(f'{other} {rest} "\\""'.replace("  ", " "))
            for tok in sorted(kids):
                sub = node((*prefix, tok))
                if sub is not None:
                    alts.append(f"{gbnf_literal(tok)} ( {sub} )")
        return " | ".join(alts) if alts else None

    body = node(())
    return None if body is None else f'"\\"" ( {body} )'


def _exactly(item: str, m: int, weight: int) -> str:
    """``item{m}`` for any m: exact repetitions synthesise no rules, so blocks nest cheaply."""
    if m == 0:
        return ""
    if weight * m <= REPETITION_LIMIT:
        return item if m == 1 else f"{item}{{{m}}}"
    a = REPETITION_LIMIT // weight
    q, r = divmod(m, a)
    return " ".join(part for part in (_exactly(f"({item}{{{a}}})", q, 1), _exactly(item, r, weight)) if part)


def _up_to(item: str, d: int, weight: int) -> str:
    """``item{0,d}`` for large d with few synthesised rules (about 3·sqrt(d), so the result can itself sit in
    a quantified group): ``B{0,q-1} item{0,a-1} | B{q} item{0,r}`` with ``B = (item{a})`` and a ≈ sqrt(d)."""
    if d == 0:
        return ""
    if weight * d <= REPETITION_LIMIT:
        return f"{item}?" if d == 1 else f"{item}{{0,{d}}}"
    a = max(2, min(math.isqrt(d) + 1, REPETITION_LIMIT // weight))
    q, r = divmod(d, a)
    block = f"({item}{{{a}}})"
    first = " ".join(p for p in (_up_to(block, q - 1, 1), _up_to(item, a - 1, weight)) if p) or '""'
    second = " ".join(p for p in (_exactly(block, q, 1), _up_to(item, r, weight)) if p)
    return f"( {first} | {second} )"
