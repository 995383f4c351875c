"""The conversation skeleton the newer styles share: a system prompt (tool announcement + hint + the
client's own system text), then the turns written by a :class:`TurnWriter` in the style's syntax."""

from __future__ import annotations

from collections.abc import Callable

from toolproxy.protocol import ChatMessage
from toolproxy.styles.base import CallPolicy, ToolSpec
from toolproxy.styles.common import (
    Call,
    Message,
    TurnWriter,
    fold_user_turns,
    policy_hint,
    system_text,
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
