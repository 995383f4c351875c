"""Issue 15's XML-parameter calls (one parameter per element, string values raw, others JSON): the one scanner
body (:class:`XmlParamsBody`) read whole and in 1-character chunks, argument deltas concatenating to the final
arguments, value types by schema; and the styles' grammars on llama.cpp's own grammar engine, for the text the
families' templates write."""

from __future__ import annotations

import json

import pytest

from tests.grammar.oracle import Oracle
from toolproxy.parsing import ArgsDelta, Scanner, collect, parse_text
from toolproxy.parsing.format import OutputFormat, Region, XmlParamsBody
from toolproxy.styles import get_style
from toolproxy.styles.base import CallPolicy, ToolSpec
from toolproxy.styles.common import Call

QWEN = XmlParamsBody("<parameter=", ">", "</parameter>", name_open="<function=", call_close="</function>",
                     trim_newline=True, strings=(("f", ("s",)),))
GLM = XmlParamsBody("<arg_key>", "</arg_key>", "</arg_value>", value_open="<arg_value>", strings=(("f", ("s",)),))
MINIMAX = XmlParamsBody('<parameter name="', '">', "</parameter>", name_open='<invoke name="', name_close='">',
                        call_close="</invoke>", strings=(("f", ("s",)),))

TRICKY = 'say "hi" <b>a < b</b>\nline two: café ✓ \\ </param'


def _fmt(body: XmlParamsBody, start: str, end: str) -> OutputFormat:
    return OutputFormat(regions=(Region(start, body, end=end),))


def _both(fmt: OutputFormat, text: str) -> tuple[list[tuple[str, object]], str, list[str]]:
    """(calls with decoded arguments, content, the argument deltas of the 1-char run); asserts whole == chunked."""
    whole = parse_text(fmt, text)
    scanner = Scanner(fmt)
    events = [e for c in text for e in scanner.feed(c)] + scanner.finish()
    chunked = collect(events)
    assert [(c.name, c.arguments) for c in whole.calls] == [(c.name, c.arguments) for c in chunked.calls]
    assert whole.content == chunked.content
    deltas = [e.text for e in events if isinstance(e, ArgsDelta)]
    if chunked.calls:
        assert "".join(deltas) == "".join(c.arguments for c in chunked.calls)
    return [(c.name, json.loads(c.arguments)) for c in whole.calls], whole.content or "", deltas


def test_string_parameter_is_raw_text_streamed_as_a_json_string() -> None:
    text = (f"Sure.\n<tool_call>\n<function=f>\n<parameter=s>\n{TRICKY}\n</parameter>\n"
            "<parameter=n>\n42\n</parameter>\n</function>\n</tool_call>")
    calls, content, deltas = _both(_fmt(QWEN, "<tool_call>", "</tool_call>"), text)
    assert calls == [("f", {"s": TRICKY, "n": 42})]
    assert content == "Sure."
    assert len(deltas) > 10  # the string streamed as it arrived, not in one piece at its end


@pytest.mark.parametrize("raw, value", [
    ("7", 7), ("-2.5", -2.5), ("true", True), ("null", None), ('[1, "a", {"b": 2}]', [1, "a", {"b": 2}]),
    ('{"k": [true, false]}', {"k": [True, False]}),
    ("not json", "not json"), ("NaN", "NaN"), ("-Infinity", "-Infinity"), ('"quoted"', "quoted"),
    ("12", "12"),  # a string parameter stays a string even when it looks like a number
])
def test_non_string_values_are_json_or_fall_back_to_a_string(raw: str, value: object) -> None:
    key = "s" if raw == "12" else "v"
    text = f"<tool_call>f\n<arg_key>{key}</arg_key>\n<arg_value>{raw}</arg_value>\n</tool_call>"
    calls, _, _ = _both(_fmt(GLM, "<tool_call>", "</tool_call>"), text)
    assert calls == [("f", {key: value})]


def test_several_calls_in_one_region_and_no_parameters() -> None:
    text = ('<minimax:tool_call>\n<invoke name="f">\n<parameter name="s">Par"is</parameter>\n</invoke>\n'
            '<invoke name="g">\n</invoke>\n</minimax:tool_call> done')
    calls, content, _ = _both(_fmt(MINIMAX, "<minimax:tool_call>", "</minimax:tool_call>"), text)
    assert calls == [("f", {"s": 'Par"is'}), ("g", {})]
    assert content == "done"


def test_cut_off_call_keeps_its_partial_arguments() -> None:
    fmt = _fmt(QWEN, "<tool_call>", "</tool_call>")
    scanner = Scanner(fmt)
    text = "<tool_call>\n<function=f>\n<parameter=s>\nPar"
    message = collect([e for c in text for e in scanner.feed(c)] + scanner.finish())
    assert scanner.incomplete
    assert [(c.name, c.arguments) for c in message.calls] == [("f", '{"s": "Par')]


def test_a_region_that_does_not_parse_is_text() -> None:
    text = "<tool_call>{\"name\": \"f\"}</tool_call>"
    message = parse_text(_fmt(QWEN, "<tool_call>", "</tool_call>"), text)
    assert not message.calls
    assert "f" in (message.content or "")


# ---------------------------------------------------------------------- grammar (llama.cpp's engine)

PARAMETERS = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer"}, "metric": {"type": "boolean"}},
    "required": ["city", "days"],
}
TOOLS = [ToolSpec("get_weather", "Weather forecast", PARAMETERS)]

# what each family's own template writes for get_weather({"city": "Paris", "days": 3}) (tests/test_roundtrip.py)
WRITTEN = {
    "qwen3_coder": "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n"
                   "<parameter=days>\n3\n</parameter>\n</function>\n</tool_call>",
    "glm": "<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Paris</arg_value>\n"
           "<arg_key>days</arg_key>\n<arg_value>3</arg_value>\n</tool_call>",  # GLM 4.6
    "minimax_m2": '<minimax:tool_call>\n<invoke name="get_weather">\n<parameter name="city">Paris</parameter>\n'
                  '<parameter name="days">3</parameter>\n</invoke>\n</minimax:tool_call>',
}


def _accepts(oracle: Oracle, style: str, policy: CallPolicy, text: str) -> bool:
    gbnf = get_style(style).grammar(TOOLS, policy)
    assert gbnf is not None
    verdict = oracle.accepts(gbnf, text)
    assert verdict is not None, gbnf  # llama.cpp compiled the grammar
    return verdict


@pytest.mark.parametrize("style", sorted(WRITTEN))
def test_grammar_admits_the_templates_text_and_rejects_bad_calls(oracle: Oracle, style: str) -> None:
    written = WRITTEN[style]
    for policy in (CallPolicy("required"), CallPolicy("auto"), CallPolicy("required", parallel=False)):
        assert _accepts(oracle, style, policy, written), (style, policy)
    assert _accepts(oracle, style, CallPolicy("auto"), "It is sunny.")
    assert not _accepts(oracle, style, CallPolicy("required"), "It is sunny.")
    assert not _accepts(oracle, style, CallPolicy("none"), written)
    # a wrong type, a missing required parameter, a string holding its closing marker
    assert not _accepts(oracle, style, CallPolicy("required"), written.replace(">3<", ">three<").replace(
        "\n3\n", "\nthree\n"))
    no_days = get_style(style).calls_text([Call("get_weather", {"city": "Paris"})])
    assert "Paris" in no_days
    assert not _accepts(oracle, style, CallPolicy("required"), no_days)
    optional = get_style(style).calls_text([Call("get_weather", {"city": "Paris", "days": 3, "metric": True})])
    assert _accepts(oracle, style, CallPolicy("required"), optional)
    closing = {"qwen3_coder": "</parameter>", "glm": "</arg_value>", "minimax_m2": "</parameter>"}[style]
    assert not _accepts(oracle, style, CallPolicy("required"), written.replace("Paris", f"Pa{closing}ris"))


@pytest.mark.parametrize("style", sorted(WRITTEN))
def test_parallel_false_admits_one_call_only(oracle: Oracle, style: str) -> None:
    s = get_style(style)
    two = s.calls_text([Call("get_weather", {"city": "Paris", "days": 3}), Call("get_weather", {"city": "Rome",
                                                                                                "days": 1})])
    assert _accepts(oracle, style, CallPolicy("required"), two)
    assert not _accepts(oracle, style, CallPolicy("required", parallel=False), two)
    calls, _, _ = _both(s.output_format(TOOLS), two)
    assert calls == [("get_weather", {"city": "Paris", "days": 3}), ("get_weather", {"city": "Rome", "days": 1})]


@pytest.mark.parametrize("style", sorted(WRITTEN))
def test_bounded_string_values(oracle: Oracle, style: str) -> None:
    """``value_chars`` (required/named under max_tokens) bounds each raw string value: a ``<`` with the
    character after it counts as one, ``</`` and the closing marker stay out; a schema's ``maxLength`` is kept
    exactly (then no ``<`` at all) and ``minLength`` too."""
    s = get_style(style)

    def text(city: str) -> str:
        return s.calls_text([Call("get_weather", {"city": city, "days": 3})])

    bounded = CallPolicy("required", value_chars=5)
    assert _accepts(oracle, style, bounded, text("Paris"))
    assert _accepts(oracle, style, bounded, text("a<b c"))  # 5 characters, 4 units
    assert _accepts(oracle, style, bounded, text(""))
    assert not _accepts(oracle, style, bounded, text("Parisx"))
    assert not _accepts(oracle, style, bounded, text("a</b"))
    assert _accepts(oracle, style, CallPolicy("required"), text("Paris, France"))  # None: unbounded
    schema = {**PARAMETERS, "properties": {**PARAMETERS["properties"],
                                           "city": {"type": "string", "minLength": 2, "maxLength": 3}}}
    tools = [ToolSpec("get_weather", "Weather forecast", schema)]
    for policy, ok, bad in ((CallPolicy("auto"), ["Rom", "NY"], ["Rome", "N", "a<b"]),
                            (CallPolicy("required", value_chars=100), ["Rom"], ["Rome"]),
                            (CallPolicy("required", value_chars=2), ["NY"], ["Rom"])):
        gbnf = s.grammar(tools, policy)
        assert gbnf is not None
        for city in ok:
            assert oracle.accepts(gbnf, text(city)), (policy, city)
        for city in bad:
            assert not oracle.accepts(gbnf, text(city)), (policy, city)


def test_call_cost_counts_the_longest_call() -> None:
    s = get_style("qwen3_coder")
    short = ToolSpec("t", "", {"type": "object", "properties": {"a": {"type": "string"}}})
    cost = s.call_cost([short, *TOOLS])
    assert cost is not None
    text, strings = cost
    assert "get_weather" in text and "<parameter=days>" in text and "<parameter=metric>" in text
    assert strings == 1
    assert get_style("hermes").call_cost(TOOLS) is None  # JSON strings: their schema's grammar
