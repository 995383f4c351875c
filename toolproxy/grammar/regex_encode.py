"""GBNF text for sets of *decoded* characters as they appear *JSON-encoded* inside a string literal.

A decoded character may be written raw (not for ``"``, ``\\``, controls), as a short escape
(``\\" \\\\ \\/ \\b \\f \\n \\r \\t``), or as ``\\uXXXX`` (offered for controls, DEL and non-ASCII, the
way ``json.dumps(ensure_ascii=True)`` writes them; supplementary characters as a surrogate pair). Lone
surrogates are never produced, so every admitted text decodes to characters of the set (soundness).
"""

from __future__ import annotations

import functools

from toolproxy.grammar.regex_charset import MAX_CP, CharSet

# Characters that JSON forbids raw inside a string, plus surrogates (not encodable in UTF-8).
_NOT_RAW = CharSet.of((0x00, 0x1F), (0x22, 0x22), (0x5C, 0x5C), (0xD800, 0xDFFF))
_RAW = _NOT_RAW.complement()
_SHORT_ESCAPES = {0x22: '"', 0x5C: "\\", 0x2F: "/", 0x08: "b", 0x0C: "f", 0x0A: "n", 0x0D: "r", 0x09: "t"}
_U_ESCAPED = CharSet.of((0x00, 0x1F), (0x7F, 0xD7FF), (0xE000, 0xFFFF))
_ASTRAL = CharSet.of((0x10000, MAX_CP))
# Beyond this many ``\\u`` alternatives for non-control characters, only raw UTF-8 is offered.
_MAX_U_ALTERNATIVES = 256

# Any JSON-encoded character (used for the unanchored-search padding only: it may split pairs).
ANY_ENCODED = '([^"\\\\\\x00-\\x1F] | "\\\\" ["\\\\/bfnrt] | "\\\\u" [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F])'
# Matches nothing: no code point lies outside the full range (GBNF has no empty-language symbol).
NEVER_EXPR = "[^\\x00-\\U0010FFFF]"


def gbnf_char(cp: int, *, in_class: bool) -> str:
    """One code point written for a GBNF literal (``in_class=False``) or character class."""
    special = '\\]["-^' if in_class else '\\"'
    if 0x20 <= cp < 0x7F and chr(cp) not in special:
        return chr(cp)
    escapable = '\\"[]-' if in_class else '\\"'
    if chr(cp) in escapable:
        return "\\" + chr(cp)
    if cp < 0x100:
        return f"\\x{cp:02X}"
    if cp < 0x10000:
        return f"\\u{cp:04X}"
    return f"\\U{cp:08X}"


def gbnf_class(cs: CharSet) -> str:
    parts = []
    for lo, hi in cs.ranges:
        parts.append(gbnf_char(lo, in_class=True))
        if hi > lo:
            if hi > lo + 1:
                parts.append("-")
            parts.append(gbnf_char(hi, in_class=True))
    return "[" + "".join(parts) + "]"


def gbnf_literal(text: str) -> str:
    return '"' + "".join(gbnf_char(ord(c), in_class=False) for c in text) + '"'


@functools.lru_cache(maxsize=4096)
def encode_charset(cs: CharSet) -> tuple[str, int] | None:
    """GBNF expression for one JSON-encoded character of ``cs`` and the number of groups it opens
    (llama.cpp synthesises one rule per group); None when the set is empty.

    Shape: ``( RAW | "\\\\" ( SHORT | "u" HEX-TRIE ) )`` so that the sampler keeps at most two
    parse stacks per character position."""
    alts: list[str] = []
    groups = 0
    raw = cs.intersect(_RAW)
    if not raw.is_empty():
        single = raw.single()
        alts.append(gbnf_literal(chr(single)) if single is not None else gbnf_class(raw))
    escapes: list[list[str]] = []
    shorts = [esc for cp, esc in _SHORT_ESCAPES.items() if cp in cs]
    if shorts:
        escapes.append([gbnf_literal(shorts[0]) if len(shorts) == 1 else gbnf_class(CharSet.chars("".join(shorts)))])
    controls = cs.intersect(CharSet.of((0x00, 0x1F)))
    wide = cs.intersect(_U_ESCAPED).minus(controls)
    paths: list[list[object]] = [["u", *d] for d in _hex_patterns(controls)]
    wide_paths: list[list[object]] = [["u", *d] for d in _hex_patterns(wide)]
    wide_paths += [["u", *high, "\\u", *low] for high, low in _surrogate_patterns(cs.intersect(_ASTRAL))]
    if len(wide_paths) <= _MAX_U_ALTERNATIVES:
        paths += wide_paths
    if paths:
        trie_tokens, trie_groups = _emit_trie(_build_trie(paths))
        escapes.append(trie_tokens)
        groups += trie_groups
    if len(escapes) == 1:
        alts.append(" ".join(_merge_literals([gbnf_literal("\\"), *escapes[0]])))
    elif escapes:
        groups += 1
        inner = " | ".join(" ".join(e) for e in escapes)
        alts.append(f"{gbnf_literal(chr(0x5C))} ({inner})")
    if not alts:
        return None
    if len(alts) == 1 and (alts[0].startswith("[") or _single_literal(alts[0])):
        return alts[0], groups
    return "(" + " | ".join(alts) + ")", groups + 1


def _single_literal(text: str) -> bool:
    return text.startswith('"') and text.endswith('"') and " " not in text


Trie = dict[object, "Trie"]


def _build_trie(paths: list[list[object]]) -> Trie:
    root: Trie = {}
    for path in paths:
        node = root
        for element in path:
            node = node.setdefault(element, {})
    return root


def _emit_trie(node: Trie) -> tuple[list[str], int]:
    """Tokens of the trie below ``node`` (literals merged) and the number of groups opened.

    Sibling digit ranges with identical continuations share one character class."""
    merged: dict[tuple[str, ...], tuple[set[int], list[str], int]] = {}
    literal_branches: list[list[str]] = []
    groups = 0
    for element, child in node.items():
        tokens, sub = _emit_trie(child) if child else ([], 0)
        if isinstance(element, str):
            groups += sub
            literal_branches.append(_merge_literals([gbnf_literal(element), *tokens]))
            continue
        lo, hi = element if isinstance(element, tuple) else (0, 15)
        key = tuple(tokens)
        digits, _, _ = merged.setdefault(key, (set(), tokens, sub))
        digits.update(range(lo, hi + 1))
    branches = list(literal_branches)
    for digits, tokens, sub in merged.values():
        groups += sub
        branches.append(_merge_literals([_digit_token(digits), *tokens]))
    if len(branches) == 1:
        return branches[0], groups
    return ["(" + " | ".join(" ".join(b) for b in branches) + ")"], groups + 1


def _digit_token(digits: set[int]) -> str:
    if len(digits) == 1 and min(digits) < 10:
        return f'"{min(digits)}"'
    parts = ""
    for base, values in (("0", [d for d in digits if d < 10]), ("a", [d - 10 for d in digits if d >= 10])):
        for lo, hi in _runs(values):
            for b in (base,) if base == "0" else ("a", "A"):
                x, y = chr(ord(b) + lo), chr(ord(b) + hi)
                parts += x if x == y else f"{x}{y}" if hi == lo + 1 else f"{x}-{y}"
    return "[" + parts + "]"


def _runs(values: list[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for v in sorted(values):
        if out and v == out[-1][1] + 1:
            out[-1] = (out[-1][0], v)
        else:
            out.append((v, v))
    return out


def _merge_literals(tokens: list[str]) -> list[str]:
    out: list[str] = []
    for tok in tokens:
        if out and _single_literal(out[-1]) and _single_literal(tok):
            out[-1] = out[-1][:-1] + tok[1:]
        else:
            out.append(tok)
    return out


def _hex_patterns(cs: CharSet) -> list[list[tuple[int, int]]]:
    out: list[list[tuple[int, int]]] = []
    for lo, hi in cs.ranges:
        out.extend(_split_range(lo, hi, 4))
    return out


def _split_range(lo: int, hi: int, width: int) -> list[list[tuple[int, int]]]:
    """Fixed-width base-16 digit ranges whose concatenations cover exactly ``lo..hi``."""
    if width == 0:
        return [[]]
    base = 16 ** (width - 1)
    lo_d, lo_r = divmod(lo, base)
    hi_d, hi_r = divmod(hi, base)
    if lo_d == hi_d:
        return [[(lo_d, lo_d), *rest] for rest in _split_range(lo_r, hi_r, width - 1)]
    out: list[list[tuple[int, int]]] = []
    first, last = lo_d, hi_d
    if lo_r != 0:
        out.extend([(lo_d, lo_d), *rest] for rest in _split_range(lo_r, base - 1, width - 1))
        first += 1
    tail: list[list[tuple[int, int]]] = []
    if hi_r != base - 1:
        tail = [[(hi_d, hi_d), *rest] for rest in _split_range(0, hi_r, width - 1)]
        last -= 1
    if first <= last:
        out.append([(first, last)] + [(0, 15)] * (width - 1))
    return out + tail


def _surrogate_patterns(cs: CharSet) -> list[list[list[tuple[int, int]]]]:
    """Pairs (high digits, low digits) covering the supplementary code points of ``cs``."""
    out: list[list[list[tuple[int, int]]]] = []
    for lo, hi in cs.ranges:
        h_lo, h_hi = 0xD800 + ((lo - 0x10000) >> 10), 0xD800 + ((hi - 0x10000) >> 10)
        l_lo, l_hi = 0xDC00 + ((lo - 0x10000) & 0x3FF), 0xDC00 + ((hi - 0x10000) & 0x3FF)
        spans: list[tuple[int, int, int, int]] = []
        if h_lo == h_hi:
            spans.append((h_lo, h_lo, l_lo, l_hi))
        else:
            first = h_lo if l_lo == 0xDC00 else h_lo + 1
            last = h_hi if l_hi == 0xDFFF else h_hi - 1
            if l_lo != 0xDC00:
                spans.append((h_lo, h_lo, l_lo, 0xDFFF))
            if first <= last:
                spans.append((first, last, 0xDC00, 0xDFFF))
            if l_hi != 0xDFFF:
                spans.append((h_hi, h_hi, 0xDC00, l_hi))
        for a, b, c, d in spans:
            for high in _split_range(a, b, 4):
                for low in _split_range(c, d, 4):
                    out.append([high, low])
    return out
