"""Families whose calls are JSON call objects behind their own markers (issue 15): one class, :class:`MarkedJson`,
and one small subclass of data per family.

================  ===========================================================================================
style             the model writes (as its own chat template writes calls)
================  ===========================================================================================
``gigachat``      text, then ``<|function_call|>{"name": ..., "arguments": {...}}`` per call (GigaChat 3.1)
``minimax_m1``    text, then ``<tool_calls>\\n{"name": ..., "arguments": {...}}\\n{...}\\n</tool_calls>`` (MiniMax M1)
``nemotron_v2``   text, then ``<TOOLCALL>[{"name": ..., "arguments": {...}}, ...]</TOOLCALL>`` (Nemotron Nano v2)
``command_r``     ``<|START_RESPONSE|>text<|END_RESPONSE|>`` or
                  ``<|START_ACTION|>[{"tool_call_id": "0", "tool_name": ..., "parameters": {...}}]<|END_ACTION|>``
                  (Command R7B, Command A / Cohere2 MoE); thoughts in ``<|START_THINKING|>...<|END_THINKING|>``
``kimi_k2``       text, then ``<|tool_calls_section_begin|><|tool_call_begin|>functions.NAME:0``
                  ``<|tool_call_argument_begin|>{json}<|tool_call_end|>...<|tool_calls_section_end|>`` (Kimi K2)
``apertus``       text, then ``<|tools_prefix|>[{"NAME": {...}}, ...]<|tools_suffix|>`` (Apertus)
``gigachat3``     text, then ``<|message_sep|>\n\nfunction call<|role_sep|>\n{"name": ..., "arguments": {...}}``
``solar``         ``<|content|>text<|end|>`` or ``<|tool_calls|><|tool_call:begin|>ID<|tool_call:name|>NAME``
                  ``<|tool_call:args|>{json}<|tool_call:end|>...<|calls|>`` (Solar Open)
================  ===========================================================================================

Grammar for all of them: ``auto`` = text (which cannot contain the call marker), then optionally the calls;
``required`` (and a named tool) = the calls; ``none`` = text; ``parallel`` false = one call. Arguments are
constrained by each tool's schema. When the model's own template is the one detected (the usual case), it
renders the conversation; the style's own rendering below (tools announced as JSON, earlier calls in the
family's syntax) serves other models and templates that refuse a conversation.
"""

from __future__ import annotations

from typing import ClassVar

from toolproxy.grammar import GrammarBuilder, gbnf_literal
from toolproxy.parsing.format import CallKeys, JsonBody, NamedCallBody, OutputFormat, PathPattern, Region
from toolproxy.protocol import ChatMessage
from toolproxy.styles.base import CallPolicy, ToolSpec
from toolproxy.styles.common import Call, dumps
from toolproxy.styles.grammar_kit import args_rule, text_excluding
from toolproxy.styles.prompting import ComposedStyle


class MarkedJson(ComposedStyle):
    """``TEXT_OPEN text TEXT_CLOSE`` or ``OPEN call SEP call ... CLOSE``; a call is a JSON object with the
    tool name under ``NAME_KEY`` and the arguments under ``ARGS_KEY`` (``ID_KEY`` first when set: its value is
    the call's index as a string, as Command R writes it). ``MARKER``/``END`` are what the scanner looks for
    (``OPEN``/``CLOSE`` without their whitespace or list brackets); ``LISTED``: the calls are one JSON list."""

    OPEN: ClassVar[str]
    SEP: ClassVar[str]
    CLOSE: ClassVar[str]
    MARKER: ClassVar[str]
    END: ClassVar[str | None]
    LISTED: ClassVar[bool] = False
    NAME_KEY: ClassVar[str] = "name"
    ARGS_KEY: ClassVar[str] = "arguments"
    ID_KEY: ClassVar[str | None] = None
    NAME_AS_KEY: ClassVar[bool] = False  # {"NAME": {arguments}} (Apertus)
    TEXT_OPEN: ClassVar[str] = ""
    TEXT_CLOSE: ClassVar[str] = ""
    THINK: ClassVar[tuple[str, str] | None] = ("<think>", "</think>")
    SILENT: ClassVar[tuple[str, ...]] = ()  # markers the scanner drops (and text may not contain)
    TOOL_RESULT: ClassVar[str] = "{content}"  # how a tool result is written back (a user turn)

    # ------------------------------------------------------------------ rendering

    def _call_object(self, call: Call, index: int) -> str:
        if self.NAME_AS_KEY:
            return f"{{{dumps(call.name)}: {call.arguments_json}}}"
        head = f"{dumps(self.ID_KEY)}: {dumps(str(index))}, " if self.ID_KEY else ""
        return f"{{{head}{dumps(self.NAME_KEY)}: {dumps(call.name)}, {dumps(self.ARGS_KEY)}: {call.arguments_json}}}"

    def calls_text(self, calls: list[Call]) -> str:
        return self.OPEN + self.SEP.join(self._call_object(c, i) for i, c in enumerate(calls)) + self.CLOSE

    def _assistant(self, text: str, calls: list[Call], _: ChatMessage) -> str:
        said = f"{self.TEXT_OPEN}{text}{self.TEXT_CLOSE}" if text or not calls else ""
        return said + (self.calls_text(calls) if calls else "")

    # ------------------------------------------------------------------ grammar

    def _text(self, b: GrammarBuilder) -> str:
        markers = [m for m in (self.MARKER, self.TEXT_CLOSE, *self.SILENT) if m]
        inner = text_excluding(b, "text", markers)
        if not self.TEXT_OPEN:
            return inner
        return b.add_rule("said", f"{gbnf_literal(self.TEXT_OPEN)} {inner} {gbnf_literal(self.TEXT_CLOSE)}")

    def _calls(self, b: GrammarBuilder, tools: list[ToolSpec], parallel: bool) -> str:
        ws = b.fragment("ws")
        alternatives = []
        for t in tools:
            head = f'{gbnf_literal(dumps(self.ID_KEY))} {ws} ":" {ws} "\\"" [0-9]{{1,3}} "\\"" {ws} "," {ws} ' \
                if self.ID_KEY else ""
            if self.NAME_AS_KEY:
                alternatives.append(b.add_rule(
                    f"call-{t.name}",
                    f'"{{" {ws} {gbnf_literal(dumps(t.name))} {ws} ":" {ws} {args_rule(b, t)} {ws} "}}"'))
                continue
            alternatives.append(b.add_rule(
                f"call-{t.name}",
                f'"{{" {ws} {head}{gbnf_literal(dumps(self.NAME_KEY))} {ws} ":" {ws} {gbnf_literal(dumps(t.name))} '
                f'{ws} "," {ws} {gbnf_literal(dumps(self.ARGS_KEY))} {ws} ":" {ws} {args_rule(b, t)} {ws} "}}"',
            ))
        call = b.add_rule("call", " | ".join(alternatives))
        more = f" ( {gbnf_literal(self.SEP)} {call} )*" if parallel else ""
        return b.add_rule("calls", f"{gbnf_literal(self.OPEN)} {call}{more} {gbnf_literal(self.CLOSE)}"
                          if self.CLOSE else f"{gbnf_literal(self.OPEN)} {call}{more}")

    def grammar(self, tools: list[ToolSpec], policy: CallPolicy) -> str | None:
        b = GrammarBuilder(policy.layout)
        text = self._text(b)
        if policy.mode == "none" or not tools:
            return b.build(text)
        calls = self._calls(b, tools, policy.parallel)
        if policy.mode == "required":
            return b.build(calls)
        if self.TEXT_OPEN:  # a response or the calls (Command R)
            return b.build(f"{text} | {calls}")
        return b.build(f"{text} {calls}?")

    def output_format(self, tools: list[ToolSpec]) -> OutputFormat:
        path: PathPattern = ("*",) if self.LISTED else ()
        keys = CallKeys(name=(self.NAME_KEY,), arguments=(self.ARGS_KEY,), name_is_key=self.NAME_AS_KEY)
        body = JsonBody(rules=((path, "call"),), keys=keys)
        region = Region(self.MARKER, body, end=self.END, repeat=not self.LISTED and self.END is not None)
        silent = tuple(m for m in (self.TEXT_OPEN, self.TEXT_CLOSE, *self.SILENT) if m)
        return OutputFormat(regions=(region,), silent=silent, think=self.THINK)


class GigaChat(MarkedJson):
    name: ClassVar[str] = "gigachat"
    description: ClassVar[str] = '<|function_call|>{"name", "arguments"} after optional text (GigaChat 3.1)'
    OPEN = MARKER = SEP = "<|function_call|>"  # its template writes one call per turn; more repeat the marker
    CLOSE = ""
    END = None


class Apertus(MarkedJson):
    name: ClassVar[str] = "apertus"
    description: ClassVar[str] = '<|tools_prefix|>[{"NAME": {arguments}}]<|tools_suffix|> (Apertus)'
    OPEN = "<|tools_prefix|>["
    SEP = ", "
    CLOSE = "]<|tools_suffix|>"
    MARKER = "<|tools_prefix|>"
    END = "<|tools_suffix|>"
    LISTED = True
    NAME_AS_KEY = True
    THINK = ("<|inner_prefix|>", "<|inner_suffix|>")
    TOOL_RESULT = "[{content}]"


class GigaChat3(MarkedJson):
    """GigaChat 3: a call is a message of its own role, ``<|message_sep|>\n\nfunction call<|role_sep|>\n{json}``."""

    name: ClassVar[str] = "gigachat3"
    description: ClassVar[str] = 'function call<|role_sep|>\n{"name", "arguments"} as its own message (GigaChat 3)'
    OPEN = SEP = "<|message_sep|>\n\nfunction call<|role_sep|>\n"
    CLOSE = ""
    MARKER = "function call<|role_sep|>"
    END = None
    SILENT = ("<|message_sep|>",)
    TOOL_RESULT = "function result<|role_sep|>\n{content}"


class MiniMaxM1(MarkedJson):
    name: ClassVar[str] = "minimax_m1"
    description: ClassVar[str] = "<tool_calls>\\n{call}\\n{call}\\n</tool_calls> (MiniMax M1)"
    OPEN = "<tool_calls>\n"
    SEP = "\n"
    CLOSE = "\n</tool_calls>"
    MARKER = "<tool_calls>"
    END = "</tool_calls>"
    TOOL_RESULT = "tool result: {content}"


class NemotronV2(MarkedJson):
    name: ClassVar[str] = "nemotron_v2"
    description: ClassVar[str] = "<TOOLCALL>[{name, arguments}, ...]</TOOLCALL> (Nemotron Nano v2)"
    OPEN = "<TOOLCALL>["
    SEP = ", "
    CLOSE = "]</TOOLCALL>"
    MARKER = "<TOOLCALL>"
    END = "</TOOLCALL>"
    LISTED = True
    TOOL_RESULT = "<TOOL_RESPONSE>[{content}]</TOOL_RESPONSE>"


class CommandR(MarkedJson):
    name: ClassVar[str] = "command_r"
    description: ClassVar[str] = "<|START_ACTION|>[{tool_call_id, tool_name, parameters}]<|END_ACTION|> (Command R7B)"
    OPEN = "<|START_ACTION|>[\n    "
    SEP = ",\n    "
    CLOSE = "\n]<|END_ACTION|>"
    MARKER = "<|START_ACTION|>"
    END = "<|END_ACTION|>"
    LISTED = True
    NAME_KEY = "tool_name"
    ARGS_KEY = "parameters"
    ID_KEY = "tool_call_id"
    TEXT_OPEN = "<|START_RESPONSE|>"
    TEXT_CLOSE = "<|END_RESPONSE|>"
    THINK = ("<|START_THINKING|>", "<|END_THINKING|>")
    TOOL_RESULT = "<|START_TOOL_RESULT|>{content}<|END_TOOL_RESULT|>"


SECTION_BEGIN = "<|tool_calls_section_begin|>"
SECTION_END = "<|tool_calls_section_end|>"
KIMI_CALL = "<|tool_call_begin|>functions."
KIMI_ARGS = "<|tool_call_argument_begin|>"
KIMI_END = "<|tool_call_end|>"


class KimiK2(MarkedJson):
    """Kimi K2: ``functions.NAME:INDEX`` names each call (the index is read and ignored)."""

    name: ClassVar[str] = "kimi_k2"
    description: ClassVar[str] = "<|tool_call_begin|>functions.NAME:0<|tool_call_argument_begin|>{json} (Kimi K2)"
    MARKER = SECTION_BEGIN
    TOOL_RESULT = "## Return of {name}\n{content}"

    def calls_text(self, calls: list[Call]) -> str:
        chained = "".join(
            f"{KIMI_CALL}{c.name}:{i}{KIMI_ARGS}{c.arguments_json}{KIMI_END}" for i, c in enumerate(calls)
        )
        return f"{SECTION_BEGIN}{chained}{SECTION_END}"

    def _calls(self, b: GrammarBuilder, tools: list[ToolSpec], parallel: bool) -> str:
        alternatives = [
            f'{gbnf_literal(KIMI_CALL + t.name + ":")} [0-9]{{1,3}} {gbnf_literal(KIMI_ARGS)} {args_rule(b, t)} '
            f"{gbnf_literal(KIMI_END)}"
            for t in tools
        ]
        call = b.add_rule("call", " | ".join(alternatives))
        many = f"{call}+" if parallel else call
        return b.add_rule("calls", f"{gbnf_literal(SECTION_BEGIN)} {many} {gbnf_literal(SECTION_END)}")

    def _text(self, b: GrammarBuilder) -> str:
        return text_excluding(b, "text", [SECTION_BEGIN, KIMI_CALL])

    def output_format(self, tools: list[ToolSpec]) -> OutputFormat:
        region = Region(KIMI_CALL, NamedCallBody(KIMI_ARGS, id_marker=":"), end=KIMI_END)
        return OutputFormat(regions=(region,), silent=(SECTION_BEGIN, SECTION_END), think=self.THINK)


SOLAR_SECTION = "<|tool_calls|>"
SOLAR_SECTION_END = "<|calls|>"
SOLAR_CALL = "<|tool_call:begin|>"
SOLAR_NAME = "<|tool_call:name|>"
SOLAR_ARGS = "<|tool_call:args|>"
SOLAR_END = "<|tool_call:end|>"


class Solar(KimiK2):
    """Solar Open: ``<|content|>text<|end|>`` or ``<|tool_calls|><|tool_call:begin|>ID<|tool_call:name|>NAME``
    ``<|tool_call:args|>{json}<|tool_call:end|>...<|calls|>`` (the id before the name is read and ignored);
    thoughts in ``<|think|>...<|end|>``."""

    name: ClassVar[str] = "solar"
    description: ClassVar[str] = "<|tool_call:begin|>ID<|tool_call:name|>NAME<|tool_call:args|>{json} (Solar Open)"
    MARKER = SOLAR_SECTION
    TEXT_OPEN = "<|content|>"
    TEXT_CLOSE = "<|end|>"
    THINK = ("<|think|>", "<|end|>")
    TOOL_RESULT = "<|tool_response|>{content}"

    def calls_text(self, calls: list[Call]) -> str:
        chained = "".join(
            f"{SOLAR_CALL}call_{i}{SOLAR_NAME}{c.name}{SOLAR_ARGS}{c.arguments_json}{SOLAR_END}"
            for i, c in enumerate(calls)
        )
        return f"{SOLAR_SECTION}{chained}{SOLAR_SECTION_END}"

    def _calls(self, b: GrammarBuilder, tools: list[ToolSpec], parallel: bool) -> str:
        alternatives = [
            f'{gbnf_literal(SOLAR_CALL + "call_")} [0-9]{{1,3}} {gbnf_literal(SOLAR_NAME + t.name + SOLAR_ARGS)} '
            f"{args_rule(b, t)} {gbnf_literal(SOLAR_END)}"
            for t in tools
        ]
        call = b.add_rule("call", " | ".join(alternatives))
        many = f"{call}+" if parallel else call
        return b.add_rule("calls", f"{gbnf_literal(SOLAR_SECTION)} {many} {gbnf_literal(SOLAR_SECTION_END)}")

    def _text(self, b: GrammarBuilder) -> str:
        return MarkedJson._text(self, b)

    def output_format(self, tools: list[ToolSpec]) -> OutputFormat:
        body = NamedCallBody(SOLAR_ARGS, name_start=SOLAR_NAME)
        region = Region(SOLAR_CALL, body, end=SOLAR_END)
        silent = (SOLAR_SECTION, SOLAR_SECTION_END, self.TEXT_OPEN, self.TEXT_CLOSE)
        return OutputFormat(regions=(region,), silent=silent, think=self.THINK)
