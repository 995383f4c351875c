"""JSON Schema ``pattern`` (ECMA-262 regex, unanchored search) -> GBNF expression over JSON-encoded text.

Pipeline: ``regex_parse`` (pattern -> IR with assertions) -> word boundaries resolved where their
neighbours decide them -> anchors resolved per branch into (starts-at-start, ends-at-end, body) variants ->
each variant padded with "any encoded character"* on its unanchored sides -> ``regex_emit``.
"""

from __future__ import annotations

from toolproxy.errors import UnsupportedSchema
from toolproxy.grammar.regex_ast import (
    EMPTY,
    NEVER,
    Alt,
    Anchor,
    Chars,
    Node,
    Rep,
    Seq,
    WordBoundary,
    alt,
    first_chars,
    has_assertion,
    last_chars,
    nullable,
    rep,
    seq,
)
from toolproxy.grammar.regex_charset import WORD
from toolproxy.grammar.regex_emit import Emitter
from toolproxy.grammar.regex_encode import ANY_ENCODED, NEVER_EXPR
from toolproxy.grammar.regex_parse import parse_regex

__all__ = ["pattern_to_gbnf", "regex_to_gbnf_anchored"]

Key = tuple[bool, bool]  # (match must start at the string start, match must end at the string end)
_NONWORD = WORD.complement()


def pattern_to_gbnf(pattern: str, *, pointer: str) -> str:
    """GBNF expression for the JSON-encoded content of strings containing a match of ``pattern``.

    Raises ``UnsupportedSchema(pointer, reason)`` for backreferences, lookarounds, unsupported Unicode
    properties, word boundaries whose neighbours do not decide them, quantified anchors and syntax errors.
    """
    tree = parse_regex(pattern, pointer)
    branches = tree.items if isinstance(tree, Alt) else (tree,)
    tree = alt(*(_resolve_boundaries(b, pointer, top=True) for b in branches))
    if isinstance(tree, Alt) and not tree.items:
        return NEVER_EXPR
    variants = _variants(tree, pointer)
    emitter = Emitter(pointer)
    pad = ANY_ENCODED + "*"
    texts: list[str] = []
    for (at_start, at_end), body in sorted(variants.items()):
        if body == NEVER:
            continue
        if not at_start:
            body = _trim(body, from_end=False)
        if not at_end:
            body = _trim(body, from_end=True)
        parts = [] if at_start else [pad]
        if body != EMPTY or (at_start and at_end):
            parts.append(emitter.emit(body).text)
        if not at_end and (at_start or body != EMPTY):
            parts.append(pad)
        texts.append(" ".join(parts))
    if not texts:
        return NEVER_EXPR
    return texts[0] if len(texts) == 1 else "(" + " | ".join(texts) + ")"


def regex_to_gbnf_anchored(pattern: str, *, pointer: str) -> str:
    """GBNF expression for strings *fully* matching ``pattern`` (as if written ``^(?:pattern)$``)."""
    return pattern_to_gbnf(f"^(?:{pattern})$", pointer=pointer)


def _trim(body: Node, *, from_end: bool) -> Node:
    """Next to an ``any*`` padding, a leading/trailing ``X{m,n}`` may become ``X{m}`` (same language)."""
    items: list[Node] = list(body.items) if isinstance(body, Seq) else [body]
    while items:
        edge = items[-1] if from_end else items[0]
        if not isinstance(edge, Rep):
            break
        fixed = rep(edge.item, edge.lo, edge.lo)
        if from_end:
            items[-1] = fixed
        else:
            items[0] = fixed
        if fixed != EMPTY:
            break
        items.pop(-1 if from_end else 0)
    return seq(*items) if items else EMPTY


def _variants(node: Node, pointer: str) -> dict[Key, Node]:
    if isinstance(node, Anchor):
        return {(not node.end, node.end): EMPTY}
    if isinstance(node, WordBoundary):
        raise UnsupportedSchema(pointer, "word boundary (\\b, \\B) in a position the translator cannot decide")
    if not has_assertion(node):
        return {(False, False): node}
    if isinstance(node, Alt):
        out: dict[Key, Node] = {}
        for item in node.items:
            for key, body in _variants(item, pointer).items():
                out[key] = alt(out[key], body) if key in out else body
        return out
    if isinstance(node, Seq):
        acc: dict[Key, Node] = {(False, False): EMPTY}
        for item in node.items:
            acc = _concat(acc, _variants(item, pointer))
        return acc
    if isinstance(node, Rep) and node.hi == 1:
        return _variants(alt(EMPTY, node.item) if node.lo == 0 else node.item, pointer)
    raise UnsupportedSchema(pointer, "quantified group containing an anchor")


def _concat(left: dict[Key, Node], right: dict[Key, Node]) -> dict[Key, Node]:
    out: dict[Key, Node] = {}
    for (s1, e1), b1 in left.items():
        for (s2, e2), b2 in right.items():
            if e1:  # left ends at the string end: right must match the empty string
                if not nullable(b2):
                    continue
                b2 = EMPTY
            if s2:  # right starts at the string start: left must match the empty string
                if not nullable(b1):
                    continue
                b1 = EMPTY
            key = (s1 or s2, e1 or e2)
            body = seq(b1, b2)
            out[key] = alt(out[key], body) if key in out else body
    return out


def _resolve_boundaries(node: Node, pointer: str, *, top: bool) -> Node:
    """Replace ``\\b``/``\\B`` inside sequences where their neighbours settle them."""
    if isinstance(node, Alt):
        return alt(*(_resolve_boundaries(i, pointer, top=False) for i in node.items))
    if isinstance(node, Rep):
        return rep(_resolve_boundaries(node.item, pointer, top=False), node.lo, node.hi)
    if not isinstance(node, Seq | WordBoundary):
        return node
    members = node.items if isinstance(node, Seq) else (node,)
    items = [i if isinstance(i, WordBoundary) else _resolve_boundaries(i, pointer, top=False) for i in members]
    out: list[Node] = []
    for i, item in enumerate(items):
        if not isinstance(item, WordBoundary):
            out.append(item)
            continue
        others = [j for j, x in enumerate(items) if not isinstance(x, WordBoundary)]
        before = _side([items[j] for j in others if j < i], pointer, top=top, end=False)
        after = _side([items[j] for j in others if j > i], pointer, top=top, end=True)
        out.append(_boundary(item.negated, before, after, pointer))
    return seq(*out)


def _side(items: list[Node], pointer: str, *, top: bool, end: bool) -> str:
    """'w' (word char), 'n' (non-word char or string edge), 'pad' (unanchored edge) or 'mixed'."""
    if not items:
        return "pad" if top else "mixed"
    if all(isinstance(i, Anchor) and i.end == end for i in items):
        return "n"
    if has_assertion(Seq(tuple(items))) or nullable(Seq(tuple(items))):
        return "mixed"
    chars = last_chars(Seq(tuple(items))) if not end else first_chars(Seq(tuple(items)))
    if chars.subset_of(WORD):
        return "w"
    if chars.intersect(WORD).is_empty():
        return "n"
    return "mixed"


def _boundary(negated: bool, before: str, after: str, pointer: str) -> Node:
    if before in ("w", "n") and after in ("w", "n"):
        holds = before != after
        return EMPTY if holds != negated else NEVER
    if before == "pad" and after in ("w", "n"):
        want_word = (after == "n") != negated  # the character before the match must be a word char
        return Chars(WORD) if want_word else alt(Anchor(end=False), Chars(_NONWORD))
    if after == "pad" and before in ("w", "n"):
        want_word = (before == "n") != negated
        return Chars(WORD) if want_word else alt(Anchor(end=True), Chars(_NONWORD))
    raise UnsupportedSchema(pointer, "word boundary (\\b, \\B) next to text that may or may not be a word")
