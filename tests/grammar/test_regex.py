"""``pattern_to_gbnf`` judged by llama.cpp's own grammar engine.

Soundness is absolute: every admitted JSON-encoded text must decode to a string the pattern matches.
Completeness: the compact encodings (``ensure_ascii`` on and off) of matching strings are admitted.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.grammar.oracle import Oracle
from toolproxy.errors import UnsupportedSchema
from toolproxy.grammar.regex import pattern_to_gbnf, regex_to_gbnf_anchored


def wrap(expr: str) -> str:
    """A grammar whose root is one JSON string with ``expr`` as its content."""
    return f'root ::= "\\"" {expr} "\\""\n'


def accepts_string(oracle: Oracle, expr: str, value: str, *, ensure_ascii: bool = False) -> bool:
    """Does the wrapped expression accept ``value`` JSON-encoded (compact, as ``json.dumps`` writes it)?"""
    accepted = oracle.accepts(wrap(expr), json.dumps(value, ensure_ascii=ensure_ascii))
    if accepted is None:
        raise AssertionError(f"llama.cpp could not parse the grammar: {expr[:300]}")
    return accepted


def suite_cases(shared: Path) -> Iterator[tuple[str, str, bool]]:
    """(pattern, string, matches) triples from the suite groups that use ``pattern``/``patternProperties``."""
    root = shared / "jsonschema-test-suite" / "draft2020-12"
    for name in ("pattern.json", "patternProperties.json", "propertyNames.json", "optional/ecmascript-regex.json",
                 "optional/non-bmp-regex.json"):
        for group in json.loads((root / name).read_text()):
            yield from _group_cases(group["schema"], group["tests"])


def _group_cases(schema: dict[str, Any], tests: list[dict[str, Any]]) -> Iterator[tuple[str, str, bool]]:
    if isinstance(schema.get("pattern"), str):
        for t in tests:
            if isinstance(t["data"], str):
                yield schema["pattern"], t["data"], t["valid"]
    names = schema.get("propertyNames")
    key_patterns: list[str] = []
    if isinstance(names, dict) and "pattern" in names:
        key_patterns = [names["pattern"]]
    elif schema.get("additionalProperties") is False and set(schema.get("patternProperties", {}).values()) == {True}:
        key_patterns = list(schema["patternProperties"])
    if len(key_patterns) == 1:  # key valid iff it matches; a single-key instance decides it
        for t in tests:
            if isinstance(t["data"], dict) and (len(t["data"]) == 1 or t["valid"]):
                for key in t["data"]:
                    yield key_patterns[0], key, t["valid"]


def test_suite_patterns(oracle: Oracle, shared: Path) -> None:
    cases = list(suite_cases(shared))
    assert len(cases) >= 60
    unsound, missed = [], []
    for pattern, value, valid in cases:
        expr = pattern_to_gbnf(pattern, pointer="#/pattern")
        for ensure_ascii in (False, True):
            accepted = accepts_string(oracle, expr, value, ensure_ascii=ensure_ascii)
            if accepted and not valid:
                unsound.append((pattern, value, ensure_ascii))
            # ``\\uXXXX`` forms of huge sets (Unicode properties) are left out: raw UTF-8 only
            if valid and not accepted and not (ensure_ascii and "\\p{" in pattern):
                missed.append((pattern, value, ensure_ascii))
    assert unsound == []
    assert missed == []


# (ECMA-262 pattern, equivalent Python pattern, extra alphabet for generated strings)
DIFFERENTIAL = [
    ("a+", "a+", "ab"),
    ("^a*$", r"^a*\Z", "ab"),
    ("^(ab|cd){2,3}$", r"^(ab|cd){2,3}\Z", "abcd"),
    ("f.*o", "f.*o", "fo\n"),
    ("^.{2}$", r"^[^\n\r\u2028\u2029]{2}\Z", "ab\n"),
    ("^[^a-c]+$", r"^[^a-c]+\Z", "abcd"),
    ("^\\d{2,}$", r"^[0-9]{2,}\Z", "0123"),
    ("\\w\\W", "[A-Za-z0-9_][^A-Za-z0-9_]", "a_-"),
    ('^["\\\\/]+$', r'^["\\/]+\Z', "ab"),
    ("^\\x41\\u0042\\t$", "^AB\t\\Z", "AB"),
    ("^[\\u00e0-\\u00ff]{1,2}$", "^[\u00e0-\u00ff]{1,2}\\Z", "e"),
    ("^(?:x|y)?z$", r"^(?:x|y)?z\Z", "xyz"),
    ("^(?<year>\\d{4})-\\d\\d$", r"^(?P<year>[0-9]{4})-[0-9][0-9]\Z", "19-"),
    ("^a|b$", r"^a|b\Z", "abc"),
    ("^(a|b$)c?", r"^(a|bc?\Z|b\Z)c?", "abc"),
    ("ab?c*?$", r"ab?c*?\Z", "abc"),
    ("\\bfoo\\b", r"\bfoo\b", "fo "),
    ("\\Bfoo", r"\Bfoo", "fo "),
    ("^\\p{Lu}\\p{Ll}+$", r"^[A-ZÉ][a-zé]+\Z", "AaÉé"),  # raw UTF-8 only, see DIFFERENTIAL_RAW_ONLY
    ("^[\\s\\S]$", r"^[\s\S]\Z", "a"),
    ("^\\cJ$", "^\n\\Z", "J"),
    ("^[\\w.-]+@[\\w-]+(\\.[\\w-]+)+$", r"^[A-Za-z0-9_.-]+@[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+\Z", "a@.-"),
    ("a{0}b", "b", "ab"),
    ("^(a|)*b$", r"^(a|)*b\Z", "ab"),  # nullable repetitions (llama.cpp calls them left recursion)
    ("^(a?b?){2,}$", r"^(a?b?){2,}\Z", "abc"),
    ("^((a|)(b|c*))*$", r"^((a|)(b|c*))*\Z", "abc"),
    ("^[]a|b[^]$", r"^(?!)a|b[\s\S]\Z", "ab"),
    ("^\u00e9\U0001f432?$", "^\u00e9\U0001f432?\\Z", "\u00e9\U0001f432"),
]
DIFFERENTIAL_RAW_ONLY = {"^\\p{Lu}\\p{Ll}+$"}
SPECIALS = ['"', "\\", "\n", "\t", " ", "/", "\u00e9", "\U0001f432", "\u2028", "\x01", "x"]


@pytest.mark.parametrize(("ecma", "python", "alphabet"), DIFFERENTIAL, ids=[d[0] for d in DIFFERENTIAL])
def test_differential_against_python_re(oracle: Oracle, ecma: str, python: str, alphabet: str) -> None:
    rng = random.Random(ecma)
    chars = list(alphabet) + SPECIALS
    samples = {"".join(rng.choice(chars) for _ in range(rng.randint(0, 7))) for _ in range(60)}
    samples |= {"".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6))) for _ in range(60)}
    expr = pattern_to_gbnf(ecma, pointer="#")
    wrong = []
    for value in sorted(samples):
        expected = re.search(python, value) is not None
        for ensure_ascii in (False, True):
            if ensure_ascii and expected and ecma in DIFFERENTIAL_RAW_ONLY:
                continue
            if accepts_string(oracle, expr, value, ensure_ascii=ensure_ascii) != expected:
                wrong.append((value, ensure_ascii, expected))
    assert wrong == []


@pytest.mark.parametrize(
    ("pattern", "text", "accepted"),
    [
        ("^a$", r"\u0061", False),  # exotic encodings of ordinary characters are left out (sound subset)
        ("^/$", r"\/", True),
        ("^\\n$", r"\u000A", True),
        ("^\\n$", r"\n", True),
        ("^\U0001f432$", r"\ud83d\udc32", True),
        ("^\U0001f432$", r"\uD83D\uDC32", True),
        ("^[^a]{2}$", r"\ud83d\udc32", False),  # one character, not two: surrogates never split
        ("^.$", r"\ud83d", False),
        ("", r"\ud83d", True),  # padding admits anything JSON admits
        ("^\\x00$", r"\u0000", True),
    ],
)
def test_encodings(oracle: Oracle, pattern: str, text: str, accepted: bool) -> None:
    assert oracle.accepts(wrap(pattern_to_gbnf(pattern, pointer="#")), f'"{text}"') is accepted


def test_large_repetitions_stay_exact(oracle: Oracle) -> None:
    expr = pattern_to_gbnf("^.{0,3000}$", pointer="#")
    assert accepts_string(oracle, expr, "x" * 3000)
    assert not accepts_string(oracle, expr, "x" * 3001)
    expr = pattern_to_gbnf('^(?:"a){0,2500}$', pointer="#")
    assert accepts_string(oracle, expr, '"a' * 2500)
    assert not accepts_string(oracle, expr, '"a' * 2501)
    expr = pattern_to_gbnf("^(ab){2100}c{5,}$", pointer="#")
    assert accepts_string(oracle, expr, "ab" * 2100 + "ccccc")
    assert not accepts_string(oracle, expr, "ab" * 2099 + "ccccc")
    assert not accepts_string(oracle, expr, "ab" * 2100 + "cccc")


def test_unsatisfiable_pattern_admits_nothing(oracle: Oracle) -> None:
    expr = pattern_to_gbnf("a^b", pointer="#")
    assert not accepts_string(oracle, expr, "")
    assert not accepts_string(oracle, expr, "ab")


def test_anchored_helper(oracle: Oracle) -> None:
    expr = regex_to_gbnf_anchored("a|bc", pointer="#")
    assert accepts_string(oracle, expr, "bc")
    assert not accepts_string(oracle, expr, "abc")


@pytest.mark.parametrize(
    "pattern",
    ["(a)\\1", "\\k<x>(?<x>a)", "a(?=b)", "(?!a)b", "(?<=a)b", "(?<!a)b", "\\p{Script=Latin}", "(^a)+",
     "\\b", "(\\ba)+", "a\\b.", "(", "a)", "[b-a]", "a**", "\\q", "[\\d-z]"],
)
def test_refused(pattern: str) -> None:
    with pytest.raises(UnsupportedSchema) as info:
        pattern_to_gbnf(pattern, pointer="#/properties/x/pattern")
    assert info.value.pointer == "#/properties/x/pattern"


def test_deterministic_and_readable() -> None:
    first = pattern_to_gbnf("^[a-z]{3}-\\d+$", pointer="#")
    assert first == pattern_to_gbnf("^[a-z]{3}-\\d+$", pointer="#")
    assert first == '[a-z]{3} "-" [0-9]+'
