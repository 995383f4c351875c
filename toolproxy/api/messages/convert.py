"""Messages request -> the one internal request (:class:`ChatCompletionRequest`)."""

from __future__ import annotations

import json
from typing import Any

from toolproxy.api.messages.models import (
    CountTokensRequest,
    MessagesRequest,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
)
from toolproxy.protocol import (
    ChatCompletionRequest,
    ChatMessage,
    FunctionDef,
    NamedToolChoice,
    NamedToolChoiceFunction,
    Tool,
    ToolChoice,
)

ERROR_PREFIX = "Error: "  # a tool_result with is_error: the model reads that the tool failed


def chat_messages(body: CountTokensRequest) -> list[dict[str, Any]]:
    """``system`` first; a user turn's tool results become tool messages (before its text, as Anthropic orders
    them); an assistant turn's text, thinking and tool uses become one assistant message."""
    out: list[dict[str, Any]] = []
    if body.system:
        out.append({"role": "system", "content": "".join(block.text for block in body.system)})
    for message in body.messages:
        text = "".join(block.text for block in message.content if isinstance(block, TextBlock))
        if message.role == "user":
            for block in message.content:
                if isinstance(block, ToolResultBlock):
                    prefix = ERROR_PREFIX if block.is_error else ""
                    out.append({"role": "tool", "tool_call_id": block.tool_use_id, "content": prefix + block.text()})
            if text or not any(isinstance(block, ToolResultBlock) for block in message.content):
                out.append({"role": "user", "content": text})
            continue
        calls = [{"id": b.id, "type": "function",
                  "function": {"name": b.name, "arguments": json.dumps(b.input, ensure_ascii=False)}}
                 for b in message.content if isinstance(b, ToolUseBlock)]
        thought = "".join(b.thinking for b in message.content if isinstance(b, ThinkingBlock))
        assistant: dict[str, Any] = {"role": "assistant", "content": text if (text or not calls) else None}
        if calls:
            assistant["tool_calls"] = calls
        if thought:
            assistant["reasoning_content"] = thought
        out.append(assistant)
    return out


def to_chat_request(body: CountTokensRequest) -> ChatCompletionRequest:
    tools = [Tool(function=FunctionDef(name=t.name, description=t.description, parameters=t.input_schema))
             for t in body.tools or []]
    choice = body.tool_choice
    generation: dict[str, Any] = {}
    if isinstance(body, MessagesRequest):
        generation = {"max_tokens": body.max_tokens, "stop": body.stop_sequences, "temperature": body.temperature,
                      "top_p": body.top_p}
    return ChatCompletionRequest(
        model=body.model,
        messages=[ChatMessage.model_validate(m) for m in chat_messages(body)],
        tools=tools or None,
        tool_choice=_tool_choice(choice.type, choice.name) if choice else None,
        parallel_tool_calls=False if choice and choice.disable_parallel_tool_use else None,
        style=body.style,
        continue_final_message=True if body.messages and body.messages[-1].role == "assistant" else None,  # prefill
        **generation,
    )


def _tool_choice(kind: str, name: str | None) -> ToolChoice:
    if kind == "tool":
        return NamedToolChoice(function=NamedToolChoiceFunction(name=name or ""))
    return "required" if kind == "any" else "auto" if kind == "auto" else "none"
