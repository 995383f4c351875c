"""Functionary v2 style: tools as TypeScript in ``namespace functions``, recipient/content messages.

Every assistant message is ``<|from|>assistant\\n<|recipient|>R\\n<|content|>C``: ``R`` = ``all`` for
text to the user, else a function name with ``C`` its JSON arguments. Several messages in one turn are
joined by ``\\n`` (v2.2's chat template), e.g.::

    <|from|>assistant
    <|recipient|>all
    <|content|>Let me check.
    <|from|>assistant
    <|recipient|>get_weather
    <|content|>{"city": "Paris"}

The generation prefix is ``<|from|>assistant\\n<|recipient|>`` (as v2's generation prompt), so the model
only chooses the recipient. Tool results are ``<|from|>NAME\\n<|recipient|>all\\n<|content|>RESULT`` in
a user turn. ``<|stop|>`` is not rendered (the chat template ends turns) and is ignored when generated.
Grammar: ``auto`` = an optional ``all`` text message, then calls; ``required`` = calls only; ``none`` =
one ``all`` message (tools not announced); ``parallel`` false = one call.
"""

from __future__ import annotations

from typing import ClassVar

from toolproxy.grammar import GrammarBuilder, Layout, gbnf_literal
from toolproxy.parsing.format import NamedCallBody, OutputFormat, Region
from toolproxy.protocol import ChatMessage
from toolproxy.styles.base import CallPolicy, Style, ToolSpec
from toolproxy.styles.common import Call, Message, TurnWriter, policy_hint, render_prompt, system_text
from toolproxy.styles.grammar_kit import args_rule, repeat, text_excluding
from toolproxy.styles.typescript import functions_namespace

HEADER = "<|from|>assistant\n<|recipient|>"
CONTENT = "\n<|content|>"
TEXT_HEADER = HEADER + "all" + CONTENT
STOP = "<|stop|>"


def _assistant(text: str, calls: list[Call], _: ChatMessage) -> str:
    parts = [TEXT_HEADER + text] if text or not calls else []
    parts += [HEADER + c.name + CONTENT + c.arguments_json for c in calls]
    return "\n".join(parts)


def _tool(name: str, content: str) -> str:
    return f"<|from|>{name}\n<|recipient|>all\n<|content|>{content}"


class Functionary(Style):
    name: ClassVar[str] = "functionary"
    json_layout: ClassVar[Layout] = "dumps"  # BFCL 50+50 on gemma, free -> dumps: README "JSON layout"
    description: ClassVar[str] = "Functionary v2: TypeScript namespace, <|recipient|>/<|content|> messages"

    def prepare_messages(self, messages: list[ChatMessage], tools: list[ToolSpec], policy: CallPolicy) -> list[Message]:
        announced = tools if policy.mode != "none" else []
        system = render_prompt(
            "functionary.jinja",
            namespace=functions_namespace(announced),
            hint=policy_hint(policy, tools) if announced else "",
            system=system_text(messages),
        )
        return [
            {"role": "system", "content": system},
            *TurnWriter(_assistant, _tool).write(messages),
        ]

    def generation_prefix(self, tools: list[ToolSpec], policy: CallPolicy) -> str:
        return HEADER

    def grammar(self, tools: list[ToolSpec], policy: CallPolicy) -> str | None:
        b = GrammarBuilder(policy.layout)
        if policy.mode == "none" or not tools:
            return b.build(self._text_message(b))
        alternatives = [f"{gbnf_literal(t.name + CONTENT)} {args_rule(b, t)}" for t in tools]
        call = b.add_rule("call", " | ".join(alternatives))
        separator = gbnf_literal("\n" + HEADER)
        calls = repeat(b, "calls", call, separator, many=policy.parallel)
        if policy.mode == "required":
            return b.build(calls)
        message = self._text_message(b)
        return b.build(f"{message} | ( {message} {separator} )? {calls}")

    @staticmethod
    def _text_message(b: GrammarBuilder) -> str:
        text = text_excluding(b, "text", [HEADER, STOP])
        return b.add_rule("text-message", f"{gbnf_literal('all' + CONTENT)} {text}")

    def output_format(self, tools: list[ToolSpec]) -> OutputFormat:
        return OutputFormat(
            regions=(Region(HEADER, NamedCallBody(CONTENT)),),
            silent=(TEXT_HEADER, STOP),
        )
