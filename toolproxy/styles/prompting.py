"""The conversation skeleton the newer styles share: a system prompt (tool announcement + hint + the
client's own system text), then the turns written by a :class:`TurnWriter` in the style's syntax."""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import ClassVar

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

Announce = Callable[[list[ToolSpec]], str]


def compose(
    messages: list[ChatMessage],
    tools: list[ToolSpec],
    policy: CallPolicy,
    *,
    announce: Announce,
    assistant: Callable[[str, list[Call], ChatMessage], str],
    tool: Callable[[str, str], str],
    tool_joiner: str = "\n",
    system_as_user: bool = False,
) -> list[Message]:
    """``announce(tools)`` writes the tool announcement (only when tools are offered, mode != none).
    ``system_as_user``: the system prompt becomes the first user turn and turns strictly alternate."""
    parts: list[str] = []
    if tools and policy.mode != "none":
        parts.append(announce(tools))
        hint = policy_hint(policy, tools)
        if hint:
            parts.append(hint)
    own = system_text(messages)
    if own:
        parts.append(own)
    system = "\n\n".join(parts)
    turns = TurnWriter(assistant, tool, tool_joiner).write(messages)
    if not system:
        return fold_user_turns(turns) if system_as_user else turns
    if system_as_user:
        return fold_user_turns([{"role": "user", "content": system}, *turns])
    return [{"role": "system", "content": system}, *turns]


class ComposedStyle(Style):
    """A style whose conversation is :func:`compose`'s: the tools announced as JSON with an example call in the
    style's own syntax (:meth:`calls_text`), assistant turns by :meth:`_assistant`, tool results by
    ``TOOL_RESULT`` (``{name}``, ``{content}``)."""

    TOOL_RESULT: ClassVar[str] = "{content}"

    @abc.abstractmethod
    def calls_text(self, calls: list[Call]) -> str: ...

    @abc.abstractmethod
    def _assistant(self, text: str, calls: list[Call], message: ChatMessage) -> str: ...

    def _tool(self, name: str, content: str) -> str:
        return self.TOOL_RESULT.format(name=name, content=content)

    def announce(self, tools: list[ToolSpec]) -> str:
        listed = "\n".join(dumps(t) for t in tool_dicts(tools))
        example = self.calls_text([Call("tool_name", {"parameter": "value"})])
        return (
            f"You can call these tools:\n{listed}\n"
            f"To call a tool, write {example}. To answer without a tool, just write the answer."
        )

    def prepare_messages(self, messages: list[ChatMessage], tools: list[ToolSpec], policy: CallPolicy) -> list[Message]:
        return compose(messages, tools, policy, announce=self.announce, assistant=self._assistant, tool=self._tool)
