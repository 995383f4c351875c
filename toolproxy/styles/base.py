"""The Style contract: how a prompting style renders tools/conversation and what its output looks like.

A style is data plus small hooks. It never writes streaming code: its ``output_format()`` feeds the one
shared scanner in :mod:`toolproxy.parsing`.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from toolproxy.grammar import Layout
from toolproxy.parsing.format import OutputFormat
from toolproxy.protocol import ChatMessage


@dataclass(frozen=True)
class ToolSpec:
    """A tool as the styles see it: schema already normalised (BFCL types fixed, missing params -> {})."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True)
class CallPolicy:
    """tool_choice + parallel_tool_calls, normalised.

    ``mode``: "auto" (text or calls), "none" (text only), "required" (at least one call).
    A named tool_choice is mode "required" with ``tools`` restricted to that one tool by the service.
    ``parallel``: more than one call allowed in one answer.
    ``layout``: the whitespace of JSON inside calls (:data:`toolproxy.grammar.LAYOUTS`): ``free``, or ``dumps``
    (exactly as the templates' ``tojson`` writes it, so that the grammar alone decides more of each call).
    ``value_chars``: at most this many characters per raw-text string value whose schema sets no smaller
    ``maxLength`` (styles whose string arguments are raw text: :meth:`Style.call_cost`), None unbounded; the
    service sets it under required/named so that the call fits ``max_tokens`` (toolproxy/reasoning.py).
    """

    mode: Literal["auto", "none", "required"]
    parallel: bool = True
    layout: Layout = "free"
    value_chars: int | None = None


@dataclass(frozen=True)
class LazyGrammar:
    """For backends with lazy grammars (llama-server): ``grammar`` constrains the output from the first
    ``triggers`` word on (the grammar's text starts with the trigger); what comes before is free text."""

    grammar: str
    triggers: tuple[str, ...]


class Style(abc.ABC):
    name: ClassVar[str]
    description: ClassVar[str] = ""
    json_layout: ClassVar[Layout] = "free"  # the layout of this style's calls unless the server says otherwise
    thinking: ClassVar[tuple[str, str] | None] = None
    """The style's own think tags, where the grammar admits a think block in them first as it does ``<think>``
    (toolproxy/reasoning.py; equal to ``output_format().think``: Kimi K3, MiniMax M3). None: ``<think>`` (the
    own tags of other styles are read by the scanner only)."""

    @abc.abstractmethod
    def prepare_messages(
        self, messages: list[ChatMessage], tools: list[ToolSpec], policy: CallPolicy
    ) -> list[dict[str, str]]:
        """Turn OpenAI messages into plain ``{"role", "content"}`` messages for a chat template:
        tools announced (usually in a system message), earlier assistant ``tool_calls`` written back in
        this style's own call syntax, ``tool`` results rendered the way the style expects."""

    @abc.abstractmethod
    def grammar(self, tools: list[ToolSpec], policy: CallPolicy) -> str | None:
        """GBNF forcing the model's output into this style's exact shape under ``policy``;
        None means unconstrained."""

    def lazy_grammar(self, tools: list[ToolSpec], policy: CallPolicy) -> LazyGrammar | None:
        """The ``auto`` grammar as a lazy grammar (free text until a call marker), or None when this style's
        output has no marker to trigger on (then the full grammar is used)."""
        return None

    def generation_prefix(self, tools: list[ToolSpec], policy: CallPolicy) -> str:
        """Text appended to the prompt after the generation prompt; it counts as the start of the
        model's output for the scanner (the grammar covers only what follows it)."""
        return ""

    def call_cost(self, tools: list[ToolSpec]) -> tuple[str, int] | None:
        """For styles whose string arguments are raw text, unbounded unless ``policy.value_chars`` bounds
        them: (the longest call's fixed text, the most raw string values ``value_chars`` bounds in one call);
        None: no such values (a JSON string has its schema's grammar)."""
        return None

    @abc.abstractmethod
    def output_format(self, tools: list[ToolSpec]) -> OutputFormat:
        """How this style's output is marked: the data the shared scanner parses it with (the same for
        every policy: under "none" the grammar makes calls impossible)."""
