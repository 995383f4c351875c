"""pythonic: calls written as a Python list, ``[get_weather(city="Paris"), get_time(tz="CET")]``.

The code-as-action format of CodeAct, BFCL's prompt mode, Llama 4 and LFM2. The list is the whole output
(an anchored ``[`` region, parsed with :mod:`ast`, never ``eval``); a text answer is anything whose first
non-blank character is not ``[``. Argument values are Python literals constrained by each tool's schema
(:mod:`toolproxy.styles.pyliteral`; schemas it cannot express raise ``UnsupportedSchema`` -> the service
relaxes the tool and validates afterwards). Tool names must be Python identifiers.
Grammar: ``auto`` = text | the list; ``required`` = the list; ``none`` = text; ``parallel`` false = a
list of exactly one call.
"""

from __future__ import annotations

from typing import ClassVar

from toolproxy.errors import UnsupportedSchema
from toolproxy.grammar import GrammarBuilder, gbnf_literal
from toolproxy.parsing.format import OutputFormat, PythonCallsBody, Region
from toolproxy.protocol import ChatMessage
from toolproxy.styles.base import CallPolicy, Style, ToolSpec
from toolproxy.styles.common import Call, Message, dumps, tool_dicts
from toolproxy.styles.grammar_kit import args_schema, text_excluding
from toolproxy.styles.leading import text_not_starting
from toolproxy.styles.prompting import compose
from toolproxy.styles.pyliteral import PyLiteralGrammar, python_call

FORMAT = OutputFormat(regions=(Region("[", PythonCallsBody(), keep_start=True, anchored=True),))


def announce(tools: list[ToolSpec]) -> str:
    listed = "\n".join(dumps(t["function"]) for t in tool_dicts(tools))
    return (
        "You are an expert in composing functions. You are given a question and a set of possible functions.\n"
        "Based on the question, you will need to make one or more function/tool calls to achieve the purpose.\n"
        "If you decide to invoke any of the function(s), you MUST put it in the format of "
        "[func_name1(params_name1=params_value1, params_name2=params_value2...), func_name2(params)]\n"
        "You SHOULD NOT include any other text in the response when you call functions.\n"
        "Here is a list of functions in JSON format that you can invoke.\n"
        f"{listed}"
    )


def _assistant(text: str, calls: list[Call], _: ChatMessage) -> str:
    if not calls:
        return text
    listed = "[" + ", ".join(_source(c) for c in calls) + "]"
    return f"{listed}\n{text}" if text else listed


def _source(call: Call) -> str:
    if isinstance(call.arguments, dict):
        return python_call(call.name, call.arguments)
    return f"{call.name}(**{call.arguments_json})"


def _tool(name: str, content: str) -> str:
    return f"[{name}] -> {content}"


def call_list(b: GrammarBuilder, tools: list[ToolSpec], parallel: bool) -> str:
    """``[f(a=1), g(b="x")]`` (one call when not ``parallel``), each tool's keyword arguments constrained by
    its schema as Python literals; the rule's name."""
    py = PyLiteralGrammar(b)
    alternatives: list[str] = []
    for tool in tools:
        if not all(part.isidentifier() for part in tool.name.split(".")):
            raise UnsupportedSchema("", f"tool name {tool.name!r} is not a Python name")
        schema = args_schema(tool)
        if not isinstance(schema, dict):
            raise UnsupportedSchema("", "parameters must be an object schema")
        kwargs = py.kwargs(schema, f"{tool.name}-args")
        inner = f"py-ws {kwargs} py-ws" if kwargs else "py-ws"
        alternatives.append(b.add_rule(f"call-{tool.name}", f'{gbnf_literal(tool.name + "(")} {inner} ")"'))
    call = b.add_rule("call", " | ".join(alternatives))
    more = f' ( "," py-ws {call} )*' if parallel else ""
    return b.add_rule("call-list", f'"[" {call}{more} "]"')


class Pythonic(Style):
    name: ClassVar[str] = "pythonic"
    description: ClassVar[str] = "[f(a=1), g(b=\"x\")]: calls as a Python list (BFCL prompt mode, Llama 4, LFM2)"

    def prepare_messages(self, messages: list[ChatMessage], tools: list[ToolSpec], policy: CallPolicy) -> list[Message]:
        return compose(messages, tools, policy, announce=announce, assistant=_assistant, tool=_tool)

    def grammar(self, tools: list[ToolSpec], policy: CallPolicy) -> str | None:
        b = GrammarBuilder(policy.layout)
        if policy.mode == "none" or not tools:
            return b.build(text_not_starting(b, "text", "["))
        calls = call_list(b, tools, policy.parallel)
        if policy.mode == "required":
            return b.build(calls)
        return b.build(f"{text_not_starting(b, 'text', '[')} | {calls}")

    def output_format(self, tools: list[ToolSpec]) -> OutputFormat:
        return FORMAT


CALL_START = "<|tool_call_start|>"
CALL_END = "<|tool_call_end|>"
LFM2_FORMAT = OutputFormat(regions=(Region(CALL_START, PythonCallsBody(), end=CALL_END),))


def _lfm2_assistant(text: str, calls: list[Call], _: ChatMessage) -> str:
    if not calls:
        return text
    return text + CALL_START + "[" + ", ".join(_source(c) for c in calls) + "]" + CALL_END


class Lfm2(Pythonic):
    """LFM2 / LFM2.5 (Liquid): text, then the Python call list between ``<|tool_call_start|>`` and
    ``<|tool_call_end|>`` (``<|tool_call_start|>[get_weather(city='Paris', days=3)]<|tool_call_end|>``, as
    LFM2.5's template writes it). Grammar: ``auto`` = text (without the start marker), then optionally the
    call block; ``required`` = the block; ``none`` = text; ``parallel`` false = a list of one call."""

    name: ClassVar[str] = "lfm2"
    description: ClassVar[str] = "<|tool_call_start|>[f(a=1)]<|tool_call_end|> after optional text (LFM2, LFM2.5)"

    def prepare_messages(self, messages: list[ChatMessage], tools: list[ToolSpec], policy: CallPolicy) -> list[Message]:
        return compose(messages, tools, policy, announce=_lfm2_announce, assistant=_lfm2_assistant, tool=_tool)

    def grammar(self, tools: list[ToolSpec], policy: CallPolicy) -> str | None:
        b = GrammarBuilder(policy.layout)
        text = text_excluding(b, "text", [CALL_START])
        if policy.mode == "none" or not tools:
            return b.build(text)
        block = f"{gbnf_literal(CALL_START)} {call_list(b, tools, policy.parallel)} {gbnf_literal(CALL_END)}"
        if policy.mode == "required":
            return b.build(block)
        return b.build(f"{text} ( {block} )?")

    def output_format(self, tools: list[ToolSpec]) -> OutputFormat:
        return LFM2_FORMAT


def _lfm2_announce(tools: list[ToolSpec]) -> str:
    listed = ", ".join(dumps(t) for t in tool_dicts(tools))
    return (
        f"List of tools: [{listed}]\n"
        f"To call tools, write {CALL_START}[func_name1(param=value, ...), func_name2(...)]{CALL_END}; "
        "string values in quotes. To answer without a tool, just write the answer."
    )
