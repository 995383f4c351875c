"""Emit an assertion-free ``regex_ast`` node as one GBNF expression over JSON-encoded characters.

llama.cpp expands ``X{m,n}`` by copying and refuses a repetition when (rules synthesised inside X) times
(the repetition bound) exceeds 2000, and silently turns a bound above 2000 into "unbounded". The emitter
counts synthesised rules the way llama.cpp's parser does and splits large counts into nested blocks so
that every emitted repetition stays within the limit and keeps its exact meaning.
"""

from __future__ import annotations

from dataclasses import dataclass

from toolproxy.errors import UnsupportedSchema
from toolproxy.grammar.regex_ast import EMPTY, Alt, Chars, Node, Rep, Seq
from toolproxy.grammar.regex_charset import CharSet
from toolproxy.grammar.regex_encode import NEVER_EXPR, encode_charset

REPETITION_LIMIT = 2000  # llama.cpp's MAX_REPETITION_THRESHOLD


@dataclass(frozen=True)
class Piece:
    """GBNF text; ``atom``: a single symbol (literal, class or group) that a quantifier may follow;
    ``weight``: llama.cpp's ``n_prev_rules`` for it as an atom; ``syms``: rules it synthesises."""

    text: str
    atom: bool
    syms: int

    @property
    def weight(self) -> int:
        return max(1, self.syms) if self.text.startswith("(") and self.atom else 1


class Emitter:
    def __init__(self, pointer: str) -> None:
        self.pointer = pointer

    def emit(self, node: Node) -> Piece:
        if isinstance(node, Chars):
            return self.chars(node.cs)
        if isinstance(node, Seq):
            return self.seq(node.items)
        if isinstance(node, Alt):
            return self.alt(node.items)
        if isinstance(node, Rep):
            return self.rep(node)
        raise UnsupportedSchema(self.pointer, "internal: assertion left in regex")

    def chars(self, cs: CharSet) -> Piece:
        encoded = encode_charset(cs)
        if encoded is None:
            return Piece(NEVER_EXPR, True, 0)
        return Piece(encoded[0], True, encoded[1])

    def seq(self, items: tuple[Node, ...]) -> Piece:
        if not items:
            return Piece('""', True, 0)
        parts: list[str] = []
        syms = 0
        for item in items:
            piece = self.emit(item)
            text = piece.text if not isinstance(item, Alt) or piece.atom else f"({piece.text})"
            syms += piece.syms + (0 if piece.atom or not isinstance(item, Alt) else 1)
            if parts and _is_literal(parts[-1]) and _is_literal(text):
                parts[-1] = parts[-1][:-1] + text[1:]
            else:
                parts.append(text)
        return Piece(" ".join(parts), len(parts) == 1 and _is_atom_text(parts[0]), syms)

    def alt(self, items: tuple[Node, ...]) -> Piece:
        if not items:
            return Piece(NEVER_EXPR, True, 0)
        if EMPTY in items:  # (x | "") as x?
            rest_items = tuple(i for i in items if i != EMPTY)
            return self.rep(Rep(rest_items[0] if len(rest_items) == 1 else Alt(rest_items), 0, 1))
        chars = [i.cs for i in items if isinstance(i, Chars)]
        rest: list[Node] = [i for i in items if not isinstance(i, Chars)]
        if len(chars) > 1:  # one class instead of many single-character branches
            merged = CharSet()
            for cs in chars:
                merged = merged.union(cs)
            rest.insert(0, Chars(merged))
        else:
            rest = list(items)
        if len(rest) == 1:
            return self.emit(rest[0])
        return group([self.emit(i) for i in rest])

    def rep(self, node: Rep) -> Piece:
        inner = self.emit(node.item)
        atom = inner if inner.atom else Piece(f"({inner.text})", True, inner.syms + 1)
        return self.repeat(atom, node.lo, node.hi)

    def repeat(self, atom: Piece, lo: int, hi: int | None) -> Piece:
        w = atom.weight
        if w > REPETITION_LIMIT:
            raise UnsupportedSchema(self.pointer, "pattern too large for llama.cpp's repetition limit")
        if hi is None:
            if w * max(lo, 1) <= REPETITION_LIMIT:
                return _quantify(atom, lo, None)
            exact = self.exactly(atom, lo)
            star = _quantify(atom, 0, None)
            return Piece(f"{exact.text} {star.text}", False, exact.syms + star.syms)
        if w * hi <= REPETITION_LIMIT:
            return _quantify(atom, lo, hi)
        parts = [p for p in (self.exactly(atom, lo), self.up_to(atom, hi - lo)) if p.text != '""']
        syms = sum(p.syms for p in parts)
        return Piece(" ".join(p.text for p in parts), False, syms)

    def exactly(self, atom: Piece, m: int) -> Piece:
        """``atom{m}`` within the limit, nesting blocks ``(atom{a}){q} atom{r}`` when m is large."""
        if m == 0:
            return Piece('""', True, 0)
        w = atom.weight
        if w * m <= REPETITION_LIMIT:
            return _quantify(atom, m, m)
        a = REPETITION_LIMIT // w
        q, r = divmod(m, a)
        block = Piece(f"({_quantify(atom, a, a).text})", True, atom.syms + 1)
        outer = self.exactly(block, q)
        if r == 0:
            return outer
        tail = _quantify(atom, r, r)
        return Piece(f"{outer.text} {tail.text}", False, outer.syms + tail.syms)

    def up_to(self, atom: Piece, d: int) -> Piece:
        """``atom{0,d}``; for large d: ``B{0,q-1} atom{0,a-1} | B{q} atom{0,r}`` with ``B = (atom{a})``."""
        if d == 0:
            return Piece('""', True, 0)
        w = atom.weight
        if w * d <= REPETITION_LIMIT:
            return _quantify(atom, 0, d)
        a = REPETITION_LIMIT // w
        q, r = divmod(d, a)
        block = Piece(f"({_quantify(atom, a, a).text})", True, atom.syms + 1)
        head = self.up_to(block, q - 1)
        low = _quantify(atom, 0, a - 1)
        full = self.exactly(block, q)
        last = _quantify(atom, 0, r) if r else Piece('""', True, 0)
        first = " ".join(p.text for p in (head, low) if p.text != '""')
        second = " ".join(p.text for p in (full, last) if p.text != '""')
        syms = 1 + head.syms + low.syms + full.syms + last.syms
        return Piece(f"({first} | {second})", True, syms)


def group(pieces: list[Piece]) -> Piece:
    return Piece("(" + " | ".join(p.text for p in pieces) + ")", True, 1 + sum(p.syms for p in pieces))


def _quantify(atom: Piece, lo: int, hi: int | None) -> Piece:
    if hi is not None and lo == hi:
        if lo == 1:
            return atom
        suffix, extra = f"{{{lo}}}", 0
    elif (lo, hi) == (0, 1):
        suffix, extra = "?", 1
    elif hi is None:
        suffix = {0: "*", 1: "+"}.get(lo, f"{{{lo},}}")
        extra = 1
    else:
        suffix, extra = f"{{{lo},{hi}}}", hi - lo
    return Piece(atom.text + suffix, False, atom.syms + extra)


def _is_literal(text: str) -> bool:
    return len(text) >= 2 and text[0] == '"' and text[-1] == '"' and '" ' not in text and _balanced_literal(text)


def _balanced_literal(text: str) -> bool:
    i = 1
    while i < len(text) - 1:
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == '"':
            return False
        i += 1
    return i == len(text) - 1


def _is_atom_text(text: str) -> bool:
    return _is_literal(text) or (text.startswith("[") and text.endswith("]") and " " not in text)
