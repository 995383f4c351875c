"""Strings: length bounds (in characters, an escape sequence is one), pattern, format, excluded values."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from toolproxy.errors import UnsupportedSchema
from toolproxy.grammar.facts import Fact
from toolproxy.grammar.gbnf import char_class, gbnf_literal

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


def length_repeat(item: str, lo: int, hi: int | None) -> str:
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
