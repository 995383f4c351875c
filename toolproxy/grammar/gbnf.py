"""Small GBNF text helpers: literals, character classes, rule-reference scanning, static fragments."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

#: internal (not yet named) rule references look like ``\x01<id>\x02``; no literal or class we emit contains them
REF_OPEN = "\x01"
REF_CLOSE = "\x02"
_PLACEHOLDER = re.compile("\x01(\\d+)\x02")
_NAME = re.compile(r"[a-zA-Z0-9-]+")
_PARENS = re.compile(r"[()]")


def ref(rule_id: int) -> str:
    return f"{REF_OPEN}{rule_id}{REF_CLOSE}"


def placeholders(body: str) -> list[int]:
    return [int(m) for m in _PLACEHOLDER.findall(body)]


def substitute(body: str, names: dict[int, str]) -> str:
    return _PLACEHOLDER.sub(lambda m: names[int(m.group(1))], body)


def _escape_char(ch: str, specials: str) -> str:
    code = ord(ch)
    if ch == "\n":
        return "\\n"
    if ch == "\r":
        return "\\r"
    if ch == "\t":
        return "\\t"
    if code < 0x20 or code == 0x7F:
        return f"\\x{code:02x}"
    if ch in specials:
        return "\\" + ch
    return ch


def gbnf_literal(text: str) -> str:
    """A GBNF string literal matching exactly ``text`` (UTF-8 kept raw, controls and quotes escaped)."""
    return '"' + "".join(_escape_char(c, '"\\') for c in text) + '"'


def class_char(ch: str) -> str:
    """One character escaped for use inside ``[...]``."""
    return _escape_char(ch, "]\\^-[")


def char_class(ranges: list[tuple[int, int]], *, negate: bool = False) -> str:
    """``[...]`` for inclusive code point ranges (merged and sorted)."""
    merged: list[list[int]] = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    parts = []
    for lo, hi in merged:
        if lo == hi:
            parts.append(class_char(chr(lo)))
        elif hi == lo + 1:
            parts.append(class_char(chr(lo)) + class_char(chr(hi)))
        else:
            parts.append(f"{class_char(chr(lo))}-{class_char(chr(hi))}")
    return "[" + ("^" if negate else "") + "".join(parts) + "]"


# what is *not* grammar structure: string literals, character classes (each with backslash escapes, possibly
# unterminated at the end of the text) and comments (to the end of the line, as llama.cpp's parser reads them)
_OPAQUE = re.compile(r'"(?:[^"\\]|\\.)*"?|\[(?:[^\]\\]|\\.)*\]?|#[^\r\n]*', re.S)
_QUANTIFIER = re.compile(r"\{([^}]*)\}")


def code_segments(text: str) -> Iterator[str]:
    """The pieces of a GBNF text between its string literals, character classes and comments, in order: where
    rule names, groups, quantifiers and token references (``<...>``) are. The one lexer every scan of grammar
    text here uses (a ``(`` inside ``"("`` or ``[()]`` is no group, a ``<`` inside ``"<a>"`` no token)."""
    start = 0
    for m in _OPAQUE.finditer(text):
        if m.start() > start:
            yield text[start : m.start()]
        start = m.end()
    if start < len(text):
        yield text[start:]


def rule_refs(body: str) -> list[str]:
    """Names of the rules a GBNF body refers to (literals, classes, comments and ``{m,n}`` skipped)."""
    out: list[str] = []
    for segment in code_segments(body):
        out.extend(_NAME.findall(_QUANTIFIER.sub(" ", segment)))
    return out


def rename_refs(body: str, names: dict[str, str]) -> str:
    """``body`` with each reference to a rule in ``names`` replaced by its value (a name or an expression)."""
    if not names:
        return body
    out: list[str] = []
    start = 0
    for m in _OPAQUE.finditer(body):
        out.append(_NAME.sub(lambda n: names.get(n.group(), n.group()), body[start : m.start()]))
        out.append(m.group())
        start = m.end()
    out.append(_NAME.sub(lambda n: names.get(n.group(), n.group()), body[start:]))
    return "".join(out)


def nesting(text: str, *, stop_above: int | None = None) -> int:
    """The deepest ``( ... )`` nesting of a GBNF text; the scan ends as soon as it passes ``stop_above``."""
    deepest = depth = 0
    for segment in code_segments(text):
        for c in _PARENS.findall(segment):
            if c == "(":
                depth += 1
                if depth > deepest:
                    deepest = depth
                    if stop_above is not None and deepest > stop_above:
                        return deepest
            else:
                depth = max(depth - 1, 0)
    return deepest


def uses_token_rules(text: str) -> bool:
    """Whether a GBNF text matches tokens by id (``<[123]>``, ``<|tok|>``, ``!<...>``) anywhere."""
    return any("<" in segment for segment in code_segments(text))


def synthesised_rules(text: str) -> int:
    """How many rules llama.cpp synthesises while parsing ``text``: one per group and ``* + ?``, and for
    ``{m,n}`` one per optional repetition (``n - m``; one for an open ``{m,}``); exact ``{m}`` none."""
    count = 0
    for segment in code_segments(text):
        count += sum(segment.count(c) for c in "(*+?")
        for m in _QUANTIFIER.finditer(segment):
            lo_text, comma, hi_text = m.group(1).partition(",")
            if comma:
                count += 1 if not hi_text.strip() else int(hi_text) - int(lo_text)
    return count


@cache
def fragments() -> dict[str, str]:
    """The static rules of ``grammars/*.gbnf`` (name -> body), read once."""
    rules: dict[str, str] = {}
    for line in _fragment_text("json.gbnf").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, body = line.partition("::=")
        if not sep:
            continue
        rules[name.strip()] = body.strip()
    return rules


def fragment_closure(name: str) -> list[str]:
    """``name`` and every fragment rule it depends on, in a stable order."""
    frags = fragments()
    if name not in frags:
        raise KeyError(f"unknown grammar fragment {name!r} (known: {', '.join(sorted(frags))})")
    seen: list[str] = []
    todo = [name]
    while todo:
        cur = todo.pop()
        if cur in seen:
            continue
        seen.append(cur)
        todo.extend(r for r in rule_refs(frags[cur]) if r in frags and r not in seen)
    return seen


def _fragment_text(filename: str) -> str:
    """A static GBNF fragment file from ``grammars/``: package data in a wheel (``toolproxy/_data/grammars``),
    the top-level folder in a checkout. Located here, not via toolproxy.resources, so grammar/ stays pure
    (it imports nothing from toolproxy but errors)."""
    package = Path(__file__).resolve().parents[1]
    for folder in (package / "_data" / "grammars", package.parent / "grammars"):
        path = folder / filename
        if path.is_file():
            return path.read_text(encoding="utf-8")
    raise FileNotFoundError(f"GBNF fragment {filename!r} not found (broken install?)")
