"""Helpers the styles share: reading OpenAI messages, tools as JSON, prompt templates, turn folding."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from toolproxy.protocol import ChatMessage, ToolCall
from toolproxy.resources import read_text
from toolproxy.styles.base import CallPolicy, ToolSpec

Message = dict[str, str]


@dataclass(frozen=True)
class Call:
    """An earlier assistant tool call, arguments decoded when they are JSON (kept as text otherwise)."""

    name: str
    arguments: Any

    @property
    def arguments_json(self) -> str:
        if isinstance(self.arguments, str):
            return self.arguments
        return dumps(self.arguments)


def dumps(value: Any) -> str:
    """JSON as the prompts show it: ``", "`` / ``": "`` separators, non-ASCII kept."""
    return json.dumps(value, ensure_ascii=False)


def calls_of(message: ChatMessage) -> list[Call]:
    return [_call(tc) for tc in message.tool_calls or []]


def _call(tool_call: ToolCall) -> Call:
    raw = tool_call.function.arguments
    if isinstance(raw, dict):
        return Call(tool_call.function.name, raw)
    try:
        return Call(tool_call.function.name, json.loads(raw) if raw.strip() else {})
    except json.JSONDecodeError:
        return Call(tool_call.function.name, raw)


def tool_name_of(message: ChatMessage, messages: list[ChatMessage]) -> str:
    """The name of the tool a ``tool`` message answers (from ``name`` or the matching call id)."""
    if message.name:
        return message.name
    for earlier in messages:
        for tool_call in earlier.tool_calls or []:
            if tool_call.id and tool_call.id == message.tool_call_id:
                return tool_call.function.name
    return "tool"


def tool_dicts(tools: Iterable[ToolSpec]) -> list[dict[str, Any]]:
    """Tools in OpenAI's shape, as most tool-trained models saw them."""
    return [
        {
            "type": "function",
            "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
        }
        for t in tools
    ]


def policy_hint(policy: CallPolicy, tools: list[ToolSpec]) -> str:
    """One sentence telling the model what the grammar will enforce anyway (it helps small models)."""
    if policy.mode == "required":
        if len(tools) == 1:
            return f"You must call the function {tools[0].name}."
        return "You must call at least one function." if policy.parallel else "You must call one function."
    if policy.mode == "auto" and not policy.parallel:
        return "Call at most one function."
    return ""


def system_text(messages: list[ChatMessage]) -> str:
    return "\n\n".join(m.text() for m in messages if m.role in ("system", "developer") and m.text())


def fold_user_turns(messages: list[Message]) -> list[Message]:
    """Merge consecutive messages of the same role (templates that demand user/assistant alternation)."""
    out: list[Message] = []
    for message in messages:
        if out and out[-1]["role"] == message["role"]:
            out[-1] = {"role": message["role"], "content": out[-1]["content"] + "\n\n" + message["content"]}
        else:
            out.append(dict(message))
    return out


# ---------------------------------------------------------------------- prompt templates


def _tojson(value: Any, indent: int | None = None) -> str:
    return json.dumps(value, ensure_ascii=False, indent=indent)


@lru_cache(maxsize=32)
def _template(filename: str) -> jinja2.Template:
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False)
    env.filters["tojson"] = _tojson
    return env.from_string(read_text("templates", filename))


def render_prompt(filename: str, **context: Any) -> str:
    """Render a style's prompt template from ``templates/`` (system prompt / tool announcement)."""
    return _template(filename).render(**context).strip()


# ---------------------------------------------------------------------- conversations


class TurnWriter:
    """Writes the non-system turns of a conversation in a style's syntax.

    ``assistant(text, calls, message)`` gives an assistant turn's content; ``tool(name, content)`` one
    tool result. Consecutive tool results go into one user turn, joined by ``tool_joiner`` (tool turns
    are user turns: every chat template accepts those).
    """

    def __init__(
        self,
        assistant: Callable[[str, list[Call], ChatMessage], str],
        tool: Callable[[str, str], str],
        tool_joiner: str = "\n",
    ) -> None:
        self._assistant = assistant
        self._tool = tool
        self._joiner = tool_joiner

    def write(self, messages: list[ChatMessage]) -> list[Message]:
        """The turns (worked examples come from :mod:`toolproxy.styles.examples`, around the style)."""
        out: list[Message] = []
        tool_turn = False
        for message in messages:
            if message.role in ("system", "developer"):
                continue
            if message.role in ("tool", "function"):
                piece = self._tool(tool_name_of(message, messages), message.text())
                if tool_turn:
                    out[-1] = {"role": "user", "content": out[-1]["content"] + self._joiner + piece}
                else:
                    out.append({"role": "user", "content": piece})
                tool_turn = True
                continue
            tool_turn = False
            if message.role == "assistant":
                raw = getattr(message, "raw_output", None)  # the model's own text, replayed (see turn_memory)
                content = raw if isinstance(raw, str) else self._assistant(message.text(), calls_of(message), message)
                out.append({"role": "assistant", "content": content})
            else:
                out.append({"role": "user", "content": message.text()})
        return out
