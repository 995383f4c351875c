"""GrammarBuilder: one grammar out of several compiled schemas, static fragments and hand-written rules.

Rule names are deterministic (from the schema path, namespaced by the name given to ``add_schema``),
identical rules are shared, and ``build`` prints the rules sorted by name (the root first).

A builder's ``layout`` fixes the whitespace inside JSON texts (the ``jws`` fragments), the compiled schemas
being the same for every layout:
  ``free``   bounded whitespace anywhere JSON allows it (the default; ``grammars/json.gbnf``);
  ``dumps``  exactly what ``json.dumps`` and the chat templates' ``tojson`` write: ``{"a": 1, "b": [2, 3]}``.
More of a call is then decided by the grammar alone, which the embedded backend decodes in one batch
(jump-forward); the model loses the freedom to pretty-print.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Literal

from toolproxy.errors import UnsupportedSchema
from toolproxy.grammar.compiler import CompiledSchema, compile_schema
from toolproxy.grammar.gbnf import fragment_closure, fragments, gbnf_literal, placeholders, rename_refs, substitute

__all__ = ["LAYOUTS", "GrammarBuilder", "Layout", "gbnf_literal", "schema_to_gbnf"]

Layout = Literal["free", "dumps"]
# what each JSON-whitespace rule of grammars/json.gbnf becomes in a built grammar, per layout
LAYOUTS: dict[str, dict[str, str]] = {
    "free": {"jws": "ws", "jws-colon": "ws", "jws-comma": "ws"},
    "dumps": {"jws": '""', "jws-colon": '" "', "jws-comma": '" "'},
}


def _sanitize(name: str) -> str:
    out = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return out or "rule"


class GrammarBuilder:
    """Accumulates named GBNF rules; see the package docstring for the contract."""

    def __init__(self, layout: Layout = "free") -> None:
        self._rules: dict[str, str] = {}
        self._by_body: dict[str, str] = {}
        self._layout = LAYOUTS[layout]

    # -- naming ------------------------------------------------------------------------------
    def _fresh(self, base: str) -> str:
        base = _sanitize(base)
        reserved = fragments()
        name, i = base, 1
        while name in self._rules or name in reserved:
            i += 1
            name = f"{base}-{i}"
        return name

    def _put(self, name: str, body: str) -> str:
        self._rules[name] = body
        self._by_body.setdefault(body, name)
        return name

    # -- public API --------------------------------------------------------------------------
    def fragment(self, name: str) -> str:
        frags = fragments()
        for dep in fragment_closure(name):
            if dep not in self._rules:
                self._put(dep, frags[dep])
        return name

    def add_rule(self, name: str, body: str) -> str:
        body = body.strip()
        existing = self._by_body.get(body)
        if existing is not None:
            return existing
        return self._put(self._fresh(name), body)

    def add_schema(self, schema: dict | bool, name: str) -> str:
        compiled = _compile_cached(_canonical(schema))
        return self._merge(compiled, _sanitize(name))

    def build(self, root_body: str, root: str = "root") -> str:
        rules = dict(self._rules)
        if not (root in rules and root_body.strip() == root):
            if root in rules:
                raise ValueError(f"rule name {root!r} is already taken; pick another root name")
            rules[root] = root_body.strip()
        for name in self._layout:  # the layout's whitespace is written in place of its rules
            rules.pop(name, None)
        lines = [f"{root} ::= {rename_refs(rules.pop(root), self._layout)}"]
        lines.extend(f"{name} ::= {rename_refs(rules[name], self._layout)}" for name in sorted(rules))
        return "\n".join(lines) + "\n"

    # -- merging a compiled schema -----------------------------------------------------------
    def _merge(self, compiled: CompiledSchema, ns: str, *, share_root: bool = True) -> str:
        for frag in compiled.fragments:
            self.fragment(frag)
        bodies = {rid: body for rid, _, body in compiled.rules}
        hints = {rid: hint for rid, hint, _ in compiled.rules}
        final: dict[int, str] = {}
        pending = [rid for rid, _, _ in compiled.rules]
        progress = True
        while progress:  # leaves first: a rule whose references are all named can be compared and shared
            progress = False
            for rid in list(pending):
                if all(d in final for d in placeholders(bodies[rid])):
                    body = substitute(bodies[rid], final)
                    if rid != compiled.root and (body in self._rules or body in compiled.fragments):
                        final[rid] = body  # an alias: refer to the rule itself
                        pending.remove(rid)
                        progress = True
                        continue
                    shared = self._by_body.get(body) if (share_root or rid != compiled.root) else None
                    if shared is None:
                        wanted = ns if rid == compiled.root or not hints[rid] else f"{ns}-{hints[rid]}"
                        shared = self._put(self._fresh(wanted), body)
                    final[rid] = shared
                    pending.remove(rid)
                    progress = True
        for rid in pending:  # recursive rules: name them all, then write their bodies
            wanted = ns if rid == compiled.root or not hints[rid] else f"{ns}-{hints[rid]}"
            final[rid] = self._fresh(wanted)
            self._rules[final[rid]] = ""
        for rid in pending:
            self._put(final[rid], substitute(bodies[rid], final))
        return final[compiled.root]


def _canonical(schema: object) -> str:
    try:
        return json.dumps(schema, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise UnsupportedSchema("", f"schema is not plain JSON: {exc}") from exc
    except RecursionError as exc:
        raise UnsupportedSchema("", "schema nesting is too deep") from exc


@lru_cache(maxsize=512)
def _compile_cached(canonical: str) -> CompiledSchema:
    return compile_schema(json.loads(canonical))


@lru_cache(maxsize=512)
def _schema_to_gbnf_cached(canonical: str, root: str) -> str:
    builder = GrammarBuilder()
    name = builder._merge(_compile_cached(canonical), _sanitize(root), share_root=False)
    return builder.build(name, root=name)


def schema_to_gbnf(schema: dict | bool, *, root: str = "root") -> str:
    """The complete GBNF grammar (root rule ``root``) of the JSON values ``schema`` admits."""
    if _sanitize(root) != root:
        raise ValueError(f"root rule name must match [a-z0-9-]+, got {root!r}")
    return _schema_to_gbnf_cached(_canonical(schema), root)
