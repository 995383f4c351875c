"""xLAM (Salesforce) style: calls are the JSON object ``{"tool_calls": [{"name": ..., "arguments": {...}}]}``
as the whole answer, as xLAM's function-calling prompt asks ("If no function call is needed, please make
tool_calls an empty list"). A plain-text answer is any text not starting with ``{``.

Tools are announced in xLAM's ``[BEGIN OF AVAILABLE TOOLS]`` / ``[BEGIN OF FORMAT INSTRUCTION]`` blocks.
Grammar: ``auto`` = text | the object with one or more calls; ``required`` = the object; ``none`` = text;
``parallel`` false = a list of exactly one call. (``{"tool_calls": []}`` still parses as "no call".)
"""

from __future__ import annotations

from typing import ClassVar

from toolproxy.grammar import GrammarBuilder
from toolproxy.parsing.format import JsonBody, OutputFormat, Region
from toolproxy.protocol import ChatMessage
from toolproxy.styles.base import CallPolicy, Style, ToolSpec
from toolproxy.styles.common import Call, Message, dumps, tool_dicts
from toolproxy.styles.generic import calls_object
from toolproxy.styles.leading import text_not_starting
from toolproxy.styles.prompting import compose

FORMAT = OutputFormat(
    regions=(Region("{", JsonBody(rules=((("tool_calls", "*"), "call"),)), keep_start=True, anchored=True),)
)


def announce(tools: list[ToolSpec]) -> str:
    listed = dumps([t["function"] for t in tool_dicts(tools)])
    return (
        "[BEGIN OF TASK INSTRUCTION]\n"
        "You are an expert in composing functions. You are given a question and a set of possible functions. "
        "Based on the question, you will need to make one or more function/tool calls to achieve the purpose. "
        "If none of the functions can be used, answer the question directly.\n"
        "[END OF TASK INSTRUCTION]\n\n"
        f"[BEGIN OF AVAILABLE TOOLS]\n{listed}\n[END OF AVAILABLE TOOLS]\n\n"
        "[BEGIN OF FORMAT INSTRUCTION]\n"
        "When you call functions, the output MUST strictly adhere to the following JSON format, and NO other "
        "text MUST be included.\n"
        "```\n"
        '{"tool_calls": [{"name": "func_name1", "arguments": {"argument1": "value1", "argument2": "value2"}}, '
        "... (more tool calls as required)]}\n"
        "```\n"
        "[END OF FORMAT INSTRUCTION]"
    )


def _assistant(text: str, calls: list[Call], _: ChatMessage) -> str:
    if not calls:
        return text
    return dumps({"tool_calls": [{"name": c.name, "arguments": c.arguments} for c in calls]})


def _tool(name: str, content: str) -> str:
    return dumps({"name": name, "results": content})


class Xlam(Style):
    name: ClassVar[str] = "xlam"
    description: ClassVar[str] = 'xLAM: {"tool_calls": [...]} as the whole answer, else plain text'

    def prepare_messages(self, messages: list[ChatMessage], tools: list[ToolSpec], policy: CallPolicy) -> list[Message]:
        return compose(messages, tools, policy, announce=announce, assistant=_assistant, tool=_tool)

    def grammar(self, tools: list[ToolSpec], policy: CallPolicy) -> str | None:
        b = GrammarBuilder(policy.layout)
        if policy.mode == "none" or not tools:
            return b.build(text_not_starting(b, "text", "{"))
        calls = calls_object(b, tools, policy.parallel)
        if policy.mode == "required":
            return b.build(calls)
        return b.build(f"{text_not_starting(b, 'text', '{')} | {calls}")

    def output_format(self, tools: list[ToolSpec]) -> OutputFormat:
        return FORMAT
