"""Anthropic Messages API request shapes (``POST /v1/messages``, ``/v1/messages/count_tokens``), strict: an
unknown field or an unsupported block/tool type is a 400 naming it. Hints that change nothing here
(``metadata``, ``cache_control``, ``thinking``, ``service_tier``) are accepted."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from toolproxy.api.validation import Strict, known_types, text_or_list, unsupported

# ---------------------------------------------------------------------------- content blocks


class TextBlock(Strict):
    type: Literal["text"]
    text: str
    cache_control: dict[str, Any] | None = None
    citations: list[Any] | None = None


TextBlocks = Annotated[list[Annotated[TextBlock, known_types("content block", ("text",))]], text_or_list("text")]


class ToolUseBlock(Strict):
    type: Literal["tool_use"]
    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    input: dict[str, Any]
    cache_control: dict[str, Any] | None = None
    caller: dict[str, Any] | None = None  # who called it (``{"type": "direct"}``): bookkeeping


class ToolResultBlock(Strict):
    type: Literal["tool_result"]
    tool_use_id: str = Field(min_length=1)
    content: TextBlocks | None = None
    is_error: bool | None = None
    cache_control: dict[str, Any] | None = None

    def text(self) -> str:
        return "".join(block.text for block in self.content or [])


class ThinkingBlock(Strict):
    type: Literal["thinking"]
    thinking: str
    signature: str | None = None


class RedactedThinkingBlock(Strict):
    type: Literal["redacted_thinking"]
    data: str


_BLOCK_TYPES = ("text", "tool_use", "tool_result", "thinking", "redacted_thinking")
ContentBlock = Annotated[
    Annotated[TextBlock | ToolUseBlock | ToolResultBlock | ThinkingBlock | RedactedThinkingBlock,
              Field(discriminator="type")],
    known_types("content block", _BLOCK_TYPES),
]


class Message(Strict):
    role: Literal["user", "assistant"]
    content: Annotated[list[ContentBlock], text_or_list("text")]


# ---------------------------------------------------------------------------- tools


class ToolDef(Strict):
    type: Literal["custom"] = "custom"
    name: str = Field(min_length=1, max_length=256)
    description: str | None = None
    input_schema: dict[str, Any]
    cache_control: dict[str, Any] | None = None


class ToolChoice(Strict):
    type: Literal["auto", "any", "tool", "none"]
    name: str | None = Field(default=None, min_length=1)
    disable_parallel_tool_use: bool | None = None

    @model_validator(mode="after")
    def _named(self) -> ToolChoice:
        if (self.type == "tool") != (self.name is not None):
            raise unsupported("tool_choice", "names a tool exactly when its type is 'tool'")
        return self


class Thinking(Strict):  # a hint: a thinking model thinks as its template lets it
    type: Literal["enabled", "disabled", "adaptive"]
    budget_tokens: int | None = Field(default=None, ge=0)


class Metadata(Strict):
    user_id: str | None = None


# ---------------------------------------------------------------------------- requests


class CountTokensRequest(Strict):
    model: str | None = None
    messages: list[Message] = Field(min_length=1)
    system: TextBlocks | None = None
    tools: list[Annotated[ToolDef, known_types("tool", ("custom",), default="custom")]] | None = None
    tool_choice: Annotated[ToolChoice, known_types("tool_choice", ("auto", "any", "tool", "none"))] | None = None
    thinking: Thinking | None = None
    # toolproxy extension: per-request prompting style
    style: str | None = None


class MessagesRequest(CountTokensRequest):
    max_tokens: int = Field(ge=1)
    stop_sequences: list[str] | None = None
    stream: bool = False
    temperature: float | None = Field(default=None, ge=0.0, le=1.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    metadata: Metadata | None = None
    service_tier: str | None = None
