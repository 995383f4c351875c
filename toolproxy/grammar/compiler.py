"""Compile one JSON Schema into GBNF rules (still unnamed: the builder names and shares them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from toolproxy.errors import UnsupportedSchema
from toolproxy.grammar.emit import Emitter
from toolproxy.grammar.resolver import Document


@dataclass(frozen=True)
class CompiledSchema:
    root: int  # id of the root rule
    rules: tuple[tuple[int, str, str], ...]  # (id, name hint, body with placeholder references)
    fragments: tuple[str, ...]  # static fragments the bodies use


def compile_schema(schema: Any) -> CompiledSchema:
    """Compile ``schema`` (a dict or a boolean); raises UnsupportedSchema."""
    if not isinstance(schema, (dict, bool)):
        raise UnsupportedSchema("", "a schema must be an object or a boolean")
    em = Emitter(Document(schema))
    token = em.new_rule("root")
    root_id = int(token[1:-1])
    try:
        conj = em.canonical(frozenset({""}))
        em.bind(conj, token)
        facts = em.expander.expand(conj)
        body = em.body(facts, conj) if facts else None
    except RecursionError as exc:
        raise UnsupportedSchema("", "schema nesting is too deep to compile") from exc
    em.define(token, body if body is not None else em.never())  # no value at all: a grammar of nothing
    rules = tuple((rid, hint, b) for rid, (hint, b) in sorted(em.rules.items()))
    return CompiledSchema(root_id, rules, tuple(sorted(em.fragments)))
