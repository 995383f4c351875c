"""The free-text rule: any text that contains none of the markers, checked on llama.cpp's engine against
a brute-force oracle on random texts over the markers' own alphabet (where mistakes would hide)."""

from __future__ import annotations

import random

from tests.grammar.oracle import Oracle
from toolproxy.grammar import GrammarBuilder
from toolproxy.styles.grammar_kit import text_excluding

MARKERS = ["<tool_call>", "<|from|>assistant\n<|recipient|>", "<|stop|>", "aab"]


def test_text_excluding_matches_brute_force(oracle: Oracle) -> None:
    builder = GrammarBuilder()
    gbnf = builder.build(text_excluding(builder, "text", MARKERS))
    grammar = oracle.grammar(gbnf)
    assert grammar is not None
    rng = random.Random(7)
    pieces = [*MARKERS, "<", "|", "a", "b", "\n", "x", " ", "é", "<tool", "<|from|>", "aa"]
    texts = ["", "plain text", "a <tool_ca b", "aaab", "aaba", "<|stop|", "<<tool_call>"]
    texts += ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 6))) for _ in range(150)]
    with grammar:
        for text in texts:
            assert grammar.accepts(text) == (not any(m in text for m in MARKERS)), repr(text)
