"""Mistral styles. ``mistral`` (Mistral Nemo, tokenizer v3):
``[TOOL_CALLS][{"name": ..., "arguments": {...}, "id": "a1B2c3D4e"}]``; ``mistral_v11`` (Mistral Small 3.2,
Devstral, Ministral 3, Magistral): ``[TOOL_CALLS]NAME[ARGS]{...}`` per call (:class:`MistralV11`).

Mistral's templates demand tool call ids of exactly 9 alphanumeric characters; the ids OpenAI clients send
(``call_...``) are mapped to such ids (:func:`mistral_id`, deterministic, so a call and its result keep
matching). Tools are announced as ``[AVAILABLE_TOOLS][...][/AVAILABLE_TOOLS]``, results are
``[TOOL_RESULTS]{"call_id": ..., "content": ...}[/TOOL_RESULTS]``; the system prompt and tool results are
user turns (strict user/assistant alternation). The grammar lets the model write an id (optional, the
scanner ignores it). Grammar: ``auto`` = text (without ``[TOOL_CALLS]``) | the call list; ``required`` =
the call list; ``none`` = text; ``parallel`` false = a list of exactly one call.
"""

from __future__ import annotations

import hashlib
import string
from typing import ClassVar

from toolproxy.grammar import GrammarBuilder, gbnf_literal
from toolproxy.parsing.format import JsonBody, NamedCallBody, OutputFormat, Region
from toolproxy.protocol import ChatMessage
from toolproxy.styles.base import CallPolicy, Style, ToolSpec
from toolproxy.styles.common import (
    Call,
    Message,
    TurnWriter,
    dumps,
    fold_user_turns,
    policy_hint,
    system_text,
    tool_dicts,
)
from toolproxy.styles.grammar_kit import args_rule, text_excluding

MARKER = "[TOOL_CALLS]"
_ALPHABET = string.ascii_letters + string.digits
FORMAT = OutputFormat(regions=(Region(MARKER, JsonBody(rules=((("*",), "call"),))),))


def mistral_id(call_id: str | None) -> str:
    """A 9-character alphanumeric id for ``call_id`` (kept when it already is one)."""
    if call_id and len(call_id) == 9 and call_id.isascii() and call_id.isalnum():
        return call_id
    number = int.from_bytes(hashlib.sha256((call_id or "").encode()).digest()[:8], "big")
    out = []
    for _ in range(9):
        number, digit = divmod(number, len(_ALPHABET))
        out.append(_ALPHABET[digit])
    return "".join(out)


def _ids(message: ChatMessage) -> list[str]:
    return [mistral_id(tc.id or f"{message.role}-{i}") for i, tc in enumerate(message.tool_calls or [])]


class Mistral(Style):
    name: ClassVar[str] = "mistral"
    description: ClassVar[str] = "[TOOL_CALLS][{name, arguments, id}] with 9-character ids (Mistral Nemo)"

    def prepare_messages(self, messages: list[ChatMessage], tools: list[ToolSpec], policy: CallPolicy) -> list[Message]:
        def assistant(text: str, calls: list[Call], message: ChatMessage) -> str:
            if not calls:
                return text
            ids = _ids(message) if message.tool_calls else [mistral_id(f"example-{i}") for i in range(len(calls))]
            return self._calls_text(text, calls, ids)

        results = {tc.id: tc.function.name for m in messages for tc in m.tool_calls or [] if tc.id}
        pending = iter([m.tool_call_id for m in messages if m.role in ("tool", "function")])

        def tool(name: str, content: str) -> str:
            call_id = next(pending, None)
            return self._result_text(mistral_id(call_id) if call_id in results else None, content)

        parts: list[str] = []
        if tools and policy.mode != "none":
            parts.append(f"[AVAILABLE_TOOLS]{dumps(tool_dicts(tools))}[/AVAILABLE_TOOLS]")
            parts.append(
                "To call tools, answer with [TOOL_CALLS] followed by a JSON list of calls, each with the tool's "
                '"name" and its "arguments" object. To answer without a tool, just write the answer.'
            )
            hint = policy_hint(policy, tools)
            if hint:
                parts.append(hint)
        own = system_text(messages)
        if own:
            parts.append(own)
        turns = TurnWriter(assistant, tool, "").write(messages)
        if parts:
            turns.insert(0, {"role": "user", "content": "\n\n".join(parts)})
        return fold_user_turns(turns)

    @staticmethod
    def _calls_text(text: str, calls: list[Call], ids: list[str]) -> str:
        listed = [{"name": c.name, "arguments": c.arguments, "id": i} for c, i in zip(calls, ids, strict=True)]
        return (f"{text}\n" if text else "") + MARKER + dumps(listed)

    @staticmethod
    def _result_text(call_id: str | None, content: str) -> str:
        body = {"call_id": call_id, "content": content} if call_id else {"content": content}
        return f"[TOOL_RESULTS]{dumps(body)}[/TOOL_RESULTS]"

    def grammar(self, tools: list[ToolSpec], policy: CallPolicy) -> str | None:
        b = GrammarBuilder(policy.layout)
        if policy.mode == "none" or not tools:
            return b.build(text_excluding(b, "text", [MARKER]))
        ws = b.fragment("ws")
        identifier = b.add_rule("call-id", f'( {ws} "," {ws} "\\"id\\"" {ws} ":" {ws} "\\"" [a-zA-Z0-9]{{9}} "\\"" )?')
        alternatives = []
        for t in tools:
            body = (
                f'"{{" {ws} "\\"name\\"" {ws} ":" {ws} {gbnf_literal(dumps(t.name))} {ws} "," {ws} '
                f'"\\"arguments\\"" {ws} ":" {ws} {args_rule(b, t)} {identifier} {ws} "}}"'
            )
            alternatives.append(b.add_rule(f"call-{t.name}", body))
        call = b.add_rule("call", " | ".join(alternatives))
        more = f' ( {ws} "," {ws} {call} )*' if policy.parallel else ""
        calls = b.add_rule("tool-calls", f'{gbnf_literal(MARKER)} {ws} "[" {ws} {call}{more} {ws} "]"')
        if policy.mode == "required":
            return b.build(calls)
        return b.build(f"{text_excluding(b, 'text', [MARKER])} | {calls}")

    def output_format(self, tools: list[ToolSpec]) -> OutputFormat:
        return FORMAT


ARGS = "[ARGS]"
CALL_ID = "[CALL_ID]"


class MistralV11(Mistral):
    """Mistral's tokenizer v11+ format (Mistral Small 3.2, Devstral, Ministral 3, Magistral):
    ``[TOOL_CALLS]NAME[ARGS]{json}`` per call, results ``[TOOL_RESULTS]...[/TOOL_RESULTS]``; Mistral Small 3.2 and
    Devstral 2507 write ``NAME[CALL_ID]ID[ARGS]`` (a 9-character id): read and ignored, the grammar admits it.
    Grammar: ``auto`` = text, then optionally the calls; ``required`` = the calls; ``none`` = text;
    ``parallel`` false = one call."""

    name: ClassVar[str] = "mistral_v11"
    description: ClassVar[str] = "[TOOL_CALLS]NAME[ARGS]{json} (Mistral Small 3.2, Devstral, Ministral 3)"

    @staticmethod
    def _calls_text(text: str, calls: list[Call], ids: list[str]) -> str:
        return text + "".join(f"{MARKER}{c.name}{ARGS}{c.arguments_json}" for c in calls)

    @staticmethod
    def _result_text(call_id: str | None, content: str) -> str:
        return f"[TOOL_RESULTS]{content}[/TOOL_RESULTS]"

    def grammar(self, tools: list[ToolSpec], policy: CallPolicy) -> str | None:
        b = GrammarBuilder(policy.layout)
        text = text_excluding(b, "text", [MARKER])
        if policy.mode == "none" or not tools:
            return b.build(text)
        call_id = b.add_rule("call-id", f'( {gbnf_literal(CALL_ID)} [a-zA-Z0-9]{{9}} )?')  # Mistral Small 3.2's
        alternatives = [f"{gbnf_literal(MARKER + t.name)} {call_id} {gbnf_literal(ARGS)} {args_rule(b, t)}"
                        for t in tools]
        call = b.add_rule("call", " | ".join(alternatives))
        calls = b.add_rule("calls", f"{call} ( {call} )*") if policy.parallel else call
        if policy.mode == "required":
            return b.build(calls)
        return b.build(f"{text} {calls}?")

    def output_format(self, tools: list[ToolSpec]) -> OutputFormat:
        return V11_FORMAT


V11_FORMAT = OutputFormat(regions=(Region(MARKER, NamedCallBody(ARGS, id_marker=CALL_ID)),))
"""Mistral Small 3.2 / Devstral 2507 templates write ``NAME[CALL_ID]ID[ARGS]{...}``: the id is read and ignored."""
