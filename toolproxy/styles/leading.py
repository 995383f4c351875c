"""Grammar helpers for the styles whose calls are the whole output (``{...}``, ``[...]``) or sit behind a
marker: plain text that can never be mistaken for a call by the scanner's anchored regions."""

from __future__ import annotations

from collections.abc import Sequence

from toolproxy.grammar import GrammarBuilder
from toolproxy.styles.grammar_kit import _class_char, text_excluding

WHITESPACE = "".join(chr(c) for c in range(0x3001) if chr(c).isspace())
"""Every character ``str.lstrip()`` removes: the scanner looks for an anchored region after those, so a text
may not start with any of them (then a ``[`` or ``{`` behind them would open a call)."""


def _escape(c: str) -> str:
    if " " <= c <= "~":
        return _class_char(c)
    return f"\\x{ord(c):02X}" if ord(c) < 0x100 else f"\\u{ord(c):04X}"


def text_not_starting(b: GrammarBuilder, name: str, forbidden_first: str, markers: Sequence[str] = ()) -> str:
    """Text (possibly empty) whose first non-blank character is none of ``forbidden_first`` (an anchored
    region's start, e.g. ``{`` or ``[``) and that contains none of ``markers``. The first character is
    also never a marker's first character (a marker cannot start the text either), nor any whitespace beyond
    the leading ``[ \\t\\n]*``."""
    excluded = set(forbidden_first) | {m[0] for m in markers if m} | set(WHITESPACE)
    first = "".join(_escape(c) for c in sorted(excluded))
    rest = text_excluding(b, f"{name}-rest", list(markers)) if markers else b.add_rule(f"{name}-rest", "[^\\x00]*")
    return b.add_rule(name, f"( [ \\t\\n]* [^{first}] {rest} )?")


def text_except(b: GrammarBuilder, name: str, markers: Sequence[str]) -> str:
    """Any text without ``markers`` (an alias kept here so new styles import one module)."""
    return text_excluding(b, name, list(markers))
