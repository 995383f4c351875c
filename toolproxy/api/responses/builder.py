"""Block events -> the Responses API's stream events and its response object.

One builder serves both paths: streaming sends the events it returns, non-streaming drops them and returns
:meth:`ResponseBuilder.response` at the end, so the output items of both are the same by construction (and
the deltas of the stream concatenate to them)."""

from __future__ import annotations

import copy
import time
import uuid
from typing import Any

from toolproxy.api.answer import BlockDelta, BlockEvent, BlockStart, BlockStop, Finished
from toolproxy.api.responses.models import ResponsesRequest
from toolproxy.errors import ToolproxyError

_ITEM_PREFIX = {"text": "msg_", "reasoning": "rs_", "call": "fc_"}
_PART_TYPE = {"text": "output_text", "reasoning": "reasoning_text"}
_DELTA_EVENT = {"text": "response.output_text.delta", "reasoning": "response.reasoning_text.delta"}
_DONE_EVENT = {"text": "response.output_text.done", "reasoning": "response.reasoning_text.done"}


def new_response_id() -> str:
    return "resp_" + uuid.uuid4().hex


def _item_id(kind: str) -> str:
    return _ITEM_PREFIX[kind] + uuid.uuid4().hex


class ResponseBuilder:
    def __init__(self, body: ResponsesRequest, *, model: str, response_id: str | None = None) -> None:
        self.body = body
        self.id = response_id or new_response_id()
        self.created_at = int(time.time())
        self.model = model
        self.status = "in_progress"
        self.items: list[dict[str, Any]] = []
        self.kinds: list[str] = []
        self.parts: list[list[str]] = []
        self.usage: dict[str, Any] | None = None
        self.incomplete: dict[str, str] | None = None
        self.error: dict[str, str] | None = None
        self._sequence = 0

    # ------------------------------------------------------------------ events

    def start(self) -> list[dict[str, Any]]:
        return [self._event("response.created", response=self.response()),
                self._event("response.in_progress", response=self.response())]

    def on(self, event: BlockEvent) -> list[dict[str, Any]]:
        if isinstance(event, BlockStart):
            return self._start(event)
        if isinstance(event, BlockDelta):
            return self._delta(event)
        if isinstance(event, BlockStop):
            return self._stop(event.index)
        return self._finish(event)

    def failed(self, exc: ToolproxyError) -> list[dict[str, Any]]:
        self.status = "failed"
        code = exc.code or exc.error_type
        self.error = {"code": code, "message": exc.message}
        return [self._event("error", code=code, message=exc.message, param=exc.param),
                self._event("response.failed", response=self.response())]

    # ------------------------------------------------------------------ the response object

    def response(self) -> dict[str, Any]:
        body = self.body
        fmt = body.text.format if body.text and body.text.format else None
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": self.status,
            "error": self.error,
            "incomplete_details": self.incomplete,
            "instructions": body.instructions,
            "max_output_tokens": body.max_output_tokens,
            "model": self.model,
            "output": copy.deepcopy(self.items),
            "parallel_tool_calls": body.parallel_tool_calls is not False,
            "previous_response_id": body.previous_response_id,
            "reasoning": {"effort": body.reasoning.effort if body.reasoning else None,
                          "summary": body.reasoning.summary if body.reasoning else None},
            "store": body.store,
            "temperature": 0.0 if body.temperature is None else body.temperature,
            "text": {"format": fmt.model_dump(by_alias=True, exclude_none=True) if fmt else {"type": "text"}},
            "tool_choice": body.tool_choice_wire(),
            "tools": [tool.model_dump(exclude_none=True) for tool in body.tools or []],
            "top_p": 1.0 if body.top_p is None else body.top_p,
            "truncation": "disabled",
            "usage": self.usage,
            "user": body.user,
            "metadata": body.metadata or {},
        }

    # ------------------------------------------------------------------ internals

    def _event(self, kind: str, **fields: Any) -> dict[str, Any]:
        event = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return event

    def _start(self, event: BlockStart) -> list[dict[str, Any]]:
        index = event.index
        item_id = _item_id(event.kind)
        if event.kind == "call":
            item: dict[str, Any] = {"id": item_id, "type": "function_call", "status": "in_progress",
                                    "call_id": event.call_id, "name": event.name, "arguments": ""}
        elif event.kind == "text":
            item = {"id": item_id, "type": "message", "status": "in_progress", "role": "assistant", "content": []}
        else:
            item = {"id": item_id, "type": "reasoning", "summary": [], "content": []}
        self.items.append(item)
        self.kinds.append(event.kind)
        self.parts.append([])
        events = [self._event("response.output_item.added", output_index=index, item=copy.deepcopy(item))]
        if event.kind != "call":
            events.append(self._event("response.content_part.added", item_id=item_id, output_index=index,
                                      content_index=0, part=self._part(index, "")))
        return events

    def _part(self, index: int, text: str) -> dict[str, Any]:
        kind = self.kinds[index]
        part: dict[str, Any] = {"type": _PART_TYPE[kind], "text": text}
        if kind == "text":
            part.update(annotations=[], logprobs=[])
        return part

    def _delta(self, event: BlockDelta) -> list[dict[str, Any]]:
        index, kind = event.index, self.kinds[event.index]
        self.parts[index].append(event.text)
        item_id = self.items[index]["id"]
        if kind == "call":
            return [self._event("response.function_call_arguments.delta", item_id=item_id, output_index=index,
                                delta=event.text)]
        extra: dict[str, Any] = {"logprobs": []} if kind == "text" else {}
        return [self._event(_DELTA_EVENT[kind], item_id=item_id, output_index=index, content_index=0,
                            delta=event.text, **extra)]

    def _stop(self, index: int) -> list[dict[str, Any]]:
        kind, item = self.kinds[index], self.items[index]
        text = "".join(self.parts[index])
        events: list[dict[str, Any]] = []
        if kind == "call":
            item.update(arguments=text, status="completed")
            events.append(self._event("response.function_call_arguments.done", item_id=item["id"],
                                      output_index=index, name=item["name"], arguments=text))
        else:
            part = self._part(index, text)
            extra: dict[str, Any] = {"logprobs": []} if kind == "text" else {}
            events.append(self._event(_DONE_EVENT[kind], item_id=item["id"], output_index=index, content_index=0,
                                      text=text, **extra))
            events.append(self._event("response.content_part.done", item_id=item["id"], output_index=index,
                                      content_index=0, part=copy.deepcopy(part)))
            item["content"] = [part]
            if kind == "text":
                item["status"] = "completed"
        events.append(self._event("response.output_item.done", output_index=index, item=copy.deepcopy(item)))
        return events

    def _finish(self, event: Finished) -> list[dict[str, Any]]:
        usage = event.usage
        self.model = event.model or self.model
        self.usage = {
            "input_tokens": usage.prompt_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": usage.completion_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": usage.total_tokens,
        }
        if event.finish_reason == "length":
            self.status = "incomplete"
            self.incomplete = {"reason": "max_output_tokens"}
            return [self._event("response.incomplete", response=self.response())]
        self.status = "completed"
        return [self._event("response.completed", response=self.response())]
