"""Tiny regular-expression IR shared by the regex parser, the anchor resolver and the GBNF emitter.

``Seq(())`` is the empty string, ``Alt(())`` matches nothing. ``Anchor`` and ``WordBoundary`` are
zero-width assertions; they only exist between parsing and anchor resolution.
"""

from __future__ import annotations

from dataclasses import dataclass

from toolproxy.grammar.regex_charset import CharSet


@dataclass(frozen=True)
class Chars:
    cs: CharSet


@dataclass(frozen=True)
class Seq:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Alt:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Rep:
    item: Node
    lo: int
    hi: int | None  # None: unbounded


@dataclass(frozen=True)
class Anchor:
    end: bool  # False: ``^``, True: ``$``


@dataclass(frozen=True)
class WordBoundary:
    negated: bool  # True: ``\B``


Node = Chars | Seq | Alt | Rep | Anchor | WordBoundary

EMPTY = Seq(())
NEVER = Alt(())


def seq(*items: Node) -> Node:
    """A flattened, simplified sequence (NEVER absorbs, EMPTY vanishes)."""
    out: list[Node] = []
    for it in items:
        if it == NEVER:
            return NEVER
        if isinstance(it, Seq):
            out.extend(it.items)
        else:
            out.append(it)
    return out[0] if len(out) == 1 else Seq(tuple(out))


def alt(*items: Node) -> Node:
    """A flattened, de-duplicated alternation (NEVER vanishes)."""
    out: list[Node] = []
    for it in items:
        for sub in it.items if isinstance(it, Alt) else (it,):
            if sub not in out:
                out.append(sub)
    return out[0] if len(out) == 1 else Alt(tuple(out))


def rep(item: Node, lo: int, hi: int | None) -> Node:
    """``item{lo,hi}``; a nullable item is first stripped of the empty string (``(a?)*`` is ``a*``):
    llama.cpp rejects repetitions of nullable groups as left recursion."""
    if nullable(item) and not has_assertion(item):
        item, lo = nonempty(item), 0
    if hi == 0 or item == EMPTY:
        return EMPTY
    if item == NEVER:
        return EMPTY if lo == 0 else NEVER
    if lo == 1 and hi == 1:
        return item
    return Rep(item, lo, hi)


def nullable(node: Node) -> bool:
    if isinstance(node, Chars):
        return False
    if isinstance(node, Seq):
        return all(nullable(i) for i in node.items)
    if isinstance(node, Alt):
        return any(nullable(i) for i in node.items)
    if isinstance(node, Rep):
        return node.lo == 0 or nullable(node.item)
    return True


def nonempty(node: Node) -> Node:
    """The language of an assertion-free ``node`` without the empty string."""
    if not nullable(node):
        return node
    if isinstance(node, Seq):
        if not node.items:
            return NEVER
        head, rest = node.items[0], seq(*node.items[1:])
        return alt(seq(nonempty(head), rest), nonempty(rest))
    if isinstance(node, Alt):
        return alt(*(nonempty(i) for i in node.items))
    if isinstance(node, Rep):
        return rep(nonempty(node.item), 1, node.hi)
    return NEVER


def first_chars(node: Node) -> CharSet:
    """Characters that can start a non-empty match of an assertion-free node."""
    if isinstance(node, Chars):
        return node.cs
    if isinstance(node, Seq):
        out = CharSet()
        for it in node.items:
            out = out.union(first_chars(it))
            if not nullable(it):
                break
        return out
    if isinstance(node, Alt):
        out = CharSet()
        for it in node.items:
            out = out.union(first_chars(it))
        return out
    if isinstance(node, Rep):
        return first_chars(node.item)
    return CharSet()


def last_chars(node: Node) -> CharSet:
    """Characters that can end a non-empty match of an assertion-free node."""
    if isinstance(node, Seq):
        return first_chars(Seq(tuple(_reverse(i) for i in reversed(node.items))))
    if isinstance(node, Alt):
        out = CharSet()
        for it in node.items:
            out = out.union(last_chars(it))
        return out
    if isinstance(node, Rep):
        return last_chars(node.item)
    return first_chars(node)


def _reverse(node: Node) -> Node:
    if isinstance(node, Seq):
        return Seq(tuple(_reverse(i) for i in reversed(node.items)))
    if isinstance(node, Alt):
        return Alt(tuple(_reverse(i) for i in node.items))
    if isinstance(node, Rep):
        return Rep(_reverse(node.item), node.lo, node.hi)
    return node


def has_assertion(node: Node) -> bool:
    if isinstance(node, Anchor | WordBoundary):
        return True
    if isinstance(node, Seq | Alt):
        return any(has_assertion(i) for i in node.items)
    if isinstance(node, Rep):
        return has_assertion(node.item)
    return False
