"""Responses request -> the one internal request (:class:`ChatCompletionRequest`), and the answer's blocks ->
the chat messages a follow-up turn (``previous_response_id``) replays."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from pydantic import TypeAdapter, ValidationError

from toolproxy.api.answer import Block
from toolproxy.api.responses.models import (
    FunctionCallItem,
    FunctionCallOutputItem,
    InputItem,
    ItemReference,
    MessageItem,
    ReasoningItem,
    ResponsesRequest,
)
from toolproxy.errors import InvalidRequest
from toolproxy.protocol import (
    ChatCompletionRequest,
    ChatMessage,
    FunctionDef,
    JsonSchemaFormat,
    NamedToolChoice,
    NamedToolChoiceFunction,
    ResponseFormat,
    Tool,
    ToolChoice,
)

_ID_PREFIX = {"message": "msg_", "function_call": "fc_", "function_call_output": "fco_", "reasoning": "rs_"}
_INPUT_ITEM: TypeAdapter[Any] = TypeAdapter(InputItem)


def resolve_references(items: list[InputItem], lookup: Callable[[str], dict[str, Any] | None]) -> list[InputItem]:
    """``item_reference`` items replaced by the stored items they name (``lookup``: id -> stored item); an id
    that names nothing is a 400 naming the item."""
    out: list[InputItem] = []
    for index, item in enumerate(items):
        if not isinstance(item, ItemReference):
            out.append(item)
            continue
        stored = lookup(item.id)
        if stored is None:
            raise InvalidRequest(f"input[{index}]: item {item.id!r} not found (never stored, deleted or expired)",
                                 param=f"input[{index}].id", code="item_not_found")
        try:
            out.append(_INPUT_ITEM.validate_python(stored))
        except ValidationError as exc:  # an output item kind that cannot be replayed as input
            raise InvalidRequest(f"input[{index}]: item {item.id!r} cannot be used as input",
                                 param=f"input[{index}].id") from exc
    return out


def input_items_wire(items: list[InputItem]) -> list[dict[str, Any]]:
    """Input items as ``GET /v1/responses/{id}/input_items`` lists them: each with an id (the client's, else a
    new one) and a status."""
    out: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, ItemReference):
            raise ValueError("resolve item references first")
        wire = item.model_dump(exclude_none=True, by_alias=True)
        if isinstance(item, FunctionCallOutputItem):
            wire["output"] = item.text()
        wire.setdefault("id", _ID_PREFIX[item.type] + uuid.uuid4().hex)
        if not isinstance(item, ReasoningItem):
            wire.setdefault("status", "completed")
        out.append(wire)
    return out


def conversation_of(items: list[InputItem]) -> list[dict[str, Any]]:
    """Input items as chat messages; an assistant text directly followed by calls is one message, as the
    chat pipeline writes it. Reasoning items are accepted and not replayed (the model's thoughts are its own)."""
    out: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, MessageItem):
            out.append({"role": item.role, "content": item.text()})
        elif isinstance(item, FunctionCallItem):
            call = {"id": item.call_id, "type": "function",
                    "function": {"name": item.name, "arguments": item.arguments}}
            last = out[-1] if out else None
            if last is not None and last["role"] == "assistant":
                last.setdefault("tool_calls", []).append(call)
                if not last.get("content"):
                    last["content"] = None
            else:
                out.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif isinstance(item, FunctionCallOutputItem):
            out.append({"role": "tool", "tool_call_id": item.call_id, "content": item.text()})
    return out


def answer_messages(blocks: list[Block]) -> list[dict[str, Any]]:
    """The assistant message of an answer, as chat messages (for the stored conversation)."""
    text = "".join(b.text for b in blocks if b.kind == "text")
    calls = [{"id": b.call_id, "type": "function", "function": {"name": b.name, "arguments": b.text}}
             for b in blocks if b.kind == "call"]
    message: dict[str, Any] = {"role": "assistant", "content": text if (text or not calls) else None}
    if calls:
        message["tool_calls"] = calls
    return [message]


def to_chat_request(body: ResponsesRequest, conversation: list[dict[str, Any]]) -> ChatCompletionRequest:
    """``conversation``: the earlier turns (if any) and this input, as chat messages; ``instructions`` go
    first (they are not carried over from a previous response, as OpenAI documents)."""
    messages = ([{"role": "system", "content": body.instructions}] if body.instructions else []) + conversation
    if not messages:
        raise InvalidRequest("input: at least one input item is needed", param="input")
    tools = [Tool(function=FunctionDef(name=t.name, description=t.description, parameters=t.parameters,
                                       strict=t.strict)) for t in body.tools or []]
    return ChatCompletionRequest(
        model=body.model,
        messages=[ChatMessage.model_validate(m) for m in messages],
        tools=tools or None,
        tool_choice=_tool_choice(body),
        parallel_tool_calls=body.parallel_tool_calls,
        response_format=_response_format(body),
        max_tokens=body.max_output_tokens,
        temperature=body.temperature,
        top_p=body.top_p,
        user=body.user,
        style=body.style,
    )


def _tool_choice(body: ResponsesRequest) -> ToolChoice | None:
    choice = body.tool_choice
    if choice is None:
        return None
    if choice.type == "function":
        return NamedToolChoice(function=NamedToolChoiceFunction(name=choice.name or ""))
    return choice.type


def _response_format(body: ResponsesRequest) -> ResponseFormat | None:
    fmt = body.text.format if body.text else None
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        return ResponseFormat(type="json_object")
    if fmt.schema_ is None:
        raise InvalidRequest("text.format: json_schema needs a schema", param="text.format.schema")
    return ResponseFormat(type="json_schema", json_schema=JsonSchemaFormat.model_validate(
        {"name": fmt.name or "response", "schema": fmt.schema_, "strict": fmt.strict,
         "description": fmt.description}))
