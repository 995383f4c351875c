"""Immutable sets of Unicode code points as sorted, disjoint, non-adjacent ranges.

Used by the ECMA-262 regex translator: every character class, escape and ``.`` becomes a ``CharSet``
over decoded characters; ``regex_encode`` later turns a set into the JSON-encoded GBNF expression.
"""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass

MAX_CP = 0x10FFFF
SURROGATES = (0xD800, 0xDFFF)


@dataclass(frozen=True)
class CharSet:
    """A set of code points; ``ranges`` is sorted, disjoint and non-adjacent (normalised)."""

    ranges: tuple[tuple[int, int], ...] = ()

    @staticmethod
    def of(*ranges: tuple[int, int]) -> CharSet:
        return CharSet(_normalise(list(ranges)))

    @staticmethod
    def chars(text: str) -> CharSet:
        return CharSet(_normalise([(ord(c), ord(c)) for c in text]))

    @staticmethod
    def full() -> CharSet:
        return CharSet(((0, MAX_CP),))

    def is_empty(self) -> bool:
        return not self.ranges

    def single(self) -> int | None:
        """The code point when the set holds exactly one, else None."""
        if len(self.ranges) == 1 and self.ranges[0][0] == self.ranges[0][1]:
            return self.ranges[0][0]
        return None

    def __contains__(self, cp: object) -> bool:
        return isinstance(cp, int) and any(lo <= cp <= hi for lo, hi in self.ranges)

    def union(self, other: CharSet) -> CharSet:
        return CharSet(_normalise([*self.ranges, *other.ranges]))

    def complement(self) -> CharSet:
        out: list[tuple[int, int]] = []
        nxt = 0
        for lo, hi in self.ranges:
            if lo > nxt:
                out.append((nxt, lo - 1))
            nxt = hi + 1
        if nxt <= MAX_CP:
            out.append((nxt, MAX_CP))
        return CharSet(tuple(out))

    def intersect(self, other: CharSet) -> CharSet:
        out: list[tuple[int, int]] = []
        i = j = 0
        a, b = self.ranges, other.ranges
        while i < len(a) and j < len(b):
            lo = max(a[i][0], b[j][0])
            hi = min(a[i][1], b[j][1])
            if lo <= hi:
                out.append((lo, hi))
            if a[i][1] < b[j][1]:
                i += 1
            else:
                j += 1
        return CharSet(tuple(out))

    def minus(self, other: CharSet) -> CharSet:
        return self.intersect(other.complement())

    def subset_of(self, other: CharSet) -> bool:
        return self.minus(other).is_empty()


def _normalise(ranges: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return tuple(out)


# ECMA-262 predefined classes (``\d \w \s`` are ASCII / fixed lists, not Unicode-aware).
DIGIT = CharSet.of((0x30, 0x39))
WORD = CharSet.of((0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A))
SPACE = CharSet.of(
    (0x09, 0x0D), (0x20, 0x20), (0xA0, 0xA0), (0x1680, 0x1680), (0x2000, 0x200A),
    (0x2028, 0x2029), (0x202F, 0x202F), (0x205F, 0x205F), (0x3000, 0x3000), (0xFEFF, 0xFEFF),
)
LINE_TERMINATORS = CharSet.of((0x0A, 0x0A), (0x0D, 0x0D), (0x2028, 0x2029))
DOT = LINE_TERMINATORS.complement()

# General_Category values and their ECMA-262 aliases (PropertyValueAliases.txt).
_GC_ALIASES: dict[str, tuple[str, ...]] = {
    "L": ("L", "Letter"), "LC": ("LC", "Cased_Letter"), "Lu": ("Lu", "Uppercase_Letter"),
    "Ll": ("Ll", "Lowercase_Letter"), "Lt": ("Lt", "Titlecase_Letter"), "Lm": ("Lm", "Modifier_Letter"),
    "Lo": ("Lo", "Other_Letter"), "M": ("M", "Mark", "Combining_Mark"), "Mn": ("Mn", "Nonspacing_Mark"),
    "Mc": ("Mc", "Spacing_Mark"), "Me": ("Me", "Enclosing_Mark"), "N": ("N", "Number"),
    "Nd": ("Nd", "Decimal_Number", "digit"), "Nl": ("Nl", "Letter_Number"), "No": ("No", "Other_Number"),
    "P": ("P", "Punctuation", "punct"), "Pc": ("Pc", "Connector_Punctuation"),
    "Pd": ("Pd", "Dash_Punctuation"), "Ps": ("Ps", "Open_Punctuation"), "Pe": ("Pe", "Close_Punctuation"),
    "Pi": ("Pi", "Initial_Punctuation"), "Pf": ("Pf", "Final_Punctuation"),
    "Po": ("Po", "Other_Punctuation"), "S": ("S", "Symbol"), "Sm": ("Sm", "Math_Symbol"),
    "Sc": ("Sc", "Currency_Symbol"), "Sk": ("Sk", "Modifier_Symbol"), "So": ("So", "Other_Symbol"),
    "Z": ("Z", "Separator"), "Zs": ("Zs", "Space_Separator"), "Zl": ("Zl", "Line_Separator"),
    "Zp": ("Zp", "Paragraph_Separator"), "Cc": ("Cc", "Control", "cntrl"), "Cf": ("Cf", "Format"),
    "Co": ("Co", "Private_Use"),
}


@functools.cache
def _categories() -> dict[str, CharSet]:
    """Code points per two-letter General_Category, from Python's ``unicodedata`` (computed once)."""
    spans: dict[str, list[tuple[int, int]]] = {}
    start = 0
    current = unicodedata.category(chr(0))
    for cp in range(1, MAX_CP + 2):
        cat = unicodedata.category(chr(cp)) if cp <= MAX_CP else ""
        if cat != current:
            spans.setdefault(current, []).append((start, cp - 1))
            start, current = cp, cat
    return {cat: CharSet(_normalise(r)) for cat, r in spans.items()}


def unicode_property(name: str) -> CharSet | None:
    """The set for ``\\p{name}`` (General_Category value, ``gc=``/``General_Category=`` forms, ``Any``,
    ``ASCII``, ``ASCII_Hex_Digit``), or None when unknown/unsupported (scripts, other binary properties).

    Assigned characters follow Python's Unicode database; ``Cn`` (unassigned) and ``Cs`` are not offered
    because their extent differs between Unicode versions."""
    if name == "Any":
        return CharSet.full()
    if name == "ASCII":
        return CharSet.of((0, 0x7F))
    if name in ("ASCII_Hex_Digit", "AHex"):
        return CharSet.of((0x30, 0x39), (0x41, 0x46), (0x61, 0x66))
    for prefix in ("General_Category=", "gc="):
        if name.startswith(prefix):
            name = name[len(prefix):]
    for key, aliases in _GC_ALIASES.items():
        if name in aliases:
            cats = _categories()
            out = CharSet()
            for cat, cs in cats.items():
                if cat == key or (len(key) == 1 and cat[0] == key) or (key == "LC" and cat in ("Lu", "Ll", "Lt")):
                    out = out.union(cs)
            return out
    return None
