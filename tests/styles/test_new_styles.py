"""Issue 4 styles (llama3, mistral, functionary_v3.x, xlam, pythonic, generic, short, long): golden multi-turn
rendering, round trips (the canonical output of sample calls is admitted by the style's grammar in llama.cpp
and parses back to the same calls), plain content never becomes a call, Python-literal grammar soundness."""

from __future__ import annotations

import ast
import itertools
import json
import random
from typing import Any

import jsonschema
import pytest

from tests.grammar.oracle import Oracle
from tests.styles.test_rendering import CONVERSATION, WEATHER
from toolproxy.errors import UnsupportedSchema
from toolproxy.grammar import GrammarBuilder
from toolproxy.parsing import parse_text
from toolproxy.protocol import ChatMessage
from toolproxy.styles import get_style
from toolproxy.styles.base import CallPolicy, Style, ToolSpec
from toolproxy.styles.mistral import mistral_id
from toolproxy.styles.pyliteral import PyLiteralGrammar, python_literal

NEW_STYLES = [
    "llama3", "mistral", "mistral_v11",
    "functionary_v3.1", "functionary_v3.2", "xlam", "pythonic", "generic", "short", "long",
    "deepseek", "apriel",
]

RESULTS = [("user", "Weather in Paris and Rome?")]
TAIL = [("user", "Thanks!")]
GOLDEN: dict[str, list[tuple[str, str]]] = {
    "llama3": [
        *RESULTS,
        (
            "assistant",
            '{"name": "get_weather", "parameters": {"city": "Paris"}}\n'
            '<|python_tag|>{"name": "get_weather", "parameters": {"city": "Rome"}}',
        ),
        ("user", "21C\n25C"),
        ("assistant", "Paris 21C, Rome 25C."),
        *TAIL,
    ],
    "functionary_v3.1": [
        *RESULTS,
        (
            "assistant",
            '<function=get_weather>{"city": "Paris"}</function><function=get_weather>{"city": "Rome"}</function>',
        ),
        ("user", "21C\n25C"),
        ("assistant", "Paris 21C, Rome 25C."),
        *TAIL,
    ],
    "functionary_v3.2": [
        *RESULTS,
        ("assistant", '>>>get_weather\n{"city": "Paris"}>>>get_weather\n{"city": "Rome"}'),
        ("user", "21C\n25C"),
        ("assistant", ">>>all\nParis 21C, Rome 25C."),
        *TAIL,
    ],
    "xlam": [
        *RESULTS,
        (
            "assistant",
            '{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}, '
            '{"name": "get_weather", "arguments": {"city": "Rome"}}]}',
        ),
        ("user", '{"name": "get_weather", "results": "21C"}\n{"name": "get_weather", "results": "25C"}'),
        ("assistant", "Paris 21C, Rome 25C."),
        *TAIL,
    ],
    "pythonic": [
        *RESULTS,
        ("assistant", '[get_weather(city="Paris"), get_weather(city="Rome")]'),
        ("user", "[get_weather] -> 21C\n[get_weather] -> 25C"),
        ("assistant", "Paris 21C, Rome 25C."),
        *TAIL,
    ],
    "generic": [
        *RESULTS,
        (
            "assistant",
            '{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}, '
            '{"name": "get_weather", "arguments": {"city": "Rome"}}]}',
        ),
        (
            "user",
            '{"tool_result": {"name": "get_weather", "content": "21C"}}\n'
            '{"tool_result": {"name": "get_weather", "content": "25C"}}',
        ),
        ("assistant", '{"response": "Paris 21C, Rome 25C."}'),
        *TAIL,
    ],
}
GOLDEN["deepseek"] = [
    *RESULTS,
    (
        "assistant",
        '<|tool▁calls▁begin|><|tool▁call▁begin|>get_weather<|tool▁sep|>{"city": "Paris"}<|tool▁call▁end|>'
        '<|tool▁call▁begin|>get_weather<|tool▁sep|>{"city": "Rome"}<|tool▁call▁end|><|tool▁calls▁end|>'.replace(
            "|", "\uff5c"
        ),
    ),
    (
        "user",
        "<|tool▁output▁begin|>21C<|tool▁output▁end|><|tool▁output▁begin|>25C<|tool▁output▁end|>".replace("|", "\uff5c"),
    ),
    ("assistant", "Paris 21C, Rome 25C."),
    *TAIL,
]
GOLDEN["mistral_v11"] = [  # the first user turn (tools + system text + question) is checked below
    ("assistant", '[TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}[TOOL_CALLS]get_weather[ARGS]{"city": "Rome"}'),
    ("user", "[TOOL_RESULTS]21C[/TOOL_RESULTS][TOOL_RESULTS]25C[/TOOL_RESULTS]"),
    ("assistant", "Paris 21C, Rome 25C."),
    *TAIL,
]
GOLDEN["apriel"] = [
    *RESULTS,
    (
        "assistant",
        '<tool_calls>[{"name": "get_weather", "arguments": {"city": "Paris"}, "id": "c1"}, '
        '{"name": "get_weather", "arguments": {"city": "Rome"}, "id": "c2"}]</tool_calls>',
    ),
    ("user", "<tool_result>\n21C\n</tool_result>\n<tool_result>\n25C\n</tool_result>"),
    ("assistant", "Paris 21C, Rome 25C."),
    *TAIL,
]
for _inserts in ("short", "long"):
    GOLDEN[_inserts] = [
        *RESULTS,
        (
            "assistant",
            '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'
            '<tool_call>{"name": "get_weather", "arguments": {"city": "Rome"}}</tool_call>',
        ),
        (
            "user",
            '<tool_response>{"name": "get_weather", "content": "21C"}</tool_response>\n'
            '<tool_response>{"name": "get_weather", "content": "25C"}</tool_response>',
        ),
        ("assistant", "Paris 21C, Rome 25C."),
        *TAIL,
    ]


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_rendering(name: str) -> None:
    turns = get_style(name).prepare_messages(CONVERSATION, [WEATHER], CallPolicy("auto"))
    expected = GOLDEN[name]
    assert [(t["role"], t["content"]) for t in turns[-len(expected) :]] == expected
    assert turns[0]["role"] == ("user" if name == "mistral_v11" else "system")  # Mistral: no system role
    assert "get_weather" in turns[0]["content"] and "Be brief." in turns[0]["content"]
    assert {t["role"] for t in turns} <= {"system", "user", "assistant"}


def test_mistral_ids_and_alternation() -> None:
    turns = get_style("mistral").prepare_messages(CONVERSATION, [WEATHER], CallPolicy("auto"))
    roles = [t["role"] for t in turns]
    assert roles[0] == "user" and all(a != b for a, b in itertools.pairwise(roles))
    assert "[AVAILABLE_TOOLS]" in turns[0]["content"] and "Be brief." in turns[0]["content"]
    calls = json.loads(turns[-4]["content"].removeprefix("[TOOL_CALLS]"))
    ids = [c["id"] for c in calls]
    assert ids == [mistral_id("c1"), mistral_id("c2")]
    assert all(len(i) == 9 and i.isalnum() for i in ids) and ids[0] != ids[1]
    assert f'"call_id": "{ids[0]}"' in turns[-3]["content"] and f'"call_id": "{ids[1]}"' in turns[-3]["content"]
    assert mistral_id("abcDEF123") == "abcDEF123"


# ---------------------------------------------------------------------- round trips

MAIL = ToolSpec(
    "send_mail",
    "Send an e-mail",
    {
        "type": "object",
        "properties": {
            "to": {"type": "array", "items": {"type": "string"}},
            "urgent": {"type": "boolean"},
            "meta": {"type": "object", "properties": {"n": {"type": "integer"}, "x": {"type": ["number", "null"]}}},
        },
        "required": ["to"],
    },
)
TOOLS = [WEATHER, MAIL]
Calls = list[tuple[str, dict[str, Any]]]
SAMPLE_CALLS: list[Calls] = [
    [("get_weather", {"city": "Paris"})],
    [("get_weather", {"city": 'Zürich "old" \\ town', "unit": "c"})],
    [("send_mail", {"to": ["a@b.c", "d@e.f"], "urgent": True, "meta": {"n": -3, "x": None}})],
    [("get_weather", {"city": "Rome"}), ("send_mail", {"to": [], "meta": {"x": 2.5}})],
]


def seen(text: str) -> str:
    """Text as the oracle's gemma vocabulary sees it: SentencePiece reads U+2581 (DeepSeek's markers) as a
    space, so grammars and texts are compared with it replaced on both sides."""
    return text.replace("\u2581", " ")


def canonical(style: Style, calls: Calls, text: str = "") -> str:
    """The style's own output for an assistant turn (the last turn it renders), without the prefix."""
    assistant = ChatMessage(
        role="assistant",
        content=text or None,
        tool_calls=[
            {"id": f"call_{i}", "type": "function", "function": {"name": n, "arguments": json.dumps(a)}}
            for i, (n, a) in enumerate(calls)
        ],
    )
    turns = style.prepare_messages([ChatMessage(role="user", content="hi"), assistant], TOOLS, CallPolicy("auto"))
    return turns[-1]["content"][len(style.generation_prefix(TOOLS, CallPolicy("auto"))) :]


@pytest.mark.parametrize("name", NEW_STYLES)
def test_round_trip(oracle: Oracle, name: str) -> None:
    style = get_style(name)
    prefix = style.generation_prefix(TOOLS, CallPolicy("auto"))
    for policy in (CallPolicy("auto"), CallPolicy("required")):
        gbnf = style.grammar(TOOLS, policy)
        assert gbnf is not None
        with oracle.grammar(seen(gbnf)) as grammar:  # type: ignore[union-attr]
            for calls in SAMPLE_CALLS:
                output = canonical(style, calls)
                assert grammar.accepts(seen(output)), (policy, output)
                parsed = parse_text(style.output_format(TOOLS), prefix + output)
                got = [(c.name, json.loads(c.arguments)) for c in parsed.calls]
                assert got == calls and not parsed.failures and parsed.content is None


PLAIN_TEXTS = [
    "It is sunny today.",
    "Use {\"name\": \"get_weather\"} like this, or [get_weather(city='x')].",
    "a <tool_ca b < tool_call> and >> arrows and <function the end",
    "Zürich: 21°C\nline two",
]


@pytest.mark.parametrize("name", NEW_STYLES)
def test_plain_content_is_never_a_call(oracle: Oracle, name: str) -> None:
    """Every text answer the style's grammar admits (auto and none) parses to content, no call."""
    style = get_style(name)
    prefix = style.generation_prefix(TOOLS, CallPolicy("auto"))
    for policy in (CallPolicy("auto"), CallPolicy("none")):
        gbnf = style.grammar(TOOLS, policy)
        assert gbnf is not None
        with oracle.grammar(seen(gbnf)) as grammar:  # type: ignore[union-attr]
            admitted = 0
            for text in PLAIN_TEXTS:
                output = canonical(style, [], text)
                if not grammar.accepts(seen(output)):
                    continue
                admitted += 1
                parsed = parse_text(style.output_format(TOOLS), prefix + output)
                assert parsed.calls == [] and parsed.content == text, (name, output, parsed)
            assert admitted >= 3, name
            # text that would open a call is refused by the text-only grammar
            if policy.mode == "none":
                assert not grammar.accepts(seen(canonical(style, SAMPLE_CALLS[0])))
            else:  # a call needs the grammar's call syntax: the same call with a wrong argument type is refused
                assert not grammar.accepts(seen(canonical(style, [("get_weather", {"city": 5})])))


# ---------------------------------------------------------------------- Python literals


SCHEMAS: list[dict[str, Any]] = [
    {"type": "string"},
    {"type": "integer"},
    {"type": "number"},
    {"type": "boolean"},
    {"type": ["string", "null"]},
    {"enum": ["a", 1, None, True, [1, "x"], {"k": "v"}]},
    {"const": "exact \"q\""},
    {"type": "array", "items": {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}},
    {"type": "object", "additionalProperties": {"type": "number"}},
    {"anyOf": [{"type": "integer"}, {"type": "array", "items": {"type": "string"}}]},
    {},
]


def _sample(schema: Any, rng: random.Random, depth: int = 0) -> Any:
    if schema in (True, {}):
        return rng.choice(["s", 1, 2.5, None, True, ["x"], {"k": [1]}])
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return rng.choice(schema["enum"])
    if "anyOf" in schema:
        return _sample(rng.choice(schema["anyOf"]), rng, depth)
    kind = schema.get("type", "object")
    kind = rng.choice(kind) if isinstance(kind, list) else kind
    if kind == "string":
        return rng.choice(["", "plain", 'q"uote', "back\\slash", "tab\tnl\n", "ünï ✓", "it's"])
    if kind == "integer":
        return rng.choice([0, -7, 12345678901234])
    if kind == "number":
        return rng.choice([0, -1.5, 3.25e10, 1e-5])
    if kind == "boolean":
        return rng.choice([True, False])
    if kind == "null":
        return None
    if kind == "array":
        return [_sample(schema.get("items", {}), rng, depth + 1) for _ in range(rng.randint(0, 3 - depth))]
    properties = schema.get("properties")
    if properties:
        required = schema.get("required", [])
        return {k: _sample(v, rng, depth + 1) for k, v in properties.items() if k in required or rng.random() < 0.5}
    extra = schema.get("additionalProperties", {})
    return {f"k{i}": _sample(extra, rng, depth + 1) for i in range(rng.randint(0, 2))}


def test_python_literal_grammar_is_sound(oracle: Oracle) -> None:
    """Sampled valid values, written as Python literals: the grammar admits them, ast.literal_eval gives
    them back; and texts the grammar admits for one schema are refused for a mismatching one."""
    rng = random.Random(4)
    for i, schema in enumerate(SCHEMAS):
        b = GrammarBuilder()
        rule = PyLiteralGrammar(b).value(schema, f"v{i}", "")
        gbnf = b.build(rule)
        with oracle.grammar(gbnf) as grammar:  # type: ignore[union-attr]
            for _ in range(8):
                value = _sample(schema, rng)
                literal = python_literal(value)
                assert grammar.accepts(literal), (schema, literal)
                back = ast.literal_eval(literal)
                assert back == value
                jsonschema.validate(back, schema)
    b = GrammarBuilder()
    gbnf = b.build(PyLiteralGrammar(b).value({"type": "integer"}, "i", ""))
    for bad in ["1.5", '"1"', "01", "True", "1e5", "[1]"]:
        assert not oracle.accepts(gbnf, bad), bad
    b = GrammarBuilder()
    gbnf = b.build(PyLiteralGrammar(b).value({"type": "string"}, "s", ""))
    for bad in ["'x\"", '"a\\u0041"', '"a\nb"', '"unterminated', "'it's'"]:
        assert not oracle.accepts(gbnf, bad), bad
    for good in ["'single'", "'it\\'s'", '"it\'s"']:
        assert oracle.accepts(gbnf, good), good
        assert isinstance(ast.literal_eval(good), str)


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "properties": {"n": {"type": "integer", "minimum": 0}}},
        {"type": "object", "properties": {"s": {"type": "string", "pattern": "^a"}}},
        {"type": "object", "properties": {"r": {"$ref": "#/$defs/x"}}, "$defs": {"x": {}}},
    ],
)
def test_pythonic_refuses_what_it_cannot_express(schema: dict[str, Any]) -> None:
    """Schemas beyond the Python-literal grammar raise UnsupportedSchema: the service relaxes the tool."""
    with pytest.raises(UnsupportedSchema):
        get_style("pythonic").grammar([ToolSpec("f", "", schema)], CallPolicy("auto"))


def test_pythonic_relaxed_tool_admits_any_keywords(oracle: Oracle) -> None:
    style = get_style("pythonic")
    gbnf = style.grammar([ToolSpec("f", "", {"type": "object"})], CallPolicy("required"))
    assert gbnf is not None
    text = '[f(a=1, b_2=["x", {"k": None}], c=-2.5e3)]'
    assert oracle.accepts(gbnf, text)
    parsed = parse_text(style.output_format([]), text)
    assert [(c.name, json.loads(c.arguments)) for c in parsed.calls] == [
        ("f", {"a": 1, "b_2": ["x", {"k": None}], "c": -2500.0})
    ]


@pytest.mark.parametrize(("name", "call"), [("pythonic", '[get_weather(city="x")]'), ("xlam", '{"tool_calls": []}')])
def test_exotic_leading_whitespace_cannot_hide_a_call(oracle: Oracle, name: str, call: str) -> None:
    """The scanner strips any Unicode whitespace before looking for an anchored call: a text answer may not
    start with such whitespace followed by the call syntax."""
    gbnf = get_style(name).grammar(TOOLS, CallPolicy("none"))
    assert gbnf is not None
    with oracle.grammar(gbnf) as grammar:  # type: ignore[union-attr]
        for space in ("\u00a0", "\u2028", "\u3000", "\x0b"):
            assert not grammar.accepts(space + call), repr(space)
        assert grammar.accepts("Answer: " + call)
