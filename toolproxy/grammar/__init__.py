"""JSON Schema -> llama.cpp GBNF compiler (pure: no I/O besides the static fragments, imports only errors).

Public API::

    schema_to_gbnf(schema, root="root") -> str      # raises toolproxy.errors.UnsupportedSchema
    gbnf_literal(text) -> str                       # a GBNF string literal for exact text
    GrammarBuilder                                  # compose several schemas + hand-written rules
"""

from __future__ import annotations

from toolproxy.grammar.builder import GrammarBuilder, gbnf_literal, schema_to_gbnf

__all__ = ["GrammarBuilder", "gbnf_literal", "schema_to_gbnf"]
