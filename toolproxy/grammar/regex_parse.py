"""Parser for ECMA-262 regular expressions (``u``-flag semantics: code points) into ``regex_ast`` nodes.

Refused (``UnsupportedSchema``): backreferences, lookarounds, unknown Unicode properties, syntax errors.
Annex B leniencies kept: a lone ``]``, ``}`` or a ``{`` that does not start a quantifier is a literal, and
any non-alphanumeric character may be identity-escaped.
"""

from __future__ import annotations

from toolproxy.errors import UnsupportedSchema
from toolproxy.grammar.regex_ast import (
    EMPTY,
    Anchor,
    Chars,
    Node,
    WordBoundary,
    alt,
    rep,
    seq,
)
from toolproxy.grammar.regex_charset import DIGIT, DOT, SPACE, WORD, CharSet, unicode_property

_CONTROL_ESCAPES = {"t": 0x09, "n": 0x0A, "v": 0x0B, "f": 0x0C, "r": 0x0D}
_CLASS_ESCAPES = {"d": DIGIT, "w": WORD, "s": SPACE}
_HEX = "0123456789abcdefABCDEF"


class RegexParser:
    """Recursive-descent parser; one instance per pattern."""

    def __init__(self, pattern: str, pointer: str) -> None:
        self.src = pattern
        self.pos = 0
        self.pointer = pointer

    def fail(self, reason: str) -> UnsupportedSchema:
        return UnsupportedSchema(self.pointer, f"pattern {self.src!r}: {reason} (at offset {self.pos})")

    def peek(self, k: int = 0) -> str:
        i = self.pos + k
        return self.src[i] if i < len(self.src) else ""

    def parse(self) -> Node:
        node = self.disjunction()
        if self.pos < len(self.src):
            raise self.fail("unbalanced ')'")
        return node

    def disjunction(self) -> Node:
        branches = [self.alternative()]
        while self.peek() == "|":
            self.pos += 1
            branches.append(self.alternative())
        return alt(*branches) if len(branches) > 1 else branches[0]

    def alternative(self) -> Node:
        items: list[Node] = []
        while self.peek() not in ("", "|", ")"):
            items.append(self.term())
        return seq(*items) if items else EMPTY

    def term(self) -> Node:
        c = self.peek()
        if c == "^":
            self.pos += 1
            return Anchor(end=False)
        if c == "$":
            self.pos += 1
            return Anchor(end=True)
        if c == "\\" and self.peek(1) in ("b", "B"):
            self.pos += 2
            return WordBoundary(negated=self.peek(-1) == "B")
        if self.src.startswith(("(?=", "(?!", "(?<=", "(?<!"), self.pos):
            raise self.fail("lookaround assertions are not supported")
        atom = self.atom()
        return self.quantified(atom)

    def quantified(self, atom: Node) -> Node:
        c = self.peek()
        bounds: tuple[int, int | None] | None = None
        if c == "*":
            bounds = (0, None)
            self.pos += 1
        elif c == "+":
            bounds = (1, None)
            self.pos += 1
        elif c == "?":
            bounds = (0, 1)
            self.pos += 1
        elif c == "{":
            bounds = self.braces()
        if bounds is None:
            return atom
        if self.peek() == "?":  # lazy: same language
            self.pos += 1
        if self.peek() in ("*", "+", "?") or (self.peek() == "{" and self.try_braces() is not None):
            raise self.fail("nothing to repeat")
        lo, hi = bounds
        if hi is not None and hi < lo:
            raise self.fail("numbers out of order in {} quantifier")
        return rep(atom, lo, hi)

    def try_braces(self) -> tuple[int, int | None] | None:
        save = self.pos
        try:
            return self.braces()
        finally:
            self.pos = save

    def braces(self) -> tuple[int, int | None] | None:
        """``{n}``, ``{n,}``, ``{n,m}``; None (position unchanged) when not a quantifier (Annex B)."""
        start = self.pos
        self.pos += 1
        lo = self.number()
        if lo is None:
            self.pos = start
            return None
        hi: int | None = lo
        if self.peek() == ",":
            self.pos += 1
            hi = self.number()
        if self.peek() != "}":
            self.pos = start
            return None
        self.pos += 1
        return lo, hi

    def number(self) -> int | None:
        start = self.pos
        while self.peek().isascii() and self.peek().isdigit():
            self.pos += 1
        return int(self.src[start : self.pos]) if self.pos > start else None

    def atom(self) -> Node:
        c = self.peek()
        if c == "":
            raise self.fail("unexpected end")
        if c == ".":
            self.pos += 1
            return Chars(DOT)
        if c == "(":
            return self.group()
        if c == "[":
            return Chars(self.char_class())
        if c == "\\":
            return Chars(self.escape(in_class=False))
        if c in "*+?":
            raise self.fail("nothing to repeat")
        if c == "{" and self.try_braces() is not None:
            raise self.fail("nothing to repeat")
        return Chars(_one(self.literal_char()))

    def literal_char(self) -> int:
        """The next pattern character; a UTF-16 surrogate pair written as two characters is one."""
        cp = ord(self.peek())
        self.pos += 1
        if 0xD800 <= cp <= 0xDBFF and "\udc00" <= self.peek() <= "\udfff":
            cp = 0x10000 + ((cp - 0xD800) << 10) + (ord(self.peek()) - 0xDC00)
            self.pos += 1
        return cp

    def group(self) -> Node:
        self.pos += 1
        if self.peek() == "?":
            if self.peek(1) == ":":
                self.pos += 2
            elif self.peek(1) == "<":
                end = self.src.find(">", self.pos)
                name = self.src[self.pos + 2 : end] if end > 0 else ""
                if not name or not all(ch.isalnum() or ch in "_$" for ch in name):
                    raise self.fail("bad group name")
                self.pos = end + 1
            else:
                raise self.fail("unsupported group syntax")
        inner = self.disjunction()
        if self.peek() != ")":
            raise self.fail("missing ')'")
        self.pos += 1
        return inner

    def char_class(self) -> CharSet:
        self.pos += 1
        negate = self.peek() == "^"
        if negate:
            self.pos += 1
        out = CharSet()
        while self.peek() != "]":
            if self.peek() == "":
                raise self.fail("unterminated character class")
            lo = self.class_atom()
            if self.peek() == "-" and self.peek(1) not in ("]", ""):
                self.pos += 1
                hi = self.class_atom()
                a, b = lo.single(), hi.single()
                if a is None or b is None:
                    raise self.fail("character class escape used as a range bound")
                if a > b:
                    raise self.fail("range out of order in character class")
                out = out.union(CharSet.of((a, b)))
            else:
                out = out.union(lo)
        self.pos += 1
        return out.complement() if negate else out

    def class_atom(self) -> CharSet:
        if self.peek() == "\\":
            if self.peek(1) == "b":
                self.pos += 2
                return CharSet.of((0x08, 0x08))
            if self.peek(1) == "-":
                self.pos += 2
                return CharSet.chars("-")
            return self.escape(in_class=True)
        return _one(self.literal_char())

    def escape(self, *, in_class: bool) -> CharSet:
        self.pos += 1
        c = self.peek()
        if c == "":
            raise self.fail("\\ at end of pattern")
        self.pos += 1
        if c in _CLASS_ESCAPES:
            return _CLASS_ESCAPES[c]
        if c.lower() in _CLASS_ESCAPES:
            return _CLASS_ESCAPES[c.lower()].complement()
        if c in _CONTROL_ESCAPES:
            return _one(_CONTROL_ESCAPES[c])
        if c in ("p", "P"):
            return self.property(negated=c == "P")
        if c == "c":
            letter = self.peek()
            if letter.isascii() and letter.isalpha():
                self.pos += 1
                return _one(ord(letter) % 32)
            raise self.fail("bad \\c escape")
        if c == "0" and not self.peek().isdigit():
            return _one(0)
        if c.isdigit() or c == "k":
            raise self.fail("backreferences are not supported")
        if c == "x":
            return _one(self.hex_digits(2))
        if c == "u":
            return _one(self.unicode_escape())
        if c.isascii() and c.isalnum():
            raise self.fail(f"unknown escape \\{c}")
        return _one(ord(c))

    def hex_digits(self, n: int) -> int:
        text = self.src[self.pos : self.pos + n]
        if len(text) != n or any(ch not in _HEX for ch in text):
            raise self.fail("bad hex escape")
        self.pos += n
        return int(text, 16)

    def unicode_escape(self) -> int:
        if self.peek() == "{":
            end = self.src.find("}", self.pos)
            text = self.src[self.pos + 1 : end] if end > 0 else ""
            if not text or any(ch not in _HEX for ch in text) or int(text, 16) > 0x10FFFF:
                raise self.fail("bad \\u{...} escape")
            self.pos = end + 1
            return int(text, 16)
        cp = self.hex_digits(4)
        if 0xD800 <= cp <= 0xDBFF and self.src[self.pos : self.pos + 2] == "\\u":
            save = self.pos
            self.pos += 2
            low = self.hex_digits(4) if all(ch in _HEX for ch in self.src[self.pos : self.pos + 4]) else -1
            if 0xDC00 <= low <= 0xDFFF:
                return 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00)
            self.pos = save
        return cp

    def property(self, *, negated: bool) -> CharSet:
        if self.peek() != "{":
            raise self.fail("bad \\p escape")
        end = self.src.find("}", self.pos)
        name = self.src[self.pos + 1 : end] if end > 0 else ""
        self.pos = end + 1 if end > 0 else self.pos
        cs = unicode_property(name)
        if cs is None:
            raise self.fail(f"unsupported Unicode property \\p{{{name}}}")
        return cs.complement() if negated else cs


def _one(cp: int) -> CharSet:
    return CharSet.of((cp, cp))


def parse_regex(pattern: str, pointer: str) -> Node:
    return RegexParser(pattern, pointer).parse()
