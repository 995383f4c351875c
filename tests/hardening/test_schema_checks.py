"""The static checks behind the limits: regex backtracking, ``$ref`` loops, grammar nesting, keyword types."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from toolproxy.grammar.gbnf import nesting as grammar_nesting
from toolproxy.limits import _keyword_problem
from toolproxy.ref_cycles import find_ref_cycle
from toolproxy.regex_safety import unsafe_reason

UNSAFE = ["(a+)+$", "^(a*)*b$", "^(a|a)*$", "^(a|aa)+$", "^(\\w+\\s?)*$", "((a+)|b)+", "(a{2,3})+", "(a+b?)+$",
          "^(([a-z])+.)+[A-Z]([a-z])+$", "(x+x+)+y"]
SAFE = ["^[a-z]+$", "^(\\w|-)+$", "^(\\d{3}-)*\\d{4}$", "(.|\\n)*", "^(foo|bar)+$", "^[A-Z][a-z]*( [A-Z][a-z]*)*$",
        "^\\d{4}-\\d{2}-\\d{2}$", "^([a-z0-9]+(-[a-z0-9]+)*\\.)+[a-z]{2,}$", "(ab+)+", "^\\+?[0-9 ()-]{7,20}$",
        "^[^@\\s]+@[^@\\s]+\\.[a-z]{2,}$", "\\p{L}+", "(unclosed"]


@pytest.mark.parametrize("pattern", UNSAFE)
def test_unsafe_patterns_are_spotted(pattern: str) -> None:
    assert unsafe_reason(pattern)


@pytest.mark.parametrize(("pattern", "n"), [("(a+)+$", 22), ("^(a*)*b$", 22), ("^(a|a)*$", 20),
                                            ("^(a|aa)+$", 34), ("^(\\w+\\s?)*$", 22)])
def test_the_spotted_ones_really_explode(pattern: str, n: int) -> None:
    """Each backtracks noticeably on a few dozen characters already (the check is not paranoia)."""
    started = time.perf_counter()
    re.search(pattern, "a" * n + "!")
    assert time.perf_counter() - started > 0.01


@pytest.mark.parametrize("pattern", SAFE)
def test_ordinary_patterns_pass(pattern: str) -> None:
    assert unsafe_reason(pattern) is None


@pytest.mark.parametrize(("schema", "loop"), [
    ({"$ref": "#"}, ""),
    ({"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"}, "/$defs/a"),
    ({"properties": {"x": {"$ref": "#/properties/x"}}}, "/properties/x"),
    ({"anyOf": [{"type": "null"}, {"$ref": "#"}]}, ""),
    ({"allOf": [{"not": {"$ref": "#"}}]}, ""),
    ({"$defs": {"n": {"$anchor": "node", "oneOf": [{"$ref": "#node"}]}}, "$ref": "#/$defs/n"}, "/$defs/n"),
])
def test_ref_loops_without_input_are_found(schema: dict[str, Any], loop: str) -> None:
    assert find_ref_cycle(schema) == loop


@pytest.mark.parametrize("schema", [
    {"type": "object", "properties": {"kids": {"type": "array", "items": {"$ref": "#"}}}},
    {"$defs": {"s": {"type": "string"}}, "properties": {"a": {"$ref": "#/$defs/s"}, "b": {"$ref": "#/$defs/s"}}},
    {"$defs": {"list": {"anyOf": [{"type": "null"},
                                  {"type": "object", "properties": {"next": {"$ref": "#/$defs/list"}}}]}},
     "$ref": "#/$defs/list"},
    {"properties": {"a": {"$ref": "http://example.invalid/x.json"}}},
    {"type": "string"},
])
def test_recursion_that_consumes_input_is_fine(schema: dict[str, Any]) -> None:
    assert find_ref_cycle(schema) is None


def test_grammar_nesting_skips_literals_classes_and_comments() -> None:
    assert grammar_nesting('root ::= (("a") | [()] "(\\"(" ) # ((((\nx ::= (((y)))') == 3
    assert grammar_nesting("root ::= " + "(" * 1000 + '"a"' + ")" * 1000) == 1000
    assert grammar_nesting("root ::= " + "(" * 100_000, stop_above=256) == 257


@pytest.mark.parametrize(("node", "bad"), [
    ({"type": 5}, True), ({"type": []}, True), ({"type": "dict"}, False), ({"type": ["string", "null"]}, False),
    ({"required": 12345}, True), ({"required": True}, True), ({"required": ["a"]}, False),
    ({"enum": "abc"}, True), ({"properties": []}, True), ({"properties": {"a": 1}}, True),
    ({"properties": {"a": {}}}, False), ({"anyOf": []}, True), ({"items": "x"}, True),
    ({"items": [{"type": "string"}]}, False), ({"minLength": -1}, True), ({"minLength": True}, True),
    ({"maximum": "9"}, True), ({"multipleOf": 0}, True), ({"exclusiveMinimum": True}, False),
    ({"pattern": 5}, True), ({"$ref": ["#"]}, True), ({"uniqueItems": "yes"}, True),
    ({"dependentRequired": {"a": "b"}}, True), ({"not": 5}, True), ({"additionalProperties": False}, False),
])
def test_keyword_types(node: dict[str, Any], bad: bool) -> None:
    assert bool(_keyword_problem(node)) is bad
