"""Llama 3.1/3.2/3.3 style: a call is the JSON object ``{"name": ..., "parameters": {...}}`` as the whole
answer (Meta's "JSON based tool calling"); ``<|python_tag|>`` opens a call too (the built-in tools' and
code interpreter's marker, which Llama also puts before JSON calls).

Tools are announced the way Meta's template does it (JSON function definitions with the "Respond in the
format ..." instruction, in the first user turn: Llama 3.2/3.3 read tools there). Tool results go back as
user turns (the ``ipython`` role is the template's business). Llama's template admits one call per turn;
under ``parallel`` further calls follow, each behind ``<|python_tag|>``.
Grammar: ``auto`` = text (never starting with ``{``, never containing ``<|python_tag|>``) | calls;
``required`` = calls; ``none`` = text; ``parallel`` false = one call.
"""

from __future__ import annotations

from typing import ClassVar

from toolproxy.grammar import GrammarBuilder, gbnf_literal
from toolproxy.parsing.format import JsonBody, OutputFormat, Region
from toolproxy.protocol import ChatMessage
from toolproxy.styles.base import CallPolicy, Style, ToolSpec
from toolproxy.styles.common import Call, Message, dumps, tool_dicts
from toolproxy.styles.grammar_kit import json_call_rule
from toolproxy.styles.leading import text_not_starting
from toolproxy.styles.prompting import compose

PYTHON_TAG = "<|python_tag|>"
FORMAT = OutputFormat(
    regions=(
        Region("{", JsonBody(), keep_start=True, anchored=True),
        Region(PYTHON_TAG, JsonBody()),
    )
)


def announce(tools: list[ToolSpec]) -> str:
    listed = "\n\n".join(dumps(t) for t in tool_dicts(tools))
    return (
        "Given the following functions, please respond with a JSON for a function call with its proper "
        "arguments that best answers the given prompt.\n\n"
        'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}. '
        "Do not use variables.\n\n"
        f"{listed}"
    )


def _assistant(text: str, calls: list[Call], _: ChatMessage) -> str:
    if not calls:
        return text
    objects = [dumps({"name": c.name, "parameters": c.arguments}) for c in calls]
    return "\n".join([objects[0], *(PYTHON_TAG + o for o in objects[1:])])


def _tool(_: str, content: str) -> str:
    return content


class Llama3(Style):
    name: ClassVar[str] = "llama3"
    description: ClassVar[str] = '{"name": ..., "parameters": {...}} as the whole answer (Llama 3.1-3.3)'

    def prepare_messages(self, messages: list[ChatMessage], tools: list[ToolSpec], policy: CallPolicy) -> list[Message]:
        return compose(messages, tools, policy, announce=announce, assistant=_assistant, tool=_tool)

    def grammar(self, tools: list[ToolSpec], policy: CallPolicy) -> str | None:
        b = GrammarBuilder(policy.layout)
        if policy.mode == "none" or not tools:
            return b.build(text_not_starting(b, "text", "{", [PYTHON_TAG]))
        ws = b.fragment("ws")
        call = json_call_rule(b, tools, args_key="parameters")
        more = f" ( {ws} {gbnf_literal(PYTHON_TAG)} {call} )*" if policy.parallel else ""
        calls = b.add_rule("calls", f"{call}{more}")
        if policy.mode == "required":
            return b.build(calls)
        return b.build(f"{text_not_starting(b, 'text', '{', [PYTHON_TAG])} | {calls}")

    def output_format(self, tools: list[ToolSpec]) -> OutputFormat:
        return FORMAT
