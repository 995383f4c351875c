"""short / long: ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` inserts anywhere in free text
(text before, between and after calls), tools announced in a ``<tools>`` system block.

- ``short``: a compact announcement, one ``name(parameters JSON)`` line per tool, one line of instruction.
- ``long``: every tool's full definition (descriptions included), the rules spelled out, and an example.

Grammar: ``auto`` = text ( call text )*; ``required`` = text call ( text call )* text (at least one call);
``none`` = text only (tools not announced); ``parallel`` false = at most / exactly one call.
"""

from __future__ import annotations

from typing import ClassVar

from toolproxy.grammar import GrammarBuilder, gbnf_literal
from toolproxy.parsing.format import JsonBody, OutputFormat, Region
from toolproxy.protocol import ChatMessage
from toolproxy.styles.base import CallPolicy, Style, ToolSpec
from toolproxy.styles.common import Call, Message, dumps, tool_dicts
from toolproxy.styles.grammar_kit import json_call_rule, text_excluding
from toolproxy.styles.prompting import compose

OPEN = "<tool_call>"
CLOSE = "</tool_call>"
FORMAT = OutputFormat(regions=(Region(OPEN, JsonBody(), end=CLOSE),))


def announce_short(tools: list[ToolSpec]) -> str:
    lines = "\n".join(f"{t.name}({dumps(t.parameters.get('properties', {}))})" for t in tools)
    return (
        f"<tools>\n{lines}\n</tools>\n"
        f'Call a tool by writing {OPEN}{{"name": "tool_name", "arguments": {{...}}}}{CLOSE} in your answer.'
    )


def announce_long(tools: list[ToolSpec]) -> str:
    listed = "\n".join(dumps(t) for t in tool_dicts(tools))
    return (
        "You can use the tools described below. Each tool is a JSON object with its name, a description of "
        "what it does and the JSON Schema of its parameters.\n"
        f"<tools>\n{listed}\n</tools>\n\n"
        "To call a tool, write a tool call block anywhere in your answer:\n"
        f'{OPEN}{{"name": "tool_name", "arguments": {{"parameter": "value"}}}}{CLOSE}\n'
        "Rules:\n"
        "- The arguments must be a JSON object matching the tool's parameters schema.\n"
        "- Take the argument values from the conversation; do not invent values.\n"
        "- You may write text before and after a call, and call several tools in one answer.\n"
        "- After your calls, the results come back in <tool_response> blocks.\n"
        "Example:\n"
        f'Let me look that up. {OPEN}{{"name": "get_weather", "arguments": {{"city": "Paris"}}}}{CLOSE}'
    )


def _assistant(text: str, calls: list[Call], _: ChatMessage) -> str:
    blocks = "".join(f"{OPEN}{dumps({'name': c.name, 'arguments': c.arguments})}{CLOSE}" for c in calls)
    return f"{text} {blocks}".strip() if text else blocks


def _tool(name: str, content: str) -> str:
    return f"<tool_response>{dumps({'name': name, 'content': content})}</tool_response>"


class _Inserts(Style):
    @staticmethod
    def _announce(tools: list[ToolSpec]) -> str:
        raise NotImplementedError

    def prepare_messages(self, messages: list[ChatMessage], tools: list[ToolSpec], policy: CallPolicy) -> list[Message]:
        return compose(messages, tools, policy, announce=self._announce, assistant=_assistant, tool=_tool)

    def grammar(self, tools: list[ToolSpec], policy: CallPolicy) -> str | None:
        b = GrammarBuilder(policy.layout)
        text = text_excluding(b, "text", [OPEN])
        if policy.mode == "none" or not tools:
            return b.build(text)
        ws = b.fragment("ws")
        call = json_call_rule(b, tools)
        block = b.add_rule("tool-call-block", f"{gbnf_literal(OPEN)} {ws} {call} {ws} {gbnf_literal(CLOSE)}")
        if policy.mode == "required":
            more = f" ( {text} {block} )*" if policy.parallel else ""
            return b.build(f"{text} {block}{more} {text}")
        if policy.parallel:
            return b.build(f"{text} ( {block} {text} )*")
        return b.build(f"{text} ( {block} {text} )?")

    def output_format(self, tools: list[ToolSpec]) -> OutputFormat:
        return FORMAT


class Short(_Inserts):
    name: ClassVar[str] = "short"
    description: ClassVar[str] = "<tool_call> inserts in free text, compact <tools> announcement"

    @staticmethod
    def _announce(tools: list[ToolSpec]) -> str:
        return announce_short(tools)


class Long(_Inserts):
    name: ClassVar[str] = "long"
    description: ClassVar[str] = "<tool_call> inserts in free text, <tools> with descriptions, rules and an example"

    @staticmethod
    def _announce(tools: list[ToolSpec]) -> str:
        return announce_long(tools)
