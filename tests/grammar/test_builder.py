"""GrammarBuilder and the public API: naming, sharing, determinism, fragments, CLI, refusals."""

from __future__ import annotations

import io
import json
import sys

import pytest

from tests.grammar.oracle import Oracle
from toolproxy.errors import UnsupportedSchema
from toolproxy.grammar import GrammarBuilder, gbnf_literal, schema_to_gbnf
from toolproxy.grammar.cli import main as cli_main

WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1, "maximum": 7}},
    "required": ["city"],
}


def test_literal_escapes(oracle: Oracle) -> None:
    text = 'a "quoted" \\ back\nslash\t\x01 é'
    g = f"root ::= {gbnf_literal(text)}\n"
    assert oracle.accepts(g, text) is True
    assert oracle.accepts(g, text + "x") is False


def test_schema_to_gbnf_equals_builder() -> None:
    b = GrammarBuilder()
    name = b.add_schema(WEATHER, "root")
    assert b.build(name) == schema_to_gbnf(WEATHER)


def test_deterministic_and_sorted() -> None:
    first = schema_to_gbnf(WEATHER)
    again = schema_to_gbnf(json.loads(json.dumps(WEATHER)))
    assert first == again
    names = [line.split(" ::= ")[0] for line in first.splitlines()]
    assert names[0] == "root" and names[1:] == sorted(names[1:])


def test_identical_rules_shared_and_namespaced(oracle: Oracle) -> None:
    b = GrammarBuilder()
    a = b.add_schema(WEATHER, "get_weather")
    c = b.add_schema(WEATHER, "Other Tool!")
    assert a == "get-weather" and c == a  # identical schema: one rule
    d = b.add_schema({"type": "object", "properties": {"n": {"type": "integer", "maximum": 3}}}, "Other Tool!")
    assert d.startswith("other-tool")
    ws = b.fragment("ws")
    call = b.add_rule("call", f'"<tool_call>" {ws} ( {a} | {d} ) {ws} "</tool_call>"')
    grammar = b.build(call)
    assert oracle.accepts(grammar, '<tool_call>{"city": "Paris", "days": 3}</tool_call>') is True
    assert oracle.accepts(grammar, '<tool_call>{"n": 4}</tool_call>') is False


def test_fragments_parse(oracle: Oracle) -> None:
    b = GrammarBuilder()
    for name in ("ws", "value", "string", "string-char", "object", "number", "integer"):
        assert b.fragment(name) == name
    grammar = b.build("value")
    assert oracle.accepts(grammar, '{"a": [1, 2.5e3, "x\\u00e9", null, true]}') is True
    assert oracle.accepts(grammar, '{"a": }') is False
    with pytest.raises(KeyError):
        b.fragment("no-such-fragment")


def test_add_rule_dedup() -> None:
    b = GrammarBuilder()
    assert b.add_rule("x", '"a"') == "x"
    assert b.add_rule("y", '"a"') == "x"
    assert b.add_rule("x", '"b"') == "x-2"


def test_type_specific_keywords_do_not_constrain_other_types(oracle: Oracle) -> None:
    grammar = schema_to_gbnf({"maxLength": 2})
    for text in ("1", "null", "[]", '"ab"'):
        assert oracle.accepts(grammar, text) is True
    assert oracle.accepts(grammar, '"abc"') is False


def test_bounded_whitespace(oracle: Oracle) -> None:
    grammar = schema_to_gbnf({"type": "array", "items": {"type": "integer"}})
    assert oracle.accepts(grammar, "[1,\n  2]") is True
    assert oracle.accepts(grammar, "[1," + " " * 50 + "2]") is False


def test_remote_ref_refused() -> None:
    with pytest.raises(UnsupportedSchema) as err:
        schema_to_gbnf({"$ref": "https://example.com/schema.json"})
    assert err.value.pointer == "/$ref"


def test_hostile_schemas_are_fast() -> None:
    deep: dict = {"type": "integer"}
    for _ in range(1000):
        deep = {"type": "array", "items": deep}
    with pytest.raises(UnsupportedSchema):
        schema_to_gbnf(deep)
    big = schema_to_gbnf({"enum": list(range(10000))})
    assert '"9999"' in big


def test_cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(WEATHER)))
    assert cli_main(["-"]) == 0
    assert capsys.readouterr().out == schema_to_gbnf(WEATHER)
    monkeypatch.setattr(sys, "stdin", io.StringIO("{not json"))
    assert cli_main(["-"]) == 2
    monkeypatch.setattr(sys, "stdin", io.StringIO('{"$ref": "http://x/y.json"}'))
    assert cli_main(["-"]) == 2
    assert "unsupported schema" in capsys.readouterr().err


def test_byte_identical_across_processes() -> None:
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    code = (
        "import json, pathlib, hashlib\n"
        "from toolproxy.grammar import schema_to_gbnf\n"
        "h = hashlib.sha256()\n"
        "for p in sorted(pathlib.Path('tests/grammar/golden/schemas').glob('*.json')):\n"
        "    h.update(schema_to_gbnf(json.loads(p.read_text())).encode())\n"
        "print(h.hexdigest())\n"
    )
    outs = {
        subprocess.run(
            [sys.executable, "-c", code],
            cwd=root,
            env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outs) == 1


def test_pattern_with_redundant_length(oracle: Oracle) -> None:
    grammar = schema_to_gbnf({"type": "string", "pattern": "^[A-Z]{3}$", "maxLength": 3})
    assert oracle.accepts(grammar, '"EUR"') is True
    assert oracle.accepts(grammar, '"EURO"') is False
    with pytest.raises(UnsupportedSchema) as err:  # the length really cuts the pattern: no intersection
        schema_to_gbnf({"type": "string", "pattern": "^[A-Z]+$", "maxLength": 3})
    assert err.value.pointer == "/pattern"


NESTED = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "where": {"type": "object", "properties": {"lat": {"type": "number"}}, "required": ["lat"]},
        "extra": {},
        "unit": {"enum": [{"a": 1, "b": [2]}, "c"]},
    },
    "required": ["city", "tags", "where", "extra", "unit"],
}
NESTED_VALUE = {"city": "Paris", "tags": ["a", "b"], "where": {"lat": 1.5}, "extra": {"k": [1, {"z": None}]},
                "unit": {"a": 1, "b": [2]}}


def test_dumps_layout_admits_exactly_what_json_dumps_writes(oracle: Oracle) -> None:
    free, dumps = GrammarBuilder(), GrammarBuilder("dumps")
    grammars = {name: b.build(b.add_schema(NESTED, "args")) for name, b in (("free", free), ("dumps", dumps))}
    spaced = json.dumps(NESTED_VALUE)
    compact = json.dumps(NESTED_VALUE, separators=(",", ":"))
    pretty = json.dumps(NESTED_VALUE, indent=2)
    assert oracle.accepts(grammars["dumps"], spaced) is True
    assert oracle.accepts(grammars["dumps"], compact) is False
    assert oracle.accepts(grammars["dumps"], pretty) is False
    assert oracle.accepts(grammars["dumps"], spaced.replace(": ", ":", 1)) is False
    for text in (spaced, compact, pretty):
        assert oracle.accepts(grammars["free"], text) is True
    assert "jws" not in grammars["free"] + grammars["dumps"]  # the layout is written in place of its rules
