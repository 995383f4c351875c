"""Functionary v3 styles (MeetKai, Llama 3.1 based).

- ``functionary_v3.1``: calls are ``<function=NAME>{json arguments}</function>`` after optional text; tools
  are announced as ``Use the function 'NAME' to 'DESCRIPTION':`` + the JSON definition, with the
  "ONLY reply in the following format" instruction of the v3.1 template.
- ``functionary_v3.2``: every message starts with ``>>>RECIPIENT\\n``: ``>>>all\\n`` text for the user, or
  ``>>>NAME\\n{json arguments}`` a call; tools as TypeScript in ``namespace functions``. The generation
  prefix is ``>>>`` (as the v3.2 template's generation prompt), so the model only picks the recipient.

Grammar (both): ``auto`` = optional text, then calls; ``required`` = calls; ``none`` = text only;
``parallel`` false = one call.
"""

from __future__ import annotations

from typing import ClassVar

from toolproxy.grammar import GrammarBuilder, gbnf_literal
from toolproxy.parsing.format import NamedCallBody, OutputFormat, Region
from toolproxy.protocol import ChatMessage
from toolproxy.styles.base import CallPolicy, Style, ToolSpec
from toolproxy.styles.common import Call, Message, dumps
from toolproxy.styles.grammar_kit import args_rule, repeat, text_excluding
from toolproxy.styles.prompting import compose
from toolproxy.styles.typescript import functions_namespace

V31_OPEN = "<function="
V31_CLOSE = "</function>"
V32_START = ">>>"
V32_TEXT = ">>>all\n"


def _tool(name: str, content: str) -> str:
    return content


# ---------------------------------------------------------------------- v3.1


def announce_v31(tools: list[ToolSpec]) -> str:
    lines = ["You have access to the following functions:\n"]
    for tool in tools:
        definition = {"name": tool.name, "description": tool.description, "parameters": tool.parameters}
        lines.append(f"Use the function '{tool.name}' to '{tool.description}':\n{dumps(definition)}\n")
    lines.append(
        "Think very carefully before calling functions.\n"
        "If you choose to call a function ONLY reply in the following format:\n"
        "<{start_tag}={function_name}>{parameters}{end_tag}\nwhere\n\n"
        "start_tag => `<function`\n"
        "parameters => a JSON dict with the function argument name as key and function argument value as value.\n"
        "end_tag => `</function>`\n\n"
        "Here is an example,\n"
        '<function=example_function_name>{"example_name": "example_value"}</function>\n\n'
        "Reminder:\n"
        "- Function calls MUST follow the specified format, start with <function= and end with </function>\n"
        "- Required parameters MUST be specified\n"
        "- Put the entire function call reply on one line"
    )
    return "\n".join(lines)


def _assistant_v31(text: str, calls: list[Call], _: ChatMessage) -> str:
    blocks = "".join(f"{V31_OPEN}{c.name}>{c.arguments_json}{V31_CLOSE}" for c in calls)
    return text + blocks


class FunctionaryV31(Style):
    name: ClassVar[str] = "functionary_v3.1"
    description: ClassVar[str] = "Functionary v3.1: <function=NAME>{json}</function> after optional text"

    def prepare_messages(self, messages: list[ChatMessage], tools: list[ToolSpec], policy: CallPolicy) -> list[Message]:
        return compose(messages, tools, policy, announce=announce_v31, assistant=_assistant_v31, tool=_tool)

    def grammar(self, tools: list[ToolSpec], policy: CallPolicy) -> str | None:
        b = GrammarBuilder(policy.layout)
        if policy.mode == "none" or not tools:
            return b.build(text_excluding(b, "text", [V31_OPEN]))
        close = gbnf_literal(V31_CLOSE)
        alternatives = [f"{gbnf_literal(V31_OPEN + t.name + '>')} {args_rule(b, t)} {close}" for t in tools]
        call = b.add_rule("call", " | ".join(alternatives))
        calls = repeat(b, "calls", call, "", many=policy.parallel)
        if policy.mode == "required":
            return b.build(calls)
        return b.build(f"{text_excluding(b, 'text', [V31_OPEN])} {calls}?")

    def output_format(self, tools: list[ToolSpec]) -> OutputFormat:
        return OutputFormat(regions=(Region(V31_OPEN, NamedCallBody(">"), end=V31_CLOSE),))


# ---------------------------------------------------------------------- v3.2


def announce_v32(tools: list[ToolSpec]) -> str:
    return (
        "You are capable of executing available function(s) if required.\n"
        "Only execute function(s) when absolutely necessary.\n"
        "Ask for the required input to:recipient==all\n"
        "Use JSON for function arguments.\n"
        "Respond in this format:\n"
        ">>>${recipient}\n${content}\n"
        "Available functions:\n" + functions_namespace(tools)
    )


def _assistant_v32(text: str, calls: list[Call], _: ChatMessage) -> str:
    parts = [V32_TEXT + text] if text or not calls else []
    parts += [f"{V32_START}{c.name}\n{c.arguments_json}" for c in calls]
    return "".join(parts)


class FunctionaryV32(Style):
    name: ClassVar[str] = "functionary_v3.2"
    description: ClassVar[str] = "Functionary v3.2: >>>all\\ntext / >>>NAME\\n{json}, TypeScript tools"

    def prepare_messages(self, messages: list[ChatMessage], tools: list[ToolSpec], policy: CallPolicy) -> list[Message]:
        return compose(messages, tools, policy, announce=announce_v32, assistant=_assistant_v32, tool=_tool)

    def generation_prefix(self, tools: list[ToolSpec], policy: CallPolicy) -> str:
        return V32_START

    def grammar(self, tools: list[ToolSpec], policy: CallPolicy) -> str | None:
        b = GrammarBuilder(policy.layout)
        text = b.add_rule("text-message", f'"all\\n" {text_excluding(b, "text", [V32_START])}')
        if policy.mode == "none" or not tools:
            return b.build(text)
        alternatives = [f"{gbnf_literal(t.name + chr(10))} {args_rule(b, t)}" for t in tools]
        call = b.add_rule("call", " | ".join(alternatives))
        calls = repeat(b, "calls", call, gbnf_literal(V32_START), many=policy.parallel)
        if policy.mode == "required":
            return b.build(calls)
        return b.build(f"{text} ( {gbnf_literal(V32_START)} {calls} )? | {calls}")

    def output_format(self, tools: list[ToolSpec]) -> OutputFormat:
        return OutputFormat(regions=(Region(V32_START, NamedCallBody("\n")),), silent=(V32_TEXT,))
