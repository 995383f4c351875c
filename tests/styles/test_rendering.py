"""Multi-turn rendering per style: tools announced, earlier calls and tool results written back in the
style's own syntax (golden strings), the registry, and Functionary's TypeScript signatures."""

from __future__ import annotations

import itertools
import json

import pytest

from toolproxy.errors import InvalidRequest
from toolproxy.protocol import ChatMessage
from toolproxy.styles import get_style, style_names
from toolproxy.styles.base import CallPolicy, ToolSpec
from toolproxy.styles.typescript import functions_namespace

WEATHER = ToolSpec(
    "get_weather",
    "Get the current weather",
    {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "City name"},
            "unit": {"type": "string", "enum": ["c", "f"]},
        },
        "required": ["city"],
    },
)

CONVERSATION = [
    ChatMessage(role="system", content="Be brief."),
    ChatMessage(role="user", content="Weather in Paris and Rome?"),
    ChatMessage(
        role="assistant",
        content=None,
        tool_calls=[
            {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
            {"id": "c2", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Rome"}}},
        ],
    ),
    ChatMessage(role="tool", tool_call_id="c1", content="21C"),
    ChatMessage(role="tool", tool_call_id="c2", content="25C"),
    ChatMessage(role="assistant", content="Paris 21C, Rome 25C."),
    ChatMessage(role="user", content="Thanks!"),
]

# (role, content) of every turn after the system/tools announcement
EXPECTED_TURNS = {
    "hermes": [
        ("user", "Weather in Paris and Rome?"),
        (
            "assistant",
            '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\n'
            '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Rome"}}\n</tool_call>',
        ),
        ("user", "<tool_response>\n21C\n</tool_response>\n<tool_response>\n25C\n</tool_response>"),
        ("assistant", "Paris 21C, Rome 25C."),
        ("user", "Thanks!"),
    ],
    "mixtral": [
        (
            "assistant",
            '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Paris"}}, '
            '{"name": "get_weather", "arguments": {"city": "Rome"}}]',
        ),
        (
            "user",
            '[TOOL_RESULTS]{"name": "get_weather", "content": "21C"}[/TOOL_RESULTS]\n'
            '[TOOL_RESULTS]{"name": "get_weather", "content": "25C"}[/TOOL_RESULTS]',
        ),
        ("assistant", "Paris 21C, Rome 25C."),
        ("user", "Thanks!"),
    ],
    "functionary": [
        ("user", "Weather in Paris and Rome?"),
        (
            "assistant",
            '<|from|>assistant\n<|recipient|>get_weather\n<|content|>{"city": "Paris"}\n'
            '<|from|>assistant\n<|recipient|>get_weather\n<|content|>{"city": "Rome"}',
        ),
        (
            "user",
            "<|from|>get_weather\n<|recipient|>all\n<|content|>21C\n"
            "<|from|>get_weather\n<|recipient|>all\n<|content|>25C",
        ),
        ("assistant", "<|from|>assistant\n<|recipient|>all\n<|content|>Paris 21C, Rome 25C."),
        ("user", "Thanks!"),
    ],
    "thoughtful_steps": [
        ("user", "Weather in Paris and Rome?"),
        (
            "assistant",
            '{"thought_about_next_step_only": "", "next_step": {"tool_calls": ['
            '{"name": "get_weather", "arguments": {"city": "Paris"}}, '
            '{"name": "get_weather", "arguments": {"city": "Rome"}}]}}',
        ),
        (
            "user",
            '{"tool_result": {"name": "get_weather", "content": "21C"}}\n'
            '{"tool_result": {"name": "get_weather", "content": "25C"}}',
        ),
        ("assistant", '{"thought_about_next_step_only": "", "next_step": {"result": "Paris 21C, Rome 25C."}}'),
        ("user", "Thanks!"),
    ],
}


@pytest.mark.parametrize("name", sorted(EXPECTED_TURNS))  # issue 4 styles: tests/styles/test_new_styles.py
def test_multi_turn_rendering(name: str) -> None:
    turns = get_style(name).prepare_messages(CONVERSATION, [WEATHER], CallPolicy("auto"))
    expected = EXPECTED_TURNS[name]
    got = [(t["role"], t["content"]) for t in turns[-len(expected) :]]
    assert got == expected
    announcement = turns[0]["content"]
    assert "get_weather" in announcement and "Be brief." in announcement
    roles = [t["role"] for t in turns]
    if name == "mixtral":  # user/assistant alternation, starting with the user
        assert roles[0] == "user"
        assert all(a != b for a, b in itertools.pairwise(roles))
        assert any("Weather in Paris and Rome?" in t["content"] for t in turns if t["role"] == "user")


@pytest.mark.parametrize("name", style_names())
def test_tools_not_announced_under_none(name: str) -> None:
    turns = get_style(name).prepare_messages(CONVERSATION[:2], [WEATHER], CallPolicy("none"))
    assert all("City name" not in t["content"] for t in turns)


def test_policy_hint_in_the_prompt() -> None:
    turns = get_style("hermes").prepare_messages(CONVERSATION[:2], [WEATHER], CallPolicy("required"))
    assert "You must call the function get_weather." in turns[0]["content"]


def test_registry() -> None:
    assert {"functionary", "hermes", "mixtral", "thoughtful_steps"} <= set(style_names())
    for name in style_names():
        assert get_style(name).name == name
    with pytest.raises(InvalidRequest) as err:
        get_style("nope")
    assert "hermes" in err.value.message and err.value.param == "style"


def test_functionary_typescript() -> None:
    tools = [
        WEATHER,
        ToolSpec("ping", "Ping", {"type": "object", "properties": {}}),
        ToolSpec(
            "book",
            "Book rooms",
            {
                "type": "object",
                "properties": {
                    "rooms": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {"beds": {"type": "integer", "default": 1}},
                            "required": ["beds"],
                        },
                    },
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "when": {"type": "object", "properties": {"day": {"type": "string", "format": "date"}}},
                },
            },
        ),
    ]
    assert functions_namespace(tools) == (
        "// Supported function definitions that should be called when necessary.\n"
        "namespace functions {\n\n"
        "// Get the current weather\n"
        "type get_weather = (_: {\n"
        "// City name.\n"
        "city: string,\n"
        'unit?: "c" | "f",\n'
        "}) => any;\n\n"
        "// Ping\n"
        "type ping = () => any;\n\n"
        "// Book rooms\n"
        "type book = (_: {\n"
        "rooms?: {\n"
        "    // Default=1.\n"
        "    beds: number,\n"
        "}[],\n"
        "tags?: string[],\n"
        "when?: {\n"
        "    // Format=date\n"
        "    day?: string,\n"
        "},\n"
        "}) => any;\n\n"
        "} // namespace functions"
    )


@pytest.mark.parametrize("name", style_names())
def test_worked_examples_are_in_the_style_syntax(name: str) -> None:
    """With tools offered, the conversation opens with worked example exchanges (the example's tools
    announced, a question, the calls) written in the style's own syntax (base models need them); the
    request's own announcement and question come last."""
    from toolproxy.parsing import parse_text
    from toolproxy.styles.examples import examples_for, with_examples

    style = get_style(name)
    question = ChatMessage(role="user", content="What is 2+2?")
    policy = CallPolicy("auto")
    shown = examples_for([WEATHER], policy)
    assert len(shown) == 3 and len(shown[0].calls) == 2  # the two-call example only with parallel calls
    turns = with_examples(style, [question], [WEATHER], policy)
    assert turns[-1]["role"] == "user" and turns[-1]["content"].endswith("What is 2+2?")
    for i, example in enumerate(shown):
        asked, answer = turns[2 * i], turns[2 * i + 1]
        assert asked["role"] == "user" and example.question in asked["content"]
        assert example.tools[0].name in asked["content"]  # the example's own tool is announced with it
        parsed = parse_text(style.output_format(list(example.tools)), answer["content"])
        assert [(c.name, json.loads(c.arguments)) for c in parsed.calls] == list(example.calls)
    single = with_examples(style, [question], [WEATHER], CallPolicy("auto", parallel=False))
    assert len(single) == 2 * 2 + 1
    none_turns = with_examples(style, [question], [WEATHER], CallPolicy("none"))
    assert all(example.question not in t["content"] for example in shown for t in none_turns)


def test_worked_examples_are_a_fixed_prefix() -> None:
    """The examples do not depend on the request: two requests with different tools share them as their
    exact prefix (llama.cpp's prompt cache evaluates them once)."""
    from toolproxy.styles.examples import with_examples

    other = ToolSpec("get_time", "Time in a city.", {"type": "object", "properties": {"city": {"type": "string"}}})
    for name in ("hermes", "functionary", "mixtral", "thoughtful_steps"):
        style = get_style(name)
        a = with_examples(style, [ChatMessage(role="user", content="Weather in Rome?")], [WEATHER], CallPolicy("auto"))
        b = with_examples(style, [ChatMessage(role="user", content="Time in Oslo?")], [other], CallPolicy("auto"))
        assert a[:6] == b[:6] and a[6] != b[6]
