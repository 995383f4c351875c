"""OpenAI Responses API request shapes (``POST /v1/responses``), strict: an unknown field or an unsupported
item/tool/part type is a 400 naming it. Documented hints that change nothing here (``metadata``, ``user``,
``reasoning``, ``truncation``, ``service_tier``, ...) are accepted."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from toolproxy.api.validation import Strict, known_types, text_or_list, unsupported

# ---------------------------------------------------------------------------- input items


class TextPart(Strict):
    type: Literal["input_text", "output_text", "refusal"]
    text: str = ""
    refusal: str | None = None
    annotations: list[Any] | None = None
    logprobs: list[Any] | None = None

    def value(self) -> str:
        return self.refusal if self.type == "refusal" and self.refusal is not None else self.text


Parts = Annotated[
    list[Annotated[TextPart, known_types("content part", ("input_text", "output_text", "refusal"))]],
    text_or_list("input_text"),
]


def _joined(parts: list[TextPart]) -> str:
    return "".join(part.value() for part in parts)


class MessageItem(Strict):
    type: Literal["message"] = "message"
    role: Literal["user", "assistant", "system", "developer"]
    content: Parts
    id: str | None = None
    status: str | None = None

    def text(self) -> str:
        return _joined(self.content)


class FunctionCallItem(Strict):
    type: Literal["function_call"]
    call_id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    arguments: str
    id: str | None = None
    status: str | None = None


class FunctionCallOutputItem(Strict):
    type: Literal["function_call_output"]
    call_id: str = Field(min_length=1)
    output: Parts
    id: str | None = None
    status: str | None = None

    def text(self) -> str:
        return _joined(self.output)


class ReasoningPart(Strict):
    type: Literal["summary_text", "reasoning_text"]
    text: str


class ReasoningItem(Strict):
    type: Literal["reasoning"]
    id: str | None = None
    summary: list[ReasoningPart] = Field(default_factory=list)
    content: list[ReasoningPart] | None = None
    encrypted_content: str | None = None
    status: str | None = None


class ItemReference(Strict):
    """An earlier stored item (an input or output item of a stored response), named by its id."""

    type: Literal["item_reference"]
    id: str = Field(min_length=1, max_length=256)


InputItem = Annotated[
    Annotated[MessageItem | FunctionCallItem | FunctionCallOutputItem | ReasoningItem | ItemReference,
              Field(discriminator="type")],
    known_types("input item", ("message", "function_call", "function_call_output", "reasoning", "item_reference"),
                default="message"),
]


def _input_as_items(value: Any) -> Any:
    return [{"type": "message", "role": "user", "content": value}] if isinstance(value, str) else value


# ---------------------------------------------------------------------------- tools and formats


class FunctionTool(Strict):
    type: Literal["function"]
    name: str = Field(min_length=1, max_length=256)
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ToolChoice(Strict):
    """``"auto"``/``"none"``/``"required"`` (read as ``{"type": ...}``) or ``{"type": "function", "name"}``."""

    type: Literal["auto", "none", "required", "function"]
    name: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _named(self) -> ToolChoice:
        if (self.type == "function") != (self.name is not None):
            raise unsupported("tool_choice", "names a function exactly when its type is 'function'")
        return self


def _choice_as_object(value: Any) -> Any:
    return {"type": value} if isinstance(value, str) else value


class TextFormat(Strict):
    type: Literal["text", "json_object", "json_schema"]
    name: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None
    description: str | None = None


class TextConfig(Strict):
    format: Annotated[TextFormat, known_types("text.format", ("text", "json_object", "json_schema"))] | None = None
    verbosity: Literal["low", "medium", "high"] | None = None  # a hint


class ReasoningConfig(Strict):  # a hint: a thinking model thinks as its template lets it
    effort: str | None = None
    summary: str | None = None
    generate_summary: str | None = None


class StreamOptions(Strict):
    include_obfuscation: bool | None = None


_NO_OP_INCLUDES = ("reasoning.encrypted_content",)

# ---------------------------------------------------------------------------- the request


class ResponsesRequest(Strict):
    model: str | None = None
    input: Annotated[list[InputItem], BeforeValidator(_input_as_items)]  # a string is one user message
    instructions: str | None = None
    tools: list[Annotated[FunctionTool, known_types("tool", ("function",))]] | None = None
    tool_choice: Annotated[
        ToolChoice,
        BeforeValidator(_choice_as_object),
        known_types("tool_choice", ("auto", "none", "required", "function")),
    ] | None = None
    parallel_tool_calls: bool | None = None
    max_output_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    text: TextConfig | None = None
    reasoning: ReasoningConfig | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    store: bool = True
    previous_response_id: str | None = Field(default=None, min_length=1, max_length=256)
    include: list[str] | None = None
    # hints
    metadata: dict[str, str] | None = None
    user: str | None = None
    safety_identifier: str | None = None
    prompt_cache_key: str | None = None
    service_tier: str | None = None
    truncation: Literal["auto", "disabled"] | None = None
    background: Literal[False] | None = None
    top_logprobs: Literal[0] | None = None
    # toolproxy extension: per-request prompting style
    style: str | None = None

    @field_validator("include")
    @classmethod
    def _includes(cls, value: list[str] | None) -> list[str] | None:
        for item in value or []:
            if item not in _NO_OP_INCLUDES:
                raise unsupported(f"include value {item!r}")
        return value

    def tool_choice_wire(self) -> str | dict[str, Any]:
        """``tool_choice`` as the response object echoes it."""
        choice = self.tool_choice
        if choice is None:
            return "auto"
        return {"type": "function", "name": choice.name} if choice.type == "function" else choice.type
