"""Small GBNF text helpers: literals, character classes, rule-reference scanning, static fragments."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

#: internal (not yet named) rule references look like ``\x01<id>\x02``; no literal or class we emit contains them
REF_OPEN = "\x01"
REF_CLOSE = "\x02"
_PLACEHOLDER = re.compile("\x01(\\d+)\x02")
_NAME = re.compile(r"[a-zA-Z0-9-]+")


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


def rule_refs(body: str) -> list[str]:
    """Names of the rules a GBNF body refers to (literals, classes and comments skipped)."""
    out: list[str] = []
    i, n = 0, len(body)
    while i < n:
        c = body[i]
        if c == '"' or c == "[":
            close = '"' if c == '"' else "]"
            i += 1
            while i < n and body[i] != close:
                i += 2 if body[i] == "\\" else 1
            i += 1
        elif c == "#":
            break
        elif c == "{":
            i = body.index("}", i) + 1
        else:
            m = _NAME.match(body, i)
            if m:
                out.append(m.group(0))
                i = m.end()
            else:
                i += 1
    return out


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
