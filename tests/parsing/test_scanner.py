"""The scanner on hand-written formats: markers split across chunks, think blocks, failures kept as
text, truncation, lenient inputs, and the pythonic body."""

from __future__ import annotations

import json
import random

import pytest

from tests.parsing.reconstruct import check_event_rules, chunks, scan
from toolproxy.parsing import (
    PLAIN_TEXT,
    CallKeys,
    CallStart,
    JsonBody,
    NamedCallBody,
    OutputFormat,
    PythonCallsBody,
    Region,
    TextDelta,
    XmlParamsBody,
    collect,
    parse_text,
)

HERMES = OutputFormat(regions=(Region("<tool_call>", JsonBody(), end="</tool_call>"),))
LIST = OutputFormat(regions=(Region("[TOOL_CALLS]", JsonBody(rules=((("*",), "call"),))),))
NAMED = OutputFormat(
    regions=(Region("<|from|>assistant\n<|recipient|>", NamedCallBody("\n<|content|>")),),
    silent=("<|from|>assistant\n<|recipient|>all\n<|content|>", "<|stop|>"),
)
V31 = OutputFormat(regions=(Region("<function=", NamedCallBody(">"), end="</function>"),))
PYTHONIC = OutputFormat(regions=(Region("[", PythonCallsBody(), keep_start=True, anchored=True),))
LLAMA3 = OutputFormat(
    regions=(
        Region("{", JsonBody(keys=CallKeys(arguments=("parameters", "arguments"))), keep_start=True, anchored=True),
    )
)


def calls(fmt: OutputFormat, text: str) -> list[tuple[str, str]]:
    return [(c.name, c.arguments) for c in parse_text(fmt, text).calls]


def every_chunking_agrees(fmt: OutputFormat, text: str) -> None:
    reference = parse_text(fmt, text)
    for seed in (None, 0, 1, 2):
        events, scanner = scan(fmt, chunks(text, seed, max_size=4))
        check_event_rules(events)
        got = collect(events)
        assert (got.content, got.reasoning, got.calls) == (reference.content, reference.reasoning, reference.calls)
        assert scanner.failures == reference.failures


def test_marker_split_across_chunks_is_never_leaked() -> None:
    scanner_events, _ = scan(HERMES, ["Hi <tool", '_call>{"name": "f", "arg', 'uments": {"a": 1}}</tool_', "call>"])
    texts = [e.text for e in scanner_events if isinstance(e, TextDelta)]
    assert "".join(texts) == "Hi"
    assert any(isinstance(e, CallStart) and e.name == "f" for e in scanner_events)


def test_partial_marker_at_the_end_is_text() -> None:
    assert parse_text(HERMES, "see <tool_ca").content == "see <tool_ca"
    every_chunking_agrees(HERMES, "see <tool_ca")


def test_arguments_are_compact_and_identical_streamed() -> None:
    text = '<tool_call>\n{ "name" : "f" ,\n "arguments" : { "a" : [ 1 , 2 ] , "s" : " x  y " } }\n</tool_call>'
    assert calls(HERMES, text) == [("f", '{"a":[1,2],"s":" x  y "}')]
    every_chunking_agrees(HERMES, text)


def test_arguments_before_name_and_string_arguments() -> None:
    text = (
        '<tool_call>{"arguments": {"a": 1}, "name": "f"}</tool_call>'
        '<tool_call>{"name": "g", "arguments": "{\\"b\\": 2}"}</tool_call>'
    )
    assert calls(HERMES, text) == [("f", '{"a":1}'), ("g", '{"b": 2}')]
    every_chunking_agrees(HERMES, text)


def test_missing_arguments_become_empty_object_and_missing_end_is_tolerated() -> None:
    assert calls(HERMES, '<tool_call>{"name": "f"}') == [("f", "{}")]


def test_think_block_becomes_reasoning() -> None:
    text = '  <think>\nI should call f.\n</think>\n\n<tool_call>{"name": "f", "arguments": {}}</tool_call>'
    parsed = parse_text(HERMES, text)
    assert parsed.reasoning == "I should call f."
    assert parsed.content is None
    assert [c.name for c in parsed.calls] == ["f"]
    every_chunking_agrees(HERMES, text)
    assert parse_text(PLAIN_TEXT, "<think>cut off").reasoning == "cut off"
    assert parse_text(PLAIN_TEXT, "<think>cut off").incomplete


def test_whitespace_around_calls_is_trimmed_but_kept_between_texts() -> None:
    text = '\n Let me check.\n<tool_call>{"name": "f", "arguments": {}}</tool_call>\n\nDone. \n'
    assert parse_text(HERMES, text).content == "Let me check.\n\n\nDone."
    every_chunking_agrees(HERMES, text)


def test_garbage_in_a_region_is_kept_as_text_and_later_calls_still_parse() -> None:
    text = '<tool_call>{"name": oops}</tool_call> then <tool_call>{"name": "g", "arguments": {}}</tool_call>'
    parsed = parse_text(HERMES, text)
    assert parsed.content is not None and parsed.content.startswith('<tool_call>{"name": o')
    assert "oops" in parsed.content
    assert [c.name for c in parsed.calls] == ["g"]
    assert len(parsed.failures) == 1
    every_chunking_agrees(HERMES, text)


def test_failure_after_call_start_closes_the_call_and_keeps_the_rest() -> None:
    text = '<tool_call>{"name": "f", "arguments": {"a": 1 2}}</tool_call>'
    parsed = parse_text(HERMES, text)
    assert [(c.name, c.arguments) for c in parsed.calls] == [("f", '{"a":1')]
    assert parsed.content is not None and "2}}" in parsed.content
    every_chunking_agrees(HERMES, text)


def test_truncated_before_the_name_is_content() -> None:
    parsed = parse_text(HERMES, 'ok <tool_call>{"na')
    assert parsed.content == 'ok <tool_call>{"na'
    assert parsed.calls == [] and parsed.incomplete


def test_list_body_with_escaped_underscores_and_extra_keys() -> None:
    text = '[TOOL_CALLS] [{"name": "get\\_weather", "arguments": {"city": "Paris"}, "id": "abcdefghi"}]'
    assert calls(LIST, text) == [("get_weather", '{"city":"Paris"}')]
    every_chunking_agrees(LIST, text)


def test_unicode_escapes_and_surrogates() -> None:
    text = '<tool_call>{"name": "caf\\u00e9_\\ud83d\\ude00", "arguments": {"s": "\\ud83d"}}</tool_call>'
    assert calls(HERMES, text) == [("café_😀", '{"s":"\\ud83d"}')]
    assert calls(HERMES, '<tool_call>{"name": "a\\ud83d", "arguments": {}}</tool_call>') == [("a\ufffd", "{}")]
    every_chunking_agrees(HERMES, text)


def test_named_bodies() -> None:
    text = (
        "<|from|>assistant\n<|recipient|>all\n<|content|>Checking.\n<|from|>assistant\n<|recipient|>f"
        '\n<|content|>{"a": 1}\n<|from|>assistant\n<|recipient|>g\n<|content|>{}<|stop|>'
    )
    parsed = parse_text(NAMED, text)
    assert parsed.content == "Checking."
    assert [(c.name, c.arguments) for c in parsed.calls] == [("f", '{"a":1}'), ("g", "{}")]
    every_chunking_agrees(NAMED, text)
    text31 = 'Sure.<function=get_weather>{"city": "Paris"}</function><function=g>{}</function>'
    assert calls(V31, text31) == [("get_weather", '{"city":"Paris"}'), ("g", "{}")]
    every_chunking_agrees(V31, text31)
    assert parse_text(V31, "<function=bad name>{}").content == "<function=bad name>{}"


def test_whole_output_call_object_llama3_like() -> None:
    text = ' {"name": "f", "parameters": {"x": true}}'
    assert calls(LLAMA3, text) == [("f", '{"x":true}')]
    assert parse_text(LLAMA3, 'Answer: {"name": "f"}').calls == []
    every_chunking_agrees(LLAMA3, text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[get_weather(city="Paris"), math.factorial(n=5)]',
            [("get_weather", '{"city":"Paris"}'), ("math.factorial", '{"n":5}')],
        ),
        (
            "[f(a=(1, 2), b={'k': None}, c=\"x)y]\", d=-1.5, e=True)]",
            [("f", '{"a":[1,2],"b":{"k":null},"c":"x)y]","d":-1.5,"e":true}')],
        ),
        ("[]", []),
    ],
)
def test_pythonic(text: str, expected: list[tuple[str, str]]) -> None:
    assert calls(PYTHONIC, text) == expected
    every_chunking_agrees(PYTHONIC, text)


@pytest.mark.parametrize(
    "text", ["[f(1)]", "[f(a=g())]", "[__import__('os').system(a='x')]", "[1, 2]", "The list [f(a=1)]"]
)
def test_pythonic_refuses_non_literals_as_text(text: str) -> None:
    parsed = parse_text(PYTHONIC, text)
    assert parsed.calls == []
    assert parsed.content == text


def test_repeated_calls_are_dropped_and_indexes_stay_dense() -> None:
    call = '<tool_call>{"name": "f", "arguments": {"a": 1}}</tool_call>\n'
    other = '<tool_call>{"name": "f", "arguments": {"a": 2}}</tool_call>\n'
    text = call + call + other + call + '<tool_call>{"name": "f", "arguments": {"a'
    parsed = parse_text(HERMES, text)
    assert [(c.name, c.arguments) for c in parsed.calls] == [("f", '{"a":1}'), ("f", '{"a":2}')]
    assert parsed.content is None
    every_chunking_agrees(HERMES, text)
    events, scanner = scan(HERMES, [text])
    assert scanner.dropped_duplicates == 3
    assert scanner.looping
    _, distinct = scan(HERMES, [call + other])
    assert not distinct.looping
    assert [e.index for e in events if isinstance(e, CallStart)] == [0, 1]
    kept = OutputFormat(regions=HERMES.regions, dedupe_calls=False)
    assert len(parse_text(kept, call + call).calls) == 2


def test_a_cut_off_call_that_is_not_a_repeat_is_kept_partial() -> None:
    text = '<tool_call>{"name": "f", "arguments": {"a": 1}}</tool_call><tool_call>{"name": "f", "arguments": {"b'
    assert calls(HERMES, text) == [("f", '{"a":1}'), ("f", '{"b')]


def _random_json(rng: random.Random, depth: int = 0) -> object:
    kinds = ["str", "int", "float", "bool", "null"] + (["list", "dict"] if depth < 3 else [])
    kind = rng.choice(kinds)
    if kind == "str":
        return "".join(rng.choice('ab "\\/\n\t\u00e9\u20ac\U0001f600\x01<>{}[],:') for _ in range(rng.randint(0, 8)))
    if kind == "int":
        return rng.randint(-(10**12), 10**12)
    if kind == "float":
        return rng.uniform(-1e6, 1e6)
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "null":
        return None
    if kind == "list":
        return [_random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {f"k{i}\u00e9": _random_json(rng, depth + 1) for i in range(rng.randint(0, 4))}


def test_arguments_survive_any_json_formatting() -> None:
    rng = random.Random(3)
    for _ in range(60):
        value = {"v": _random_json(rng)}
        encoded = json.dumps(value, indent=rng.choice([None, 1, 4]), ensure_ascii=rng.random() < 0.5)
        text = f'<tool_call>{{"name": "f", "arguments": {encoded}}}</tool_call>'
        parsed = parse_text(HERMES, text)
        assert json.loads(parsed.calls[0].arguments) == value
        assert parsed.calls[0].arguments == json.dumps(value, ensure_ascii=False, separators=(",", ":")) or (
            "\\u" in encoded or "\\/" in encoded
        )


MINICPM = OutputFormat(regions=(Region('<function name="', XmlParamsBody(
    '<param name="', '">', "</param>", name_sep='">', cdata=True, strings=(("f", ("s",)),)), end="</function>"),))


@pytest.mark.parametrize("raw, value", [
    ("<![CDATA[a < b & c\nd]]>", "a < b & c\nd"),  # the wrapper is not part of the value
    ("<!-- not CDATA -->", "<!-- not CDATA -->"),  # a start that only looked like one is kept
    ("x ]]> y", "x ]]> y"),  # no opening wrapper: a closing one is text
])
def test_cdata_strings_and_a_name_ending_at_its_separator(raw: str, value: str) -> None:
    text = f'<function name="f"><param name="s">{raw}</param><param name="n">True</param></function>'
    whole = parse_text(MINICPM, text)
    assert [(c.name, json.loads(c.arguments)) for c in whole.calls] == [("f", {"s": value, "n": True})]
    events, _ = scan(MINICPM, chunks(text, None))  # one character at a time
    check_event_rules(events)
    streamed = collect(events)
    assert [(c.name, c.arguments) for c in streamed.calls] == [(c.name, c.arguments) for c in whole.calls]
