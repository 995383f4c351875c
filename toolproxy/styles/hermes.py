"""Hermes 2 Pro / Qwen 2.5 style: ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``.

Tools are announced as JSON lines inside ``<tools></tools>`` in the system prompt, results come back in
``<tool_response>`` blocks (in a user turn). Grammar per policy:

- ``auto``: free text (which cannot contain ``<tool_call>``), optionally followed by call blocks. Text is
  admitted *before* the calls only, never after them: a small model that finished its call must stop
  instead of rambling on (the scanner still accepts text anywhere from unconstrained upstreams).
- ``required`` (and a named tool): call blocks only, after at most the bounded blank of ``ws`` (Reka Edge's
  prompt ends ``assistant:`` and its template writes ``assistant: <tool_call>``). ``none``: text only, tools not
  announced.
- ``parallel`` false: exactly one block where calls are made.
"""

from __future__ import annotations

from typing import ClassVar

from toolproxy.grammar import GrammarBuilder, gbnf_literal
from toolproxy.parsing.format import JsonBody, OutputFormat, Region
from toolproxy.protocol import ChatMessage
from toolproxy.styles.base import CallPolicy, LazyGrammar, Style, ToolSpec
from toolproxy.styles.common import (
    Call,
    Message,
    TurnWriter,
    dumps,
    policy_hint,
    render_prompt,
    system_text,
    tool_dicts,
)
from toolproxy.styles.grammar_kit import json_call_rule, repeat, text_excluding

OPEN = "<tool_call>"
CLOSE = "</tool_call>"


def _assistant(text: str, calls: list[Call], _: ChatMessage) -> str:
    blocks = [f"{OPEN}\n{dumps({'name': c.name, 'arguments': c.arguments})}\n{CLOSE}" for c in calls]
    return "\n".join([text, *blocks] if text else blocks)


def _tool(_: str, content: str) -> str:
    return f"<tool_response>\n{content}\n</tool_response>"


class Hermes(Style):
    name: ClassVar[str] = "hermes"
    description: ClassVar[str] = "<tool_call>{json}</tool_call> blocks, free text before them (Hermes/Qwen)"

    def prepare_messages(self, messages: list[ChatMessage], tools: list[ToolSpec], policy: CallPolicy) -> list[Message]:
        system = system_text(messages)
        out: list[Message] = []
        if tools and policy.mode != "none":
            system = render_prompt(
                "hermes.jinja", tools=tool_dicts(tools), hint=policy_hint(policy, tools), system=system
            )
        if system:
            out.append({"role": "system", "content": system})
        return out + TurnWriter(_assistant, _tool).write(messages)

    def grammar(self, tools: list[ToolSpec], policy: CallPolicy) -> str | None:
        b = GrammarBuilder(policy.layout)
        if policy.mode == "none" or not tools:
            return b.build(text_excluding(b, "text", [OPEN]))
        ws = b.fragment("ws")
        call = json_call_rule(b, tools)
        block = b.add_rule("tool-call-block", f"{gbnf_literal(OPEN)} {ws} {call} {ws} {gbnf_literal(CLOSE)}")
        calls = repeat(b, "tool-calls", block, ws, many=policy.parallel)
        if policy.mode == "required":  # bounded blank first: Reka Edge's "assistant:" prompt, " <tool_call>"
            return b.build(f"{ws} {calls} {ws}")
        return b.build(f"{text_excluding(b, 'text', [OPEN])} ( {calls} {ws} )?")

    def lazy_grammar(self, tools: list[ToolSpec], policy: CallPolicy) -> LazyGrammar | None:
        if policy.mode != "auto" or not tools:
            return None
        b = GrammarBuilder(policy.layout)
        ws = b.fragment("ws")
        block = b.add_rule("tool-call-block", f"{gbnf_literal(OPEN)} {ws} {json_call_rule(b, tools)} {ws} "
                                              f"{gbnf_literal(CLOSE)}")
        return LazyGrammar(b.build(f"{repeat(b, 'tool-calls', block, ws, many=policy.parallel)} {ws}"), (OPEN,))

    def output_format(self, tools: list[ToolSpec]) -> OutputFormat:
        return OutputFormat(regions=(Region(OPEN, JsonBody(), end=CLOSE),))
