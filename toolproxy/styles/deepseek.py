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
        b = GrammarBuilder()
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
