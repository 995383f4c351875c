"""harmony: gpt-oss's message format (issue 15). After the generation prompt ``<|start|>assistant`` the model writes

- a call: `` to=functions.NAME<|channel|>commentary json<|message|>{json}<|call|>`` (the recipient before the
  channel, as gpt-oss's template writes earlier calls; further calls follow ``<|start|>assistant``);
- an answer: ``<|channel|>final<|message|>text<|return|>``;
- thoughts first, optionally: ``<|channel|>analysis<|message|>...<|end|><|start|>assistant`` (``reasoning_content``).

The scanner also reads the recipient after the channel (``<|channel|>commentary to=functions.NAME
<|constrain|>json<|message|>``) and llm-jp's ``commentary <|constrain|> json``: whatever stands between the name
and ``<|message|>`` is ignored; the grammar admits llm-jp's `` <|constrain|>`` before `` json``, and its ``<|end|>``
closing a call that another follows. Grammar: ``auto`` = optional thoughts, then the answer or the calls; ``required``
(and a named tool) = the calls; ``none`` = optional thoughts, then the answer; ``parallel`` false = one call.
"""

from __future__ import annotations

from typing import ClassVar

from toolproxy.grammar import GrammarBuilder, gbnf_literal
from toolproxy.parsing.format import NamedCallBody, OutputFormat, Region
from toolproxy.protocol import ChatMessage
from toolproxy.styles.base import CallPolicy, Style, ToolSpec
from toolproxy.styles.common import Call, Message, dumps, tool_dicts
from toolproxy.styles.grammar_kit import args_rule, text_excluding
from toolproxy.styles.prompting import compose

START = "<|start|>assistant"
ANALYSIS = "<|channel|>analysis<|message|>"
FINAL = "<|channel|>final<|message|>"
COMMENTARY = "<|channel|>commentary"
RECIPIENT = "to=functions."
CHANNEL = "<|channel|>"
MESSAGE = "<|message|>"
CALL = "<|call|>"
CONSTRAIN = "<|constrain|>"
END = "<|end|>"
RETURN = "<|return|>"
FORMAT = OutputFormat(
    regions=(Region(RECIPIENT, NamedCallBody(MESSAGE, id_marker=(CHANNEL, " ")), end=CALL),),
    silent=(START, FINAL, COMMENTARY, END, RETURN),
    think=(ANALYSIS, END),
)
MARKERS = [CHANNEL, "<|start|>", END, RETURN, CALL, RECIPIENT]


def _call(call: Call) -> str:
    return f" {RECIPIENT}{call.name}{COMMENTARY} json{MESSAGE}{call.arguments_json}{CALL}"


def _assistant(text: str, calls: list[Call], _: ChatMessage) -> str:
    if not calls:
        return f"{FINAL}{text}{RETURN}"
    thought = f"{ANALYSIS}{text}{END}{START}" if text else ""
    return thought + START.join(_call(c) for c in calls)


def _tool(name: str, content: str) -> str:
    return f"functions.{name} to=assistant{COMMENTARY}{MESSAGE}{dumps(content)}"


def announce(tools: list[ToolSpec]) -> str:
    listed = "\n".join(dumps(t) for t in tool_dicts(tools))
    return (
        "# Tools\n\n## functions\n\n"
        f"{listed}\n\n"
        "Calls to these tools must go to the commentary channel: 'functions'. To call one, write "
        f"{_call(Call('tool_name', {'parameter': 'value'}))}; to answer, write {FINAL}your answer{RETURN}."
    )


class Harmony(Style):
    name: ClassVar[str] = "harmony"
    description: ClassVar[str] = " to=functions.NAME<|channel|>commentary json<|message|>{json}<|call|> (gpt-oss)"

    def prepare_messages(self, messages: list[ChatMessage], tools: list[ToolSpec], policy: CallPolicy) -> list[Message]:
        return compose(messages, tools, policy, announce=announce, assistant=_assistant, tool=_tool)

    def grammar(self, tools: list[ToolSpec], policy: CallPolicy) -> str | None:
        b = GrammarBuilder(policy.layout)
        text = text_excluding(b, "text", MARKERS)
        answer = b.add_rule("answer", f"{gbnf_literal(FINAL)} {text} {gbnf_literal(RETURN)}")
        thoughts = b.add_rule("thoughts", f"{gbnf_literal(ANALYSIS)} {text} {gbnf_literal(END + START)}")
        if policy.mode == "none" or not tools:
            return b.build(f"{thoughts}? {answer}")
        constrain = f'( {gbnf_literal(" " + CONSTRAIN)} )?'
        alternatives = [
            f"{gbnf_literal(' ' + RECIPIENT + t.name + COMMENTARY)} {constrain} {gbnf_literal(' json' + MESSAGE)} "
            f"{args_rule(b, t)}"
            for t in tools
        ]
        call = b.add_rule("call", " | ".join(alternatives))
        between = f"( {gbnf_literal(CALL)} | {gbnf_literal(END)} ) {gbnf_literal(START)}"
        calls = b.add_rule("calls", f"{call} ( {between} {call} )* {gbnf_literal(CALL)}" if policy.parallel
                           else f"{call} {gbnf_literal(CALL)}")
        if policy.mode == "required":
            return b.build(calls)
        return b.build(f"{thoughts}? ( {answer} | {calls} )")

    def output_format(self, tools: list[ToolSpec]) -> OutputFormat:
        return FORMAT
