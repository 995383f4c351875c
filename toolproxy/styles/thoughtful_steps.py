"""thoughtful_steps: the whole answer is one JSON object with a short thought, then the next step::

    {"thought_about_next_step_only": "...", "next_step": {"tool_calls": [{"name": ..., "arguments": {...}}]}}
    {"thought_about_next_step_only": "...", "next_step": {"result": "..."}}

(the original llama.cpp agent proposal). The thought becomes ``reasoning_content``, ``result`` the
``content``. The generation prefix opens the object and the thought string, so even a base model starts
right; the grammar bounds the thought to ``THOUGHT_CHARS`` characters (small models otherwise loop in
it) and admits ``tool_calls`` only under ``required``, ``result`` only under ``none`` (tools not
announced), either under ``auto``; ``parallel`` false = a list of exactly one call.
"""

from __future__ import annotations

from typing import Any, ClassVar

from toolproxy.grammar import GrammarBuilder, Layout, gbnf_literal
from toolproxy.parsing.format import JsonBody, OutputFormat, Region
from toolproxy.protocol import ChatMessage
from toolproxy.styles.base import CallPolicy, Style, ToolSpec
from toolproxy.styles.common import (
    Call,
    Message,
    TurnWriter,
    dumps,
    policy_hint,
    render_prompt,
    system_text,
)
from toolproxy.styles.grammar_kit import json_call_rule
from toolproxy.styles.typescript import functions_namespace

THOUGHT = "thought_about_next_step_only"
PREFIX = '{"' + THOUGHT + '": "'
THOUGHT_CHARS = 160

FORMAT = OutputFormat(
    regions=(
        Region(
            "{",
            JsonBody(
                rules=(
                    ((THOUGHT,), "reasoning"),
                    (("next_step", "result"), "text"),
                    (("next_step", "tool_calls", "*"), "call"),
                )
            ),
            keep_start=True,
            anchored=True,
        ),
    )
)


def _assistant(text: str, calls: list[Call], message: ChatMessage) -> str:
    step: dict[str, Any] = (
        {"tool_calls": [{"name": c.name, "arguments": c.arguments} for c in calls]} if calls else {"result": text}
    )
    return dumps({THOUGHT: message.reasoning_content or "", "next_step": step})


def _tool(name: str, content: str) -> str:
    return dumps({"tool_result": {"name": name, "content": content}})


class ThoughtfulSteps(Style):
    name: ClassVar[str] = "thoughtful_steps"
    json_layout: ClassVar[Layout] = "dumps"  # BFCL 50+50 on gemma, free -> dumps: README "JSON layout"
    description: ClassVar[str] = "JSON: a short thought, then tool_calls or the final result"

    def prepare_messages(self, messages: list[ChatMessage], tools: list[ToolSpec], policy: CallPolicy) -> list[Message]:
        announced = tools if policy.mode != "none" else []
        system = render_prompt(
            "thoughtful_steps.jinja",
            tools=announced,
            namespace=functions_namespace(announced),
            hint=policy_hint(policy, tools) if announced else "",
            system=system_text(messages),
        )
        return [
            {"role": "system", "content": system},
            *TurnWriter(_assistant, _tool).write(messages),
        ]

    def generation_prefix(self, tools: list[ToolSpec], policy: CallPolicy) -> str:
        return PREFIX

    def grammar(self, tools: list[ToolSpec], policy: CallPolicy) -> str | None:
        b = GrammarBuilder(policy.layout)
        ws = b.fragment("ws")
        char = b.fragment("string-char")
        steps: list[str] = []
        if tools and policy.mode != "none":
            call = json_call_rule(b, tools)
            more = f' ( {ws} "," {ws} {call} )*' if policy.parallel else ""
            calls = b.add_rule(
                "tool-calls",
                f'"{{" {ws} {gbnf_literal(dumps("tool_calls"))} {ws} ":" {ws} "[" {ws} {call}{more} {ws} "]" {ws} "}}"',
            )
            steps.append(calls)
        if not steps or policy.mode != "required":
            string = b.fragment("string")
            key = gbnf_literal(dumps("result"))
            steps.append(b.add_rule("result", f'"{{" {ws} {key} {ws} ":" {ws} {string} {ws} "}}"'))
        step = b.add_rule("next-step", " | ".join(steps))
        return b.build(
            f'{char}{{0,{THOUGHT_CHARS}}} "\\"" {ws} "," {ws} {gbnf_literal(dumps("next_step"))} {ws} ":" {ws} '
            f'{step} {ws} "}}"'
        )

    def output_format(self, tools: list[ToolSpec]) -> OutputFormat:
        return FORMAT
