"""Worked examples shown before the conversation: small and base models copy a format they have seen done.

Each example is a whole exchange in the style's own syntax: the style's tool announcement for the
example's tools, a user question, and the assistant's calls (rendered by the style itself, so every style
gets them without code of its own). Showing the tools with the question teaches the mapping a model must
make (a parameter's description -> a value taken from the question); the examples cover a string copied
from the question, numbers, a list, a boolean the question turns on, an optional parameter left out, and —
only when parallel calls are allowed — two calls for a question that asks for two things, so that the model
neither repeats a call nor misses the second one.

The examples come first and do not depend on the request, so the prompt prefix they make is the same for
every request of a style and policy: llama.cpp's prompt cache evaluates them once. The request's own tool
announcement (and system text) then opens its first user turn.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from toolproxy.protocol import ChatMessage, FunctionCall, ToolCall
from toolproxy.styles.base import CallPolicy, ToolSpec
from toolproxy.styles.common import Message, dumps

if TYPE_CHECKING:
    from toolproxy.styles.base import Style


@dataclass(frozen=True)
class Example:
    tools: tuple[ToolSpec, ...]
    question: str
    thought: str
    calls: tuple[tuple[str, dict[str, object]], ...]


WEATHER = ToolSpec(
    "get_weather",
    "Get the current weather in a city.",
    {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "The city name, e.g. Berlin."},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "description": "Temperature unit."},
        },
        "required": ["city"],
    },
)
BOOKS = ToolSpec(
    "library.find_books",
    "Find books by an author.",
    {
        "type": "object",
        "properties": {
            "author": {"type": "string", "description": "The author's full name."},
            "year": {"type": "integer", "description": "Publication year."},
            "genres": {"type": "array", "items": {"type": "string"}, "description": "Genres to include."},
            "detailed": {"type": "boolean", "description": "Whether to return detailed information. Default false."},
        },
        "required": ["author"],
    },
)
CURRENCY = ToolSpec(
    "convert_currency",
    "Convert an amount of money from one currency to another.",
    {
        "type": "object",
        "properties": {
            "amount": {"type": "number", "description": "The amount to convert."},
            "from_currency": {"type": "string", "description": "Currency code to convert from, e.g. USD."},
            "to_currency": {"type": "string", "description": "Currency code to convert to, e.g. EUR."},
        },
        "required": ["amount", "from_currency", "to_currency"],
    },
)

PARALLEL = Example(
    (CURRENCY,),
    "Convert 150 US dollars to euros and to yen.",
    "Two conversions are asked for, so I call convert_currency twice.",
    (
        ("convert_currency", {"amount": 150, "from_currency": "USD", "to_currency": "EUR"}),
        ("convert_currency", {"amount": 150, "from_currency": "USD", "to_currency": "JPY"}),
    ),
)
DETAILED = Example(
    (BOOKS,),
    "Give me detailed information about the mystery and romance novels Agatha Christie published in 1934.",
    "The user wants books by Agatha Christie from 1934, so I call library.find_books once.",
    (("library.find_books", {"author": "Agatha Christie", "year": 1934, "genres": ["mystery", "romance"],
                             "detailed": True}),),
)
SINGLE = Example(
    (WEATHER,),
    "What is the weather like in Paris today?",
    "The user asks for the weather in Paris, so I call get_weather once.",
    (("get_weather", {"city": "Paris"}),),
)


def examples_for(tools: list[ToolSpec], policy: CallPolicy) -> tuple[Example, ...]:
    """The examples for a request: none when no tools are offered or calls are off; the two-call one only
    when parallel calls are allowed. The last one shown is a single call."""
    if not tools or policy.mode == "none":
        return ()
    return _shown(policy)


def _shown(policy: CallPolicy) -> tuple[Example, ...]:
    return (PARALLEL, DETAILED, SINGLE) if policy.parallel else (DETAILED, SINGLE)


def _exchange(example: Example) -> list[ChatMessage]:
    calls = [
        ToolCall(id=f"call_example_{i}", type="function", function=FunctionCall(name=name, arguments=dumps(args)))
        for i, (name, args) in enumerate(example.calls)
    ]
    return [
        ChatMessage(role="user", content=example.question),
        ChatMessage(role="assistant", content=None, tool_calls=calls, reasoning_content=example.thought),
    ]


def fold_system(turns: list[Message]) -> list[Message]:
    """A leading system message becomes the start of the first user turn (the example exchanges come
    before it, and the announcement must stay next to the question it belongs to)."""
    if len(turns) >= 2 and turns[0]["role"] == "system" and turns[1]["role"] == "user":
        return [{"role": "user", "content": turns[0]["content"] + "\n\n" + turns[1]["content"]}, *turns[2:]]
    if turns and turns[0]["role"] == "system":
        return [{"role": "user", "content": turns[0]["content"]}, *turns[1:]]
    return turns


def with_examples(
    style: Style, messages: list[ChatMessage], tools: list[ToolSpec], policy: CallPolicy
) -> list[Message]:
    """``style.prepare_messages`` for the request, preceded by the worked examples in the same style."""
    turns = style.prepare_messages(messages, tools, policy)
    if not examples_for(tools, policy):
        return turns
    return [*(dict(turn) for turn in _example_turns(type(style), policy)), *fold_system(turns)]


@lru_cache(maxsize=64)
def _example_turns(style_class: type[Style], policy: CallPolicy) -> tuple[Message, ...]:
    """The rendered example exchanges: they depend only on the style and the policy, so they are rendered
    once per style class and policy, not on every request (callers get copies)."""
    style = style_class()
    out: list[Message] = []
    for example in _shown(policy):
        out += fold_system(style.prepare_messages(_exchange(example), list(example.tools), policy))
    return tuple(out)
