"""Apriel (ServiceNow, 1.5 / 1.6) style: text, then
``<tool_calls>[{"name": ..., "arguments": {...}, "id": ...}]</tool_calls>``.

Tools are announced in ``<available_tools>`` as Apriel's template does. The grammar lets the model write an
id (optional; the scanner ignores it). Grammar: ``auto`` = text (without ``<tool_calls>``), then optionally
the call list; ``required`` = the call list; ``none`` = text; ``parallel`` false = a list of one call.
"""

from __future__ import annotations

from typing import ClassVar

from toolproxy.grammar import GrammarBuilder, gbnf_literal
from toolproxy.parsing.format import JsonBody, OutputFormat, Region
from toolproxy.protocol import ChatMessage
from toolproxy.styles.base import CallPolicy, Style, ToolSpec
from toolproxy.styles.common import Call, Message, dumps, tool_dicts
from toolproxy.styles.grammar_kit import args_rule, text_excluding
from toolproxy.styles.mistral import mistral_id
from toolproxy.styles.prompting import compose

OPEN = "<tool_calls>"
CLOSE = "</tool_calls>"
FORMAT = OutputFormat(regions=(Region(OPEN, JsonBody(rules=((("*",), "call"),)), end=CLOSE),))


def announce(tools: list[ToolSpec]) -> str:
    listed = "\n".join(dumps(t) for t in tool_dicts(tools))
    return (
        "You are provided with function signatures within <available_tools></available_tools> XML tags. "
        "You may call one or more functions to assist with the user query. Don't make assumptions about the "
        "arguments. You should infer the argument values from previous user responses and the system message. "
        f"Here are the available tools:\n<available_tools>\n{listed}\n</available_tools>\n"
        f'To call functions, write {OPEN}[{{"name": "function_name", "arguments": {{...}}}}]{CLOSE}.'
    )


def _assistant(text: str, calls: list[Call], message: ChatMessage) -> str:
    if not calls:
        return text
    ids = [tc.id or f"call_{i}" for i, tc in enumerate(message.tool_calls or [])] or [
        f"call_{mistral_id(c.name)}" for c in calls
    ]
    listed = [{"name": c.name, "arguments": c.arguments, "id": i} for c, i in zip(calls, ids, strict=True)]
    return (f"{text}\n" if text else "") + f"{OPEN}{dumps(listed)}{CLOSE}"


def _tool(_: str, content: str) -> str:
    return f"<tool_result>\n{content}\n</tool_result>"


class Apriel(Style):
    name: ClassVar[str] = "apriel"
    description: ClassVar[str] = "<tool_calls>[{name, arguments, id}]</tool_calls> after optional text (Apriel)"

    def prepare_messages(self, messages: list[ChatMessage], tools: list[ToolSpec], policy: CallPolicy) -> list[Message]:
        return compose(messages, tools, policy, announce=announce, assistant=_assistant, tool=_tool)

    def grammar(self, tools: list[ToolSpec], policy: CallPolicy) -> str | None:
        b = GrammarBuilder(policy.layout)
        text = text_excluding(b, "text", [OPEN])
        if policy.mode == "none" or not tools:
            return b.build(text)
        ws = b.fragment("ws")
        string = b.fragment("string")
        identifier = b.add_rule("call-id", f'( {ws} "," {ws} "\\"id\\"" {ws} ":" {ws} {string} )?')
        alternatives = [
            b.add_rule(
                f"call-{t.name}",
                f'"{{" {ws} "\\"name\\"" {ws} ":" {ws} {gbnf_literal(dumps(t.name))} {ws} "," {ws} '
                f'"\\"arguments\\"" {ws} ":" {ws} {args_rule(b, t)} {identifier} {ws} "}}"',
            )
            for t in tools
        ]
        call = b.add_rule("call", " | ".join(alternatives))
        more = f' ( {ws} "," {ws} {call} )*' if policy.parallel else ""
        block = b.add_rule("tool-calls", f'{gbnf_literal(OPEN)} "[" {ws} {call}{more} {ws} "]" {gbnf_literal(CLOSE)}')
        if policy.mode == "required":
            return b.build(block)
        return b.build(f"{text} {block}?")

    def output_format(self, tools: list[ToolSpec]) -> OutputFormat:
        return FORMAT
