"""Remember the exact text the model generated for an answer with tool calls, keyed by the call ids toolproxy
issued, so that when the client sends that assistant turn back, the prompt replays it byte for byte.

Re-rendering the calls from their JSON (the style's canonical spelling) usually differs from what the model
wrote (spacing, key order, newlines); replaying the original keeps the next turn's prompt an exact extension of
the previous prompt *and* its generated tokens, which llama.cpp's prompt cache (embedded or llama-server) reuses.
Bounded LRU; lives on the service instance, not in a module global.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

from toolproxy.protocol import ChatMessage


class TurnMemory:
    def __init__(self, capacity: int = 1024, max_chars: int = 65536) -> None:
        self._entries: OrderedDict[tuple[str, ...], tuple[str, list[tuple[str, Any]]]] = OrderedDict()
        self._capacity = capacity
        self._max_chars = max_chars

    def __len__(self) -> int:
        return len(self._entries)

    def remember(self, call_ids: list[str], raw: str, calls: list[tuple[str, str]]) -> None:
        """``calls``: (name, arguments JSON) as the client received them, in order."""
        if not call_ids or self._capacity <= 0 or len(raw) > self._max_chars:
            return
        key = tuple(call_ids)
        self._entries[key] = (raw, [(name, _loads(args)) for name, args in calls])
        self._entries.move_to_end(key)
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)

    def recall(self, message: ChatMessage) -> str | None:
        """The generated text behind an assistant message, if it is one of ours, sent back unchanged in its calls."""
        if message.role != "assistant" or not message.tool_calls:
            return None
        key = tuple(call.id or "" for call in message.tool_calls)
        entry = self._entries.get(key)
        if entry is None:
            return None
        raw, calls = entry
        sent = [(c.function.name, c.function.arguments if isinstance(c.function.arguments, dict)
                 else _loads(c.function.arguments)) for c in message.tool_calls]
        if sent != calls:  # the client edited the calls: render what it sent
            return None
        self._entries.move_to_end(key)
        return raw

    def replay(self, messages: list[ChatMessage]) -> list[ChatMessage]:
        """``messages`` with ``raw_output`` attached to the assistant turns we remember (styles render it as is)."""
        out: list[ChatMessage] = []
        for message in messages:
            raw = self.recall(message)
            if raw is None:
                out.append(message)
            else:
                out.append(ChatMessage.model_validate({**message.model_dump(exclude_none=True), "raw_output": raw}))
        return out


def _loads(arguments: str) -> Any:
    try:
        return json.loads(arguments)
    except (TypeError, ValueError):
        return arguments
