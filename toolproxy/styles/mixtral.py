"""Mixtral-instruct style: ``[TOOL_CALLS][{"name": ..., "arguments": {...}}, ...]``.

Mixtral's template accepts only alternating user/assistant turns, so the system prompt (with the
``<tools>`` announcement) and tool results (``[TOOL_RESULTS]...[/TOOL_RESULTS]``) are folded into user
turns. Mixtral writes names markdown-escaped (``get\\_weather``): the grammar admits that spelling and
the scanner's JSON decoding un-escapes it. Grammar: ``auto`` = text *or* a call list; ``required`` =
the call list; ``none`` = text that cannot contain ``[TOOL_CALLS]`` (tools not announced);
``parallel`` false = a list of exactly one call.
"""

from __future__ import annotations

from typing import ClassVar

from toolproxy.grammar import GrammarBuilder, Layout, gbnf_literal
from toolproxy.parsing.format import JsonBody, OutputFormat, Region
from toolproxy.protocol import ChatMessage
from toolproxy.styles.base import CallPolicy, LazyGrammar, Style, ToolSpec
from toolproxy.styles.common import (
    Call,
    Message,
    TurnWriter,
    dumps,
    fold_user_turns,
    policy_hint,
    render_prompt,
    system_text,
    tool_dicts,
)
from toolproxy.styles.grammar_kit import json_call_rule, text_excluding

MARKER = "[TOOL_CALLS]"


def _assistant(text: str, calls: list[Call], _: ChatMessage) -> str:
    if not calls:
        return text
    listed = MARKER + dumps([{"name": c.name, "arguments": c.arguments} for c in calls])
    return f"{text}\n{listed}" if text else listed


def _tool(name: str, content: str) -> str:
    return f"[TOOL_RESULTS]{dumps({'name': name, 'content': content})}[/TOOL_RESULTS]"


class Mixtral(Style):
    name: ClassVar[str] = "mixtral"
    json_layout: ClassVar[Layout] = "dumps"  # BFCL 50+50 on gemma, free -> dumps: README "JSON layout"
    description: ClassVar[str] = "[TOOL_CALLS][...] call lists, system/tool turns folded into user turns"

    def prepare_messages(self, messages: list[ChatMessage], tools: list[ToolSpec], policy: CallPolicy) -> list[Message]:
        system = system_text(messages)
        if tools and policy.mode != "none":
            system = render_prompt(
                "mixtral.jinja", tools=tool_dicts(tools), hint=policy_hint(policy, tools), system=system
            )
        turns = TurnWriter(_assistant, _tool).write(messages)
        if system:
            turns.insert(0, {"role": "user", "content": system})
        return fold_user_turns(turns)

    def grammar(self, tools: list[ToolSpec], policy: CallPolicy) -> str | None:
        b = GrammarBuilder(policy.layout)
        if policy.mode == "none" or not tools:
            return b.build(text_excluding(b, "text", [MARKER]))
        ws = b.fragment("ws")
        call = json_call_rule(b, tools, escaped_underscores=True)
        more = f' ( {ws} "," {ws} {call} )*' if policy.parallel else ""
        calls = b.add_rule("tool-calls", f'{gbnf_literal(MARKER)} {ws} "[" {ws} {call}{more} {ws} "]"')
        if policy.mode == "required":
            return b.build(calls)
        return b.build(f"{text_excluding(b, 'text', [MARKER])} | {calls}")

    def lazy_grammar(self, tools: list[ToolSpec], policy: CallPolicy) -> LazyGrammar | None:
        if policy.mode != "auto" or not tools:
            return None
        b = GrammarBuilder(policy.layout)
        ws = b.fragment("ws")
        call = json_call_rule(b, tools, escaped_underscores=True)
        more = f' ( {ws} "," {ws} {call} )*' if policy.parallel else ""
        return LazyGrammar(b.build(f'{gbnf_literal(MARKER)} {ws} "[" {ws} {call}{more} {ws} "]"'), (MARKER,))

    def output_format(self, tools: list[ToolSpec]) -> OutputFormat:
        return OutputFormat(regions=(Region(MARKER, JsonBody(rules=((("*",), "call"),))),))
