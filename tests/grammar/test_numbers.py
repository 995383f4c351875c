"""Numeric constraints are exact on plain decimal texts: checked against Fraction arithmetic."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest

from tests.grammar.oracle import Oracle
from toolproxy.grammar import schema_to_gbnf

SCHEMAS = [
    {"type": "integer", "minimum": -5, "maximum": 120},
    {"type": "integer", "exclusiveMinimum": 0, "multipleOf": 3},
    {"type": "integer", "minimum": 10, "maximum": 1000, "multipleOf": 7},
    {"type": "number", "minimum": 1.1, "exclusiveMaximum": 2.25},
    {"type": "number", "multipleOf": 0.01, "minimum": 0},
    {"type": "number", "exclusiveMinimum": -0.5, "maximum": 0.5, "multipleOf": 0.25},
    {"type": "number", "not": {"type": "integer"}, "maximum": 3},
    {"type": "integer", "not": {"enum": [0, 7]}, "minimum": -3, "maximum": 9},
]


def _texts(rng: random.Random) -> list[str]:
    out = ["0", "-0", "1", "-1", "0.5", "1.0", "1.10", "2.25", "2.250", "-0.5", "0.25", "007", "1e2", "3."]
    for _ in range(120):
        ip = str(rng.choice([0, rng.randint(0, 20), rng.randint(0, 2000)]))
        text = ("-" if rng.random() < 0.3 else "") + ip
        if rng.random() < 0.5:
            text += "." + "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 3)))
        out.append(text)
    return out


def _valid(schema: dict, x: Fraction) -> bool:
    if schema["type"] == "integer" and x.denominator != 1:
        return False
    if "not" in schema:
        n = schema["not"]
        if n.get("type") == "integer" and x.denominator == 1:
            return False
        if x in [Fraction(v) for v in n.get("enum", [])]:
            return False
    checks = [
        ("minimum", lambda b: x >= b),
        ("maximum", lambda b: x <= b),
        ("exclusiveMinimum", lambda b: x > b),
        ("exclusiveMaximum", lambda b: x < b),
        ("multipleOf", lambda b: (x / b).denominator == 1),
    ]
    return all(fn(Fraction(str(schema[k]))) for k, fn in checks if k in schema)


def _canonical_decimal(text: str) -> bool:
    body = text.removeprefix("-")
    ip = body.split(".")[0]
    return (
        body.replace(".", "", 1).isdigit()
        and not text.endswith(".")
        and (ip == "0" or not ip.startswith("0"))
        and text != "-0"
    )


@pytest.mark.parametrize("schema", SCHEMAS, ids=[str(i) for i in range(len(SCHEMAS))])
def test_numbers_exact(oracle: Oracle, schema: dict) -> None:
    grammar = oracle.grammar(schema_to_gbnf(schema))
    assert grammar is not None
    rng = random.Random(42)
    with grammar:
        for text in _texts(rng):
            accepted = grammar.accepts(text)
            if not _canonical_decimal(text):
                if accepted:  # only "-0.x"-like spellings of valid values may pass
                    assert _valid(schema, Fraction(text)), text
                continue
            expected = _valid(schema, Fraction(text))
            if schema["type"] == "integer" and "." in text:
                expected = False  # integers are written without a fraction (sound subset)
            assert accepted == expected, (schema, text)
