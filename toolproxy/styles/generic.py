"""generic: the whole answer is one JSON object, ``{"tool_calls": [{"name": ..., "arguments": {...}}]}`` or
``{"response": "..."}``: for models with no known tool-call format (any instruct model can write JSON).

Grammar: ``auto`` = either object; ``required`` = tool_calls; ``none`` = response (tools not announced);
``parallel`` false = a list of exactly one call.
"""

from __future__ import annotations

from typing import ClassVar

from toolproxy.grammar import GrammarBuilder, gbnf_literal
from toolproxy.parsing.format import JsonBody, OutputFormat, Region
from toolproxy.protocol import ChatMessage
from toolproxy.styles.base import CallPolicy, Style, ToolSpec
from toolproxy.styles.common import Call, Message, dumps, tool_dicts
from toolproxy.styles.grammar_kit import json_call_rule
from toolproxy.styles.prompting import compose

FORMAT = OutputFormat(
    regions=(
        Region(
            "{",
            JsonBody(rules=((("tool_calls", "*"), "call"), (("response",), "text"))),
            keep_start=True,
            anchored=True,
        ),
    )
)


def announce(tools: list[ToolSpec]) -> str:
    listed = "\n".join(dumps(t) for t in tool_dicts(tools))
    return (
        "You can call these tools:\n"
        f"{listed}\n"
        "Answer with one JSON object only. To call tools, answer "
        '{"tool_calls": [{"name": "tool_name", "arguments": {"parameter": "value"}}]}. '
        'To answer the user directly, answer {"response": "your answer"}.'
    )


def _assistant(text: str, calls: list[Call], _: ChatMessage) -> str:
    if calls:
        return dumps({"tool_calls": [{"name": c.name, "arguments": c.arguments} for c in calls]})
    return dumps({"response": text})


def _tool(name: str, content: str) -> str:
    return dumps({"tool_result": {"name": name, "content": content}})


def calls_object(b: GrammarBuilder, tools: list[ToolSpec], parallel: bool, key: str = "tool_calls") -> str:
    ws = b.fragment("ws")
    call = json_call_rule(b, tools)
    more = f' ( {ws} "," {ws} {call} )*' if parallel else ""
    return b.add_rule(
        "tool-calls", f'"{{" {ws} {gbnf_literal(dumps(key))} {ws} ":" {ws} "[" {ws} {call}{more} {ws} "]" {ws} "}}"'
    )


class Generic(Style):
    name: ClassVar[str] = "generic"
    description: ClassVar[str] = 'JSON {"tool_calls": [...]} or {"response": "..."} (models with no known format)'

    def prepare_messages(self, messages: list[ChatMessage], tools: list[ToolSpec], policy: CallPolicy) -> list[Message]:
        return compose(messages, tools, policy, announce=announce, assistant=_assistant, tool=_tool)

    def grammar(self, tools: list[ToolSpec], policy: CallPolicy) -> str | None:
        b = GrammarBuilder(policy.layout)
        ws = b.fragment("ws")
        options: list[str] = []
        if tools and policy.mode != "none":
            options.append(calls_object(b, tools, policy.parallel))
        if not options or policy.mode != "required":
            string = b.fragment("string")
            key = gbnf_literal(dumps("response"))
            options.append(b.add_rule("response", f'"{{" {ws} {key} {ws} ":" {ws} {string} {ws} "}}"'))
        return b.build(" | ".join(options))

    def output_format(self, tools: list[ToolSpec]) -> OutputFormat:
        return FORMAT
