"""pythonic with parameter names Python cannot write as keywords (``from``, ``class``, ``max-size``, ``2d``):
each is written ``**{"from": ...}``, which the grammar admits, the scanner parses back to the right JSON
arguments, and the history writer produces (issue 14)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.grammar.oracle import Oracle
from toolproxy.parsing import parse_text
from toolproxy.parsing.pythonic import PythonCallError, call_from_source
from toolproxy.styles import get_style
from toolproxy.styles.base import CallPolicy, ToolSpec
from toolproxy.styles.pyliteral import python_call

BOOK = ToolSpec("book_trip", "Book a trip", {
    "type": "object",
    "properties": {
        "from": {"type": "string"},
        "to": {"type": "string"},
        "max-stops": {"type": "integer"},
        "class": {"type": "string", "enum": ["economy", "business"]},
    },
    "required": ["from", "to"],
})


def _calls(text: str) -> list[tuple[str, dict[str, Any]]]:
    parsed = parse_text(get_style("pythonic").output_format([BOOK]), text)
    assert not parsed.failures, parsed.failures
    return [(c.name, json.loads(c.arguments)) for c in parsed.calls]


@pytest.mark.parametrize(("text", "arguments"), [
    ('[book_trip(**{"from": "Paris"}, to="Rome")]', {"from": "Paris", "to": "Rome"}),
    ('[book_trip(**{"from": "Paris"}, to="Rome", **{"max-stops": 1}, **{"class": "business"})]',
     {"from": "Paris", "to": "Rome", "max-stops": 1, "class": "business"}),
    ("[book_trip(**{\"from\": 'Paris'}, to='Rome', **{\"class\": \"economy\"})]",
     {"from": "Paris", "to": "Rome", "class": "economy"}),
])
def test_grammar_admits_and_scanner_parses_keyword_parameters(oracle: Oracle, text: str,
                                                             arguments: dict[str, Any]) -> None:
    gbnf = get_style("pythonic").grammar([BOOK], CallPolicy("required"))
    assert gbnf is not None
    assert oracle.accepts(gbnf, text), text
    assert _calls(text) == [("book_trip", arguments)]


def test_grammar_refuses_what_python_cannot_parse(oracle: Oracle) -> None:
    gbnf = get_style("pythonic").grammar([BOOK], CallPolicy("required"))
    assert gbnf is not None
    with oracle.grammar(gbnf) as grammar:  # type: ignore[union-attr]
        assert not grammar.accepts('[book_trip(from="Paris", to="Rome")]')  # a SyntaxError in Python
        assert not grammar.accepts('[book_trip(**{"to": "Paris"}, to="Rome")]')  # only the names that need it
        assert not grammar.accepts('[book_trip(to="Rome")]')  # "from" is required
        assert grammar.accepts('[book_trip(**{"from": "Paris"}, to="Rome")]')


def test_history_writes_the_same_spelling(oracle: Oracle) -> None:
    source = python_call("book_trip", {"from": "Paris", "to": "Rome", "class": "economy"})
    assert source == 'book_trip(**{"from": "Paris"}, to="Rome", **{"class": "economy"})'
    gbnf = get_style("pythonic").grammar([BOOK], CallPolicy("required"))
    assert gbnf is not None and oracle.accepts(gbnf, f"[{source}]")
    assert call_from_source(source) == ("book_trip", '{"from":"Paris","to":"Rome","class":"economy"}')


@pytest.mark.parametrize("source", [
    "f(**kwargs)",  # a name, not a literal
    'f(**{"a": 1}, a=2)',  # the same argument twice
    'f(**{"a": 1}, **{"a": 2})',
    "f(**{1: 2})",  # keys must be strings
    'f(**{"a": x})',  # values must be literals
])
def test_the_scanner_still_refuses_what_is_not_a_literal_call(source: str) -> None:
    with pytest.raises(PythonCallError):
        call_from_source(source)


def test_relaxed_tools_admit_the_spelling_too(oracle: Oracle) -> None:
    """A tool relaxed to any keyword arguments (its schema is beyond the Python-literal grammar) can still be
    given a ``from`` argument."""
    gbnf = get_style("pythonic").grammar([ToolSpec("f", "", {"type": "object"})], CallPolicy("required"))
    assert gbnf is not None
    text = '[f(**{"from": "x"}, b=2)]'
    assert oracle.accepts(gbnf, text)
    parsed = parse_text(get_style("pythonic").output_format([]), text)
    assert [(c.name, json.loads(c.arguments)) for c in parsed.calls] == [("f", {"from": "x", "b": 2})]
