"""``format_to_gbnf`` judged by llama.cpp's grammar engine: the suite's format tests, jsonschema's
format checkers on mutated strings (soundness), and hand-picked edge cases."""

from __future__ import annotations

import json
import random
from pathlib import Path

import jsonschema
import pytest

from tests.grammar.oracle import Oracle
from tests.grammar.test_regex import accepts_string
from toolproxy.grammar.formats import FORMATS, format_regex, format_to_gbnf


def format_dir(shared: Path) -> Path:
    return shared / "jsonschema-test-suite" / "draft2020-12" / "optional" / "format"


def suite_strings(shared: Path, fmt: str) -> list[tuple[str, bool]]:
    path = format_dir(shared) / f"{fmt}.json"
    if not path.exists():
        return []
    return [
        (t["data"], t["valid"])
        for group in json.loads(path.read_text())
        for t in group["tests"]
        if isinstance(t["data"], str)
    ]


# Sound subsets that knowingly miss these valid suite instances (documented in the support table).
EXPECTED_MISSES = {
    "idn-hostname": {  # everything non-ASCII and every Punycode A-label: IDNA rules are not modelled
        "\uc2e4\ub840.\ud14c\uc2a4\ud2b8", "xn--ihqwcrb4cv8a8dqg056pqjye", "\u00df\u03c2\u0f0b\u3007",
        "\u06fd\u06fe", "l\u00b7l", "\u03b1\u0375\u03b2", "\u05d0\u05f3\u05d1", "\u05d0\u05f4\u05d1",
        "\u30fb\u3041", "\u30fb\u30a1", "\u30fb\u4e08", "\u0628\u0660\u0628", "\u06f00",
        "\u0915\u094d\u200d\u0937", "\u0915\u094d\u200c\u0937", "\u0628\u064a\u200c\u0628\u064a",
    },
    "idn-email": {"\uc2e4\ub840@\uc2e4\ub840.\ud14c\uc2a4\ud2b8"},
}


def test_every_suite_format_is_known(shared: Path) -> None:
    names = {p.stem for p in format_dir(shared).glob("*.json")} - {"unknown", "ecmascript-regex"}
    assert names <= FORMATS


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_suite_format(oracle: Oracle, shared: Path, fmt: str) -> None:
    expr = format_to_gbnf(fmt, pointer="#/format")
    assert expr is not None
    unsound, missed = [], []
    for value, valid in suite_strings(shared, fmt):
        for ensure_ascii in (False, True):
            accepted = accepts_string(oracle, expr, value, ensure_ascii=ensure_ascii)
            if accepted and not valid:
                unsound.append((value, ensure_ascii))
            if valid and not accepted and value not in EXPECTED_MISSES.get(fmt, set()):
                missed.append((value, ensure_ascii))
    assert unsound == []
    assert missed == []


def test_unknown_format_is_annotation() -> None:
    assert format_to_gbnf("color-hex", pointer="#") is None
    assert format_regex("color-hex") is None


# jsonschema's draft 2020-12 checkers present in this environment (several need the optional packages of
# the ``test`` extra: rfc3339-validator, rfc3986-validator, fqdn, isoduration, uri-template).
CHECKER = jsonschema.Draft202012Validator.FORMAT_CHECKER
CHECKED = sorted(set(CHECKER.checkers) & FORMATS)


def checker_is_wrong(fmt: str, value: str) -> bool:
    """Known checker bugs where the suite and the RFCs disagree with jsonschema (we follow the RFC)."""
    if fmt == "relative-json-pointer":  # jsonschema rejects a 0 after any digit of the prefix ("10/a")
        prefix = value[: len(value) - len(value.lstrip("0123456789"))]
        return "0" in prefix[1:] and prefix[0] != "0"
    if fmt in ("time", "date-time"):  # rfc3339-validator rejects every leap second; the suite has them valid
        return ":60" in value
    return False
MUTATIONS = "0a9Z:.-/@#%~ \u00e9"


def _mutants(values: list[str], seed: str) -> list[str]:
    rng = random.Random(seed)
    out = set(values)
    for value in values:
        for _ in range(12):
            i = rng.randint(0, len(value))
            c = rng.choice(MUTATIONS)
            out |= {value[:i] + c + value[i:], value[:i] + value[i + 1 :], value[:i] + c + value[i + 1 :]}
    return sorted(out)


@pytest.mark.parametrize("fmt", CHECKED)
def test_sound_against_jsonschema_checker(oracle: Oracle, shared: Path, fmt: str) -> None:
    expr = format_to_gbnf(fmt, pointer="#")
    assert expr is not None
    seeds = [v for v, _ in suite_strings(shared, fmt)] + EXTRA.get(fmt, [])
    admitted_but_invalid = [
        v
        for v in _mutants(seeds, fmt)
        if accepts_string(oracle, expr, v) and not CHECKER.conforms(v, fmt) and not checker_is_wrong(fmt, v)
    ]
    assert admitted_but_invalid == []


EXTRA = {
    "date": ["2000-02-29", "1900-02-29", "2024-02-29", "2023-02-29", "2023-04-31", "2023-12-31"],
    "ipv6": ["::", "::1", "1::", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:1.2.3.4", "::ffff:10.0.0.1", "fe80::1%eth0"],
    "time": ["23:59:60Z", "05:44:60+05:45", "12:00:00.5-00:00"],
}


@pytest.mark.parametrize(
    ("fmt", "value", "valid"),
    [
        ("date", "2000-02-29", True),
        ("date", "2400-02-29", True),
        ("date", "1900-02-29", False),
        ("date", "2024-02-29", True),
        ("date", "2023-02-29", False),
        ("date", "2023-04-31", False),
        ("date", "2023-01-31", True),
        ("date-time", "2023-06-30T23:59:60Z", True),
        ("date-time", "2023-06-30t18:29:60.25-05:30", True),
        ("date-time", "2023-06-30T23:59:60+01:00", False),
        ("time", "05:44:60+05:45", True),
        ("duration", "P1Y2M3DT4H5M6S", True),
        ("duration", "PT", False),
        ("duration", "P1W2D", False),
        ("ipv6", "1:2:3:4:5:6:7::", True),
        ("ipv6", "1:2:3:4:5:6:7:8:9", False),
        ("ipv6", "::ffff:192.168.1.300", False),
        ("hostname", ".".join(["a" * 63] * 3 + ["b" * 61]), True),
        ("hostname", ".".join(["a" * 63] * 3 + ["b" * 62]), False),
        ("hostname", ".".join(["ab"] * 20), True),
        ("hostname", "a..b", False),
        ("email", "first.last+tag@sub.example.org", True),
        ("email", "a@b@c", False),
        ("uri", "https://user:pw@[::1]:8080/p/a%20t?q=1&r[]=2#f", False),
        ("uri", "https://user:pw@[::1]:8080/p/a%20t?q=1#f", True),
        ("uri-reference", "../x/y?z", True),
        ("uri-reference", "a b", False),
        ("json-pointer", "/a~1b/~0", True),
        ("json-pointer", "/a~2", False),
        ("relative-json-pointer", "0#", True),
        ("uri-template", "/users{/id}{?q,lang*}", True),
        ("uri-template", "/users{id", False),
        ("regex", "^[a-z]+(?:-[a-z]+)*$", True),
        ("regex", "a(b", False),
        ("uuid", "123e4567-E89B-12d3-a456-426614174000", True),
    ],
)
def test_edge_cases(oracle: Oracle, fmt: str, value: str, valid: bool) -> None:
    expr = format_to_gbnf(fmt, pointer="#")
    assert expr is not None
    assert accepts_string(oracle, expr, value) is valid
