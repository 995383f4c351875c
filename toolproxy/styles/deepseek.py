"""DeepSeek V3.1 style (also used for the R1 distills):
``<|tool▁calls▁begin|><|tool▁call▁begin|>NAME<|tool▁sep|>{json}<|tool▁call▁end|>...<|tool▁calls▁end|>``.

Tools are announced as in DeepSeek V3.1's template (``## Tools`` with one ``### NAME`` section per tool and
the "ALWAYS adhere to this exact format" instruction); results go back as
``<|tool▁output▁begin|>...<|tool▁output▁end|>`` in a user turn. Grammar: ``auto`` = text (without the
markers), then optionally the call block; ``required`` = the call block; ``none`` = text; ``parallel``
false = one call in the block.
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

BAR = "\uff5c"  # DeepSeek's markers use the fullwidth vertical line (written ``|`` in the docstrings)
CALLS_BEGIN = f"<{BAR}tool▁calls▁begin{BAR}>"
CALLS_END = f"<{BAR}tool▁calls▁end{BAR}>"
CALL_BEGIN = f"<{BAR}tool▁call▁begin{BAR}>"
SEP = f"<{BAR}tool▁sep{BAR}>"
CALL_END = f"<{BAR}tool▁call▁end{BAR}>"
OUTPUT_BEGIN = f"<{BAR}tool▁output▁begin{BAR}>"
OUTPUT_END = f"<{BAR}tool▁output▁end{BAR}>"
FORMAT = OutputFormat(regions=(Region(CALL_BEGIN, NamedCallBody(SEP), end=CALL_END),), silent=(CALLS_BEGIN, CALLS_END))


def announce(tools: list[ToolSpec]) -> str:
    sections = "\n\n".join(
        f"### {t.name}\nDescription: {t.description}\n\nParameters: {dumps(t.parameters)}" for t in tools
    )
    return (
        "## Tools\nYou have access to the following tools:\n\n"
        f"{sections}\n\n"
        "IMPORTANT: ALWAYS adhere to this exact format for tool use:\n"
        f"{CALLS_BEGIN}{CALL_BEGIN}tool_call_name{SEP}tool_call_arguments{CALL_END}{{{{additional_tool_calls}}}}"
        f"{CALLS_END}\n\n"
        "Where:\n"
        "- `tool_call_name` must be an exact match to one of the available tools\n"
        "- `tool_call_arguments` must be valid JSON that strictly follows the tool's Parameters Schema\n"
        "- For multiple tool calls, chain them directly without separators or spaces"
    )


def _assistant(text: str, calls: list[Call], _: ChatMessage) -> str:
    if not calls:
        return text
    chained = "".join(f"{CALL_BEGIN}{c.name}{SEP}{c.arguments_json}{CALL_END}" for c in calls)
    return f"{text}{CALLS_BEGIN}{chained}{CALLS_END}"


def _tool(_: str, content: str) -> str:
    return f"{OUTPUT_BEGIN}{content}{OUTPUT_END}"


class DeepSeek(Style):
    name: ClassVar[str] = "deepseek"
    description: ClassVar[str] = "DeepSeek V3.1: <|tool▁call▁begin|>NAME<|tool▁sep|>{json}<|tool▁call▁end|>"

    def prepare_messages(self, messages: list[ChatMessage], tools: list[ToolSpec], policy: CallPolicy) -> list[Message]:
        return compose(messages, tools, policy, announce=announce, assistant=_assistant, tool=_tool, tool_joiner="")

    def grammar(self, tools: list[ToolSpec], policy: CallPolicy) -> str | None:
        b = GrammarBuilder(policy.layout)
        text = text_excluding(b, "text", [CALLS_BEGIN, CALL_BEGIN])
        if policy.mode == "none" or not tools:
            return b.build(text)
        alternatives = [
            f"{gbnf_literal(CALL_BEGIN + t.name + SEP)} {args_rule(b, t)} {gbnf_literal(CALL_END)}" for t in tools
        ]
        call = b.add_rule("call", " | ".join(alternatives))
        calls = repeat(b, "calls", call, "", many=policy.parallel)
        block = b.add_rule("call-block", f"{gbnf_literal(CALLS_BEGIN)} {calls} {gbnf_literal(CALLS_END)}")
        if policy.mode == "required":
            return b.build(block)
        return b.build(f"{text} {block}?")

    def output_format(self, tools: list[ToolSpec]) -> OutputFormat:
        return FORMAT


FENCE_OPEN = "```json"
FENCE_CLOSE = "```"
R1_START = f"{CALL_BEGIN}function{SEP}"
R1_FORMAT = OutputFormat(
    regions=(Region(R1_START, NamedCallBody(FENCE_OPEN), end=FENCE_CLOSE + CALL_END),), silent=(CALLS_BEGIN, CALLS_END)
)


def _r1_call(name: str, arguments_json: str) -> str:
    return f"{R1_START}{name}\n{FENCE_OPEN}\n{arguments_json}\n{FENCE_CLOSE}{CALL_END}"


def _r1_assistant(text: str, calls: list[Call], _: ChatMessage) -> str:
    if not calls:
        return text
    chained = "\n".join(_r1_call(c.name, c.arguments_json) for c in calls)
    return f"{text}{CALLS_BEGIN}{chained}{CALLS_END}"


def r1_announce(tools: list[ToolSpec]) -> str:
    sections = "\n\n".join(
        f"### {t.name}\nDescription: {t.description}\n\nParameters: {dumps(t.parameters)}" for t in tools
    )
    return (
        "## Tools\nYou have access to the following tools:\n\n"
        f"{sections}\n\n"
        "To call tools, write:\n"
        f"{CALLS_BEGIN}{_r1_call('tool_call_name', '{tool_call_arguments}')}{CALLS_END}\n"
        "with the arguments as JSON that follows the tool's Parameters schema; several calls one after another."
    )


class DeepSeekR1(DeepSeek):
    """DeepSeek R1 and its distills, as their templates write calls:
    ``<|tool▁calls▁begin|><|tool▁call▁begin|>function<|tool▁sep|>NAME\\n```json\\n{json}\\n```<|tool▁call▁end|>``
    (calls separated by a newline) ``<|tool▁calls▁end|>``. Grammar per policy as :class:`DeepSeek`."""

    name: ClassVar[str] = "deepseek_r1"
    description: ClassVar[str] = "DeepSeek R1: <|tool▁call▁begin|>function<|tool▁sep|>NAME + ```json fenced arguments"

    def prepare_messages(self, messages: list[ChatMessage], tools: list[ToolSpec], policy: CallPolicy) -> list[Message]:
        return compose(messages, tools, policy, announce=r1_announce, assistant=_r1_assistant, tool=_tool,
                       tool_joiner="")

    def grammar(self, tools: list[ToolSpec], policy: CallPolicy) -> str | None:
        b = GrammarBuilder(policy.layout)
        text = text_excluding(b, "text", [CALLS_BEGIN, CALL_BEGIN])
        if policy.mode == "none" or not tools:
            return b.build(text)
        alternatives = [
            f"{gbnf_literal(R1_START + t.name + chr(10) + FENCE_OPEN + chr(10))} {args_rule(b, t)} "
            f"{gbnf_literal(chr(10) + FENCE_CLOSE + CALL_END)}"
            for t in tools
        ]
        call = b.add_rule("call", " | ".join(alternatives))
        calls = repeat(b, "calls", call, '"\\n"', many=policy.parallel)
        block = b.add_rule("call-block", f"{gbnf_literal(CALLS_BEGIN)} {calls} {gbnf_literal(CALLS_END)}")
        if policy.mode == "required":
            return b.build(block)
        return b.build(f"{text} {block}?")

    def output_format(self, tools: list[ToolSpec]) -> OutputFormat:
        return R1_FORMAT
