"""gemma4: Gemma 4's calls, ``<|tool_call>call:NAME{city:<|"|>Paris<|"|>,days:3}<tool_call|>`` per call (issue 15).

The arguments are Gemma's own encoding (:mod:`toolproxy.parsing.gemma`): bare keys in sorted order (the template
writes them with ``dictsort``), strings between ``<|"|>`` (any text but that delimiter), numbers, ``true`` /
``false`` / ``null``, lists and nested objects as in JSON. Grammar: ``auto`` = text (which cannot contain
``<|tool_call>``), then optionally the calls; ``required`` (and a named tool) = the calls; ``none`` = text;
``parallel`` false = one call. Each argument follows its schema in that encoding (a string parameter is a
``<|"|>`` string, an integer a JSON integer, declared properties in sorted order, required ones mandatory);
what that encoding cannot say (``anyOf``, ``additionalProperties`` schemas, ...) admits any Gemma value.
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar

from toolproxy.grammar import GrammarBuilder, gbnf_literal
from toolproxy.parsing.format import GemmaCallBody, OutputFormat, Region
from toolproxy.parsing.gemma import PREFIX, QUOTE
from toolproxy.protocol import ChatMessage
from toolproxy.styles.base import CallPolicy, ToolSpec
from toolproxy.styles.common import Call
from toolproxy.styles.grammar_kit import text_excluding
from toolproxy.styles.prompting import ComposedStyle

OPEN = "<|tool_call>"
CLOSE = "<tool_call|>"
RESPONSE = "<|tool_response>"
_BARE = re.compile(r"[^\s:,{}\[\]<]+")
_PLAIN = {"type", "properties", "required", "items", "enum", "description", "title"}


def gemma_value(value: Any) -> str:
    """``value`` (JSON data) as Gemma 4's template writes it."""
    if isinstance(value, str):
        return f"{QUOTE}{value}{QUOTE}"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ",".join(gemma_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{_key(str(k))}:{gemma_value(v)}" for k, v in sorted(value.items())) + "}"
    raise TypeError(f"{type(value).__name__} is not JSON data")


def _key(key: str) -> str:
    return key if _BARE.fullmatch(key) else f"{QUOTE}{key}{QUOTE}"


class _Values:
    """GBNF for Gemma-encoded values, by schema."""

    def __init__(self, b: GrammarBuilder) -> None:
        self.b = b
        text = text_excluding(b, "gemma-text", [QUOTE])
        self.string = b.add_rule("gemma-string", f"{gbnf_literal(QUOTE)} {text} {gbnf_literal(QUOTE)}")
        key = b.add_rule("gemma-key", f'[^ \\t\\n:,{{}}\\[\\]<]+ | {self.string}')
        number = b.add_schema({"type": "number"}, "gemma-number")
        b.add_rule("gemma-any", f'{self.string} | {number} | "true" | "false" | "null" | gemma-list | gemma-dict')
        b.add_rule("gemma-list", '"[" ( gemma-any ( "," gemma-any )* )? "]"')
        b.add_rule("gemma-dict", f'"{{" ( {key} ":" gemma-any ( "," {key} ":" gemma-any )* )? "}}"')

    def value(self, schema: Any, name: str) -> str:
        if not isinstance(schema, dict) or set(schema) - _PLAIN:
            return "gemma-any"
        enum = schema.get("enum")
        if isinstance(enum, list) and enum:
            return self.b.add_rule(f"{name}-enum", " | ".join(gbnf_literal(gemma_value(v)) for v in enum))
        kind = schema.get("type")
        if kind == "string":
            return self.string
        if kind in ("integer", "number"):
            return self.b.add_schema(schema, name)
        if kind == "boolean":
            return '( "true" | "false" )'
        if kind == "null":
            return '"null"'
        if kind == "array":
            item = self.value(schema.get("items", {}), f"{name}-item")
            return self.b.add_rule(f"{name}-list", f'"[" ( {item} ( "," {item} )* )? "]"')
        if kind == "object" or (kind is None and "properties" in schema):
            return self.object(schema, name)
        return "gemma-any"

    def object(self, schema: dict[str, Any], name: str) -> str:
        props = schema.get("properties")
        if not isinstance(props, dict) or not props:
            return "gemma-dict"
        required = set(schema.get("required") or [])
        items = [(f"{gbnf_literal(_key(k) + ':')} {self.value(props[k], f'{name}-{_safe(k)}')}", k in required)
                 for k in sorted(props)]
        return self.b.add_rule(f"{name}-obj", f'"{{" {self._ordered(name, items)} "}}"')

    def _ordered(self, name: str, items: list[tuple[str, bool]]) -> str:
        """The items in order, comma-separated, required ones mandatory (a rule per position)."""
        def tail(i: int, started: bool) -> str:
            if i == len(items):
                return ""
            body, needed = items[i]
            sep = '"," ' if started else ""
            rest_on = tail(i + 1, True)
            with_it = f"{sep}{body} {rest_on}".strip()
            if needed:
                return with_it
            rest_off = tail(i + 1, started)
            return f"( {with_it} | {rest_off or chr(34) * 2} )"
        return tail(0, False)


def _safe(key: str) -> str:
    return re.sub(r"[^a-zA-Z0-9-]", "-", key)[:40] or "k"


class Gemma4(ComposedStyle):
    name: ClassVar[str] = "gemma4"
    description: ClassVar[str] = '<|tool_call>call:NAME{k:<|"|>v<|"|>}<tool_call|> (Gemma 4)'
    TOOL_RESULT: ClassVar[str] = f"{RESPONSE}response:{{name}}{{{{value:{QUOTE}{{content}}{QUOTE}}}}}<tool_response|>"

    def calls_text(self, calls: list[Call]) -> str:
        return "".join(f"{OPEN}{PREFIX}{c.name}{gemma_value(c.arguments if isinstance(c.arguments, dict) else {})}"
                       f"{CLOSE}" for c in calls)

    def _assistant(self, text: str, calls: list[Call], _: ChatMessage) -> str:
        return text + (self.calls_text(calls) if calls else "")

    def grammar(self, tools: list[ToolSpec], policy: CallPolicy) -> str | None:
        b = GrammarBuilder(policy.layout)
        text = text_excluding(b, "text", [OPEN])
        if policy.mode == "none" or not tools:
            return b.build(text)
        values = _Values(b)
        alternatives = [f"{gbnf_literal(OPEN + PREFIX + t.name)} {values.object(t.parameters, f'{t.name}-args')} "
                        f"{gbnf_literal(CLOSE)}" for t in tools]
        call = b.add_rule("call", " | ".join(alternatives))
        calls = b.add_rule("calls", f"{call}+" if policy.parallel else call)
        if policy.mode == "required":
            return b.build(calls)
        return b.build(f"{text} {calls}?")

    def output_format(self, tools: list[ToolSpec]) -> OutputFormat:
        return OutputFormat(regions=(Region(OPEN, GemmaCallBody(), end=CLOSE),), silent=(RESPONSE,),
                            think=("<|channel>", "<channel|>"))
