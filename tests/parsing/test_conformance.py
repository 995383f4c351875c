"""The conformance suite every style runs (issue 5): for each case, the style's own rendering of an
assistant turn is its canonical output; scanning it must give the turn back, and streaming it in any
chunking (1-character chunks included) must give exactly the non-streamed answer under OpenAI's delta
rules."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.parsing.reconstruct import (
    check_event_rules,
    check_openai_deltas,
    chunks,
    comparable,
    scan,
    to_message,
)
from toolproxy.parsing import parse_text
from toolproxy.protocol import ChatMessage
from toolproxy.styles import get_style, style_names
from toolproxy.styles.base import CallPolicy, Style, ToolSpec

TOOLS = [
    ToolSpec(
        "get_weather",
        "Get the current weather",
        {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    ),
    ToolSpec("send_mail", "Send an e-mail", {"type": "object", "properties": {}}),
]

TRICKY = {
    "to": "zoë@example.com",
    "body": 'He said "hi"\\n\t— 😀 </tool_call> [TOOL_CALLS] <|from|>assistant\n<|recipient|>x {"a": [1]}',
    "n": -1.5e3,
    "ok": True,
    "nothing": None,
    "nested": [1, {"a": [], "b": "\u0000\u001f"}],
}

CASES: dict[str, tuple[str, list[tuple[str, dict[str, Any]]]]] = {
    "no_call": ("The weather in Paris is sunny, 21 °C.", []),
    "one_call": ("", [("get_weather", {"city": "Paris"})]),
    "parallel_calls": ("", [("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Zürich"})]),
    "text_and_call": ("Let me check that for you.", [("get_weather", {"city": "Paris"})]),
    "escaped_unicode": ("", [("send_mail", TRICKY)]),
    "multiline_text": ("Line one.\n\nLine two: naïve — 😀 {braces} [brackets]", []),
}
SEEDS: list[int | None] = [None, 0, 1, 2, 3]


def _supports(style: Style, text: str, calls: list[Any]) -> bool:
    # thoughtful_steps answers either with calls or with a result, never both; so do the whole-output JSON
    # styles of issue 4 (their call turns carry no text); harmony writes the text of a call turn as its
    # analysis (reasoning), as gpt-oss's template does
    return not (style.name in ("thoughtful_steps", "generic", "llama3", "xlam", "harmony") and text and calls)


def _canonical(style: Style, text: str, calls: list[tuple[str, dict[str, Any]]]) -> str:
    assistant = ChatMessage(
        role="assistant",
        content=text or None,
        tool_calls=[
            {"id": f"call_{i}", "type": "function", "function": {"name": n, "arguments": json.dumps(a)}}
            for i, (n, a) in enumerate(calls)
        ],
    )
    user = ChatMessage(role="user", content="hi")
    turns = style.prepare_messages([user, assistant], TOOLS, CallPolicy("auto"))
    output = turns[-1]["content"]
    assert turns[-1]["role"] == "assistant"
    prefix = style.generation_prefix(TOOLS, CallPolicy("auto"))
    assert output.startswith(prefix), "the rendered turn must begin with the generation prefix"
    return output


def _minimax_m3_view(value: Any, top: bool = True) -> Any:
    """What MiniMax M3's encoding keeps of a value where no schema types it: its template omits a null field
    and writes an empty array or object as nothing, which reads back as an empty string."""
    if isinstance(value, dict):
        kept = {k: _minimax_m3_view(v, False) for k, v in value.items() if v is not None}
        return kept if kept or top else ""
    if isinstance(value, list):
        return [_minimax_m3_view(v, False) for v in value] if value else ""
    return value


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("name", style_names())
def test_round_trip_and_streaming(name: str, case: str) -> None:
    style = get_style(name)
    text, calls = CASES[case]
    if not _supports(style, text, calls):
        pytest.skip("the style cannot express this case")
    output = _canonical(style, text, calls)
    fmt = style.output_format(TOOLS)

    parsed = parse_text(fmt, output)
    assert parsed.failures == []
    assert parsed.content == (text or None)
    assert [(c.name, json.loads(c.arguments)) for c in parsed.calls] == (
        [(n, _minimax_m3_view(a)) for n, a in calls] if name == "minimax_m3" else calls)

    whole, _ = to_message(fmt, [output])
    for seed in SEEDS:
        streamed, deltas = to_message(fmt, chunks(output, seed))
        check_openai_deltas(deltas)
        assert comparable(streamed) == comparable(whole), f"chunking seed {seed}"
        events, _ = scan(fmt, chunks(output, seed))
        check_event_rules(events)


@pytest.mark.parametrize("name", style_names())
def test_truncated_anywhere(name: str) -> None:
    """Cut the output at every position (max_tokens): streaming still equals non-streaming, nothing is
    lost before the cut, and a call whose name is complete keeps a prefix of its arguments."""
    style = get_style(name)
    calls = [("get_weather", {"city": "Paris"}), ("send_mail", {"to": "a@b.c"})]
    output = _canonical(style, "", calls)
    fmt = style.output_format(TOOLS)
    full = parse_text(fmt, output)
    full_args = [c.arguments for c in full.calls]
    for cut in range(len(output) + 1):
        prefix = output[:cut]
        whole, _ = to_message(fmt, [prefix])
        streamed, deltas = to_message(fmt, chunks(prefix, None))
        check_openai_deltas(deltas)
        assert comparable(streamed) == comparable(whole), f"cut at {cut}"
        parsed = parse_text(fmt, prefix)
        for i, call in enumerate(parsed.calls):
            assert call.name == calls[i][0]
            assert full_args[i].startswith(call.arguments)


@pytest.mark.parametrize("name", style_names())
def test_plain_text_is_never_a_call(name: str) -> None:
    """Text that contains no call marker of the style stays content, whatever it looks like."""
    style = get_style(name)
    fmt = style.output_format(TOOLS)
    prefix = style.generation_prefix(TOOLS, CallPolicy("none"))
    body = 'Use {"name": "get_weather", "arguments": {}} or get_weather(city="x") [1, 2]'
    if name == "thoughtful_steps":
        output = prefix + json.dumps(body)[1:] + ', "next_step": {"result": ' + json.dumps(body) + "}}"
    elif name == "functionary":
        output = prefix + "all\n<|content|>" + body
    else:
        output = body
    parsed = parse_text(fmt, output)
    assert parsed.calls == []
    assert parsed.content == body
