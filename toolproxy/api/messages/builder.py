"""Block events -> the Messages API's stream events and its message object (one builder for both paths, so
the non-streamed message is the fold of the streamed events)."""

from __future__ import annotations

import copy
import json
import logging
import uuid
from typing import Any

from toolproxy.api.answer import BlockDelta, BlockEvent, BlockStart, BlockStop, Finished
from toolproxy.api.errors import anthropic_error
from toolproxy.errors import ToolproxyError
from toolproxy.protocol import FinishReason

log = logging.getLogger("toolproxy.api.messages")

STOP_REASONS: dict[FinishReason, str] = {"stop": "end_turn", "tool_calls": "tool_use", "length": "max_tokens"}
_EMPTY_BLOCK: dict[str, dict[str, Any]] = {
    "text": {"type": "text", "text": ""},
    "reasoning": {"type": "thinking", "thinking": "", "signature": ""},
}
_DELTA: dict[str, tuple[str, str]] = {  # block kind -> (delta type, field)
    "text": ("text_delta", "text"),
    "reasoning": ("thinking_delta", "thinking"),
    "call": ("input_json_delta", "partial_json"),
}


def new_message_id() -> str:
    return "msg_" + uuid.uuid4().hex


class MessageBuilder:
    def __init__(self, *, model: str) -> None:
        self.id = new_message_id()
        self.model = model
        self.blocks: list[dict[str, Any]] = []
        self.kinds: list[str] = []
        self.parts: list[list[str]] = []
        self.stop_reason: str | None = None
        self.stop_sequence: str | None = None
        self.usage = {"input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": 0,
                      "cache_read_input_tokens": 0}

    def start(self) -> list[dict[str, Any]]:
        return [{"type": "message_start", "message": self.message()}, {"type": "ping"}]

    def on(self, event: BlockEvent) -> list[dict[str, Any]]:
        if isinstance(event, BlockStart):
            return [self._start(event)]
        if isinstance(event, BlockDelta):
            kind = self.kinds[event.index]
            self.parts[event.index].append(event.text)
            delta_type, name = _DELTA[kind]
            return [{"type": "content_block_delta", "index": event.index,
                     "delta": {"type": delta_type, name: event.text}}]
        if isinstance(event, BlockStop):
            self._close(event.index)
            return [{"type": "content_block_stop", "index": event.index}]
        return self._finish(event)

    @staticmethod
    def failed(exc: ToolproxyError) -> list[dict[str, Any]]:
        return [anthropic_error(exc)]

    def message(self) -> dict[str, Any]:
        return {"id": self.id, "type": "message", "role": "assistant", "model": self.model,
                "content": copy.deepcopy(self.blocks), "stop_reason": self.stop_reason,
                "stop_sequence": self.stop_sequence,
                "usage": dict(self.usage)}

    # ------------------------------------------------------------------ internals

    def _start(self, event: BlockStart) -> dict[str, Any]:
        if event.kind == "call":
            block: dict[str, Any] = {"type": "tool_use", "id": event.call_id, "name": event.name, "input": {}}
        else:
            block = dict(_EMPTY_BLOCK[event.kind])
        self.blocks.append(block)
        self.kinds.append(event.kind)
        self.parts.append([])
        return {"type": "content_block_start", "index": event.index, "content_block": copy.deepcopy(block)}

    def _close(self, index: int) -> None:
        kind, block, text = self.kinds[index], self.blocks[index], "".join(self.parts[index])
        if kind == "call":
            block["input"] = _arguments(block["name"], text)
        else:
            block["text" if kind == "text" else "thinking"] = text

    def _finish(self, event: Finished) -> list[dict[str, Any]]:
        self.model = event.model or self.model
        self.stop_reason = STOP_REASONS[event.finish_reason]
        if event.finish_reason == "stop" and event.stop_sequence is not None:
            self.stop_reason, self.stop_sequence = "stop_sequence", event.stop_sequence
        self.usage.update(input_tokens=event.usage.prompt_tokens, output_tokens=event.usage.completion_tokens)
        return [{"type": "message_delta", "delta": {"stop_reason": self.stop_reason,
                                                    "stop_sequence": self.stop_sequence},
                 "usage": {"input_tokens": event.usage.prompt_tokens,
                           "output_tokens": event.usage.completion_tokens}},
                {"type": "message_stop"}]


def _arguments(name: str, text: str) -> dict[str, Any]:
    """A call's JSON arguments as the ``input`` object; a call cut off by ``max_tokens`` may not parse: ``{}``."""
    try:
        value = json.loads(text) if text else {}
    except json.JSONDecodeError:
        log.info("arguments of %r were cut off; its input is {}", name)
        return {}
    return value if isinstance(value, dict) else {}
