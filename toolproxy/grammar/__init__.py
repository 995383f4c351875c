"""JSON Schema -> llama.cpp GBNF compiler (pure: no I/O besides the static fragments, imports only errors).

Public API::

    schema_to_gbnf(schema, root="root") -> str      # raises toolproxy.errors.UnsupportedSchema
    gbnf_literal(text) -> str                       # a GBNF string literal for exact text
    GrammarBuilder(layout="free")                   # compose several schemas + hand-written rules;
                                                    # layout "dumps": JSON whitespace as json.dumps writes it
"""

from __future__ import annotations

from toolproxy.grammar.builder import LAYOUTS, GrammarBuilder, Layout, gbnf_literal, schema_to_gbnf

__all__ = ["LAYOUTS", "GrammarBuilder", "Layout", "gbnf_literal", "schema_to_gbnf"]
