"""Counts beyond llama.cpp's repetition limit (2000): a larger upper bound would silently become unbounded
(unsound) and a larger lower bound would not parse, so the compiler splits them into exact nested blocks."""

from __future__ import annotations

import json

import pytest

from tests.grammar.oracle import Oracle
from toolproxy.grammar import schema_to_gbnf


@pytest.mark.parametrize(
    ("schema", "make", "good", "bad"),
    [
        ({"type": "string", "maxLength": 5000}, lambda n: "a" * n, [0, 1999, 2000, 4001, 5000], [5001, 6000]),
        ({"type": "string", "minLength": 3000}, lambda n: "a" * n, [3000, 3001], [0, 2999]),
        ({"type": "string", "minLength": 2500, "maxLength": 4100}, lambda n: "é" * n, [2500, 4100], [2499, 4101]),
        ({"type": "array", "items": {"type": "integer"}, "minItems": 2100}, lambda n: [1] * n, [2100], [2099]),
        ({"type": "array", "maxItems": 2600}, lambda n: [0] * n, [0, 2600], [2601]),
    ],
)
def test_large_counts_are_exact(oracle: Oracle, schema: dict[str, object], make, good: list[int],
                                bad: list[int]) -> None:  # type: ignore[no-untyped-def]
    gbnf = schema_to_gbnf(schema)
    with oracle.grammar(gbnf) as grammar:  # type: ignore[union-attr]
        assert grammar is not None, "grammar did not parse in llama.cpp"
    for n in good:
        assert oracle.accepts(gbnf, json.dumps(make(n), separators=(",", ":"), ensure_ascii=False)), n
    for n in bad:
        assert not oracle.accepts(gbnf, json.dumps(make(n), separators=(",", ":"), ensure_ascii=False)), n
