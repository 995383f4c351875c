"""Gemma 4's encoding (toolproxy/styles/gemma4.py): the grammar follows each argument's schema in that
encoding, on llama.cpp's own grammar engine; the history writer and the scanner agree."""

from __future__ import annotations

import json

from tests.grammar.oracle import Oracle
from toolproxy.parsing import parse_text
from toolproxy.styles import get_style
from toolproxy.styles.base import CallPolicy, ToolSpec
from toolproxy.styles.common import Call
from toolproxy.styles.gemma4 import Gemma4

TOOL = ToolSpec("f", "", {"type": "object", "properties": {
    "s": {"type": "string"}, "n": {"type": "integer"}, "on": {"type": "boolean"},
    "tags": {"type": "array", "items": {"type": "string"}}}, "required": ["s", "n"]})
Q = '<|"|>'


def test_grammar_follows_the_schema_in_gemmas_encoding(oracle: Oracle) -> None:
    style = get_style("gemma4")
    grammar = oracle.grammar(style.grammar([TOOL], CallPolicy("required")) or "")
    assert grammar is not None
    with grammar:
        ok = f"<|tool_call>call:f{{n:3,s:{Q}a {{b}} < c{Q}}}<tool_call|>"
        assert grammar.accepts(ok)
        assert grammar.accepts(f"<|tool_call>call:f{{n:-1,on:true,s:{Q}x{Q},tags:[{Q}a{Q},{Q}b{Q}]}}<tool_call|>")
        assert not grammar.accepts(f"<|tool_call>call:f{{n:{Q}3{Q},s:{Q}a{Q}}}<tool_call|>")  # a string for n
        assert not grammar.accepts(f"<|tool_call>call:f{{s:{Q}a{Q}}}<tool_call|>")  # n is required
        assert not grammar.accepts(f"<|tool_call>call:f{{s:{Q}a{Q},n:3}}<tool_call|>")  # keys are sorted
        assert not grammar.accepts(f"<|tool_call>call:f{{n:3,s:{Q}a{Q}}}")  # the call is closed
        assert not grammar.accepts("It is sunny.")


def test_history_is_what_the_scanner_reads() -> None:
    style = Gemma4()
    args = {"s": 'say "hi"\n{x}', "n": 2, "tags": ["a"], "on": False}
    text = style.calls_text([Call("f", args), Call("f", {"s": "b", "n": 1})])
    assert text.startswith(f"<|tool_call>call:f{{n:2,on:false,s:{Q}")
    message = parse_text(style.output_format([TOOL]), text + "<|tool_response>")
    assert [(c.name, json.loads(c.arguments)) for c in message.calls] == [("f", args), ("f", {"s": "b", "n": 1})]
    assert not message.content
