"""Kimi K3 and MiniMax M3 (issue 15): Kimi K3's tagged elements (a call index, each argument's JSON type named,
the answer's text in a response channel, think tags of its own) and MiniMax M3's separator token before every
element, with arrays and objects written as nested elements; read whole and in 1-character chunks by the one
XML-parameter scanner body, admitted by their grammars on llama.cpp's own grammar engine."""

from __future__ import annotations

import json

import pytest

from tests.grammar.oracle import Oracle
from toolproxy.parsing import ArgsDelta, Scanner, collect, parse_text
from toolproxy.reasoning import think_mode, with_thinking
from toolproxy.styles import get_style
from toolproxy.styles.base import CallPolicy, ToolSpec
from toolproxy.styles.common import Call
from toolproxy.styles.xml_params import MM

EVENT = ToolSpec("create_event", "Create an event", {
    "type": "object",
    "properties": {
        "title": {"type": "string"},
        "attendees": {"type": "integer"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "rooms": {"type": "array", "items": {"type": "object", "properties": {
            "name": {"type": "string"}, "floor": {"type": "integer"}}, "required": ["name", "floor"]}},
        "remote": {"type": "boolean"},
    },
    "required": ["title", "attendees"],
})
TOOLS = [EVENT]
ARGS = {"title": "Stand <up>", "attendees": 4, "tags": ["team", "daily"],
        "rooms": [{"name": "B2", "floor": 3}, {"name": "C1", "floor": -1}], "remote": True}


def _both(style: str, text: str) -> tuple[list[tuple[str, object]], str, str | None]:
    """(calls, content, reasoning) of the style's scanner; asserts whole == 1-character chunks and that the
    argument deltas concatenate to the arguments."""
    fmt = get_style(style).output_format(TOOLS)
    whole = parse_text(fmt, text)
    scanner = Scanner(fmt)
    events = [e for c in text for e in scanner.feed(c)] + scanner.finish()
    chunked = collect(events)
    assert [(c.name, c.arguments) for c in whole.calls] == [(c.name, c.arguments) for c in chunked.calls]
    assert (whole.content, whole.reasoning) == (chunked.content, chunked.reasoning)
    assert "".join(e.text for e in events if isinstance(e, ArgsDelta)) == "".join(c.arguments for c in whole.calls)
    return [(c.name, json.loads(c.arguments)) for c in whole.calls], whole.content or "", whole.reasoning


def _accepts(oracle: Oracle, style: str, policy: CallPolicy, text: str) -> bool:
    gbnf = get_style(style).grammar(TOOLS, policy)
    assert gbnf is not None
    verdict = oracle.accepts(gbnf, text)
    assert verdict is not None, gbnf
    return verdict


def test_minimax_m3_nested_elements_are_typed_by_the_schema() -> None:
    text = get_style("minimax_m3").calls_text([Call("create_event", ARGS)])
    assert f"{MM}<rooms>{MM}<item>{MM}<name>B2{MM}</name>{MM}<floor>3{MM}</floor>{MM}</item>" in text
    assert f"{MM}<remote>true{MM}</remote>" in text
    calls, content, _ = _both("minimax_m3", text)
    assert calls == [("create_event", ARGS)] and content == ""


def test_minimax_m3_an_answer_without_thoughts_opens_with_the_closer_alone() -> None:
    call = get_style("minimax_m3").calls_text([Call("create_event", {"title": "x", "attendees": 1})])
    calls, content, reasoning = _both("minimax_m3", "</mm:think>" + call)
    assert calls == [("create_event", {"title": "x", "attendees": 1})]
    assert content == "" and not reasoning
    _, content, reasoning = _both("minimax_m3", "<mm:think>plan it</mm:think>Sure.")
    assert (content, reasoning) == ("Sure.", "plan it")


def test_minimax_m3_grammar_forces_the_nested_encoding(oracle: Oracle) -> None:
    style = get_style("minimax_m3")
    text = style.calls_text([Call("create_event", ARGS)])
    required = CallPolicy("required")
    assert _accepts(oracle, "minimax_m3", required, text)
    assert _accepts(oracle, "minimax_m3", CallPolicy("auto"), "Fine." + text)
    # the array as JSON, a room without its floor, a floor that is not an integer, an element of another name
    assert not _accepts(oracle, "minimax_m3", required, text.replace(
        f"{MM}<tags>{MM}<item>team{MM}</item>{MM}<item>daily{MM}</item>{MM}</tags>", f'{MM}<tags>["team"]{MM}</tags>'))
    assert not _accepts(oracle, "minimax_m3", required, text.replace(f"{MM}<floor>3{MM}</floor>", ""))
    assert not _accepts(oracle, "minimax_m3", required, text.replace(f"<floor>3{MM}", f"<floor>three{MM}"))
    assert not _accepts(oracle, "minimax_m3", required, text.replace("<name>B2", "<label>B2").replace(
        "</name>", "</label>", 1))
    # the optional think block, also as the closer alone (the prompt of adaptive thinking ends 'ai\n')
    gbnf = with_thinking(style.grammar(TOOLS, required) or "", "optional", 64, tags=style.thinking or ("", ""))
    for answer in ("</mm:think>" + text, "<mm:think>plan</mm:think>\n" + text, text):
        assert oracle.accepts(gbnf, answer), answer


def test_kimi_k3_reads_its_channels_index_and_types() -> None:
    style = get_style("kimi_k3")
    text = style.calls_text([Call("create_event", ARGS), Call("create_event", {"title": "b", "attendees": 2})])
    assert 'index="2"<|sep|>' in text and 'key="attendees" type="number"<|sep|>4<|close|>argument' in text
    assert text.startswith("<|open|>response<|sep|><|close|>response<|sep|><|open|>tools<|sep|>")
    calls, content, _ = _both("kimi_k3", text)
    assert calls == [("create_event", ARGS), ("create_event", {"title": "b", "attendees": 2})]
    assert content == ""
    calls, content, reasoning = _both(
        "kimi_k3", "<|open|>think<|sep|>hmm<|close|>think<|sep|><|open|>response<|sep|>Done.<|close|>response<|sep|>")
    assert (calls, content, reasoning) == ([], "Done.", "hmm")


def test_kimi_k3_grammar_ties_the_type_attribute_to_the_schema(oracle: Oracle) -> None:
    text = get_style("kimi_k3").calls_text([Call("create_event", ARGS)])
    required = CallPolicy("required")
    assert _accepts(oracle, "kimi_k3", required, text)
    assert _accepts(oracle, "kimi_k3", required, text.removeprefix("<|open|>response<|sep|>"))  # prompt opened it
    assert not _accepts(oracle, "kimi_k3", required, text.replace(
        'key="attendees" type="number"', 'key="attendees" type="string"'))
    assert not _accepts(oracle, "kimi_k3", required, text.replace(
        'key="title" type="string"', 'key="title" type="array"'))
    assert _accepts(oracle, "kimi_k3", CallPolicy("none"), "<|open|>response<|sep|>Hi.<|close|>response<|sep|>")
    assert not _accepts(oracle, "kimi_k3", CallPolicy("none"), text)


def test_kimi_k3_prompt_opens_its_own_think_block() -> None:
    tags = get_style("kimi_k3").thinking
    assert tags == ("<|open|>think<|sep|>", "<|close|>think<|sep|>")
    prompt = '<|open|>message role="assistant"<|sep|><|open|>think<|sep|>'
    # the template builds the tag from pieces ('<|open|>' + tag): the prompt's end is what counts
    assert think_mode(prompt, "{{- '<|open|>' + tag -}}", tags) == "open"
    assert think_mode('<|open|>message role="assistant"<|sep|><|open|>response<|sep|>', "{{ x }}", tags) is None


@pytest.mark.parametrize("style", ["kimi_k3", "minimax_m3"])
def test_bounded_string_values_under_required(oracle: Oracle, style: str) -> None:
    """Their closing markers repeat their first character (``<|close|>argument<|sep|>``, ``]<]minimax[>[</``):
    a raw value is bounded all the same, so that a call fits in max_tokens."""
    gbnf = get_style(style).grammar(TOOLS, CallPolicy("required", value_chars=3))
    assert gbnf is not None and "xml-raw-0-3" in gbnf
    short = get_style(style).calls_text([Call("create_event", {"title": "abc", "attendees": 1})])
    assert oracle.accepts(gbnf, short)
    assert not oracle.accepts(gbnf, short.replace("abc", "abcd"))
