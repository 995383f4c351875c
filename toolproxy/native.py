"""Rendering a conversation with the model's *own* chat template, tools included (Hugging Face conventions).

Real templates disagree on details, so :func:`render_native` tries a few shapes of the same conversation,
most faithful first, and returns the first one the template renders:

1. tool call ``arguments`` as objects (what most templates ``tojson``) or as JSON strings (what others
   concatenate, e.g. Functionary v3.2);
2. tool call ids as sent, or as 9-character alphanumeric ids (Mistral's templates refuse others);
3. roles as sent, or folded: ``system``/``developer`` into the first user turn, ``tool`` results into user
   turns, consecutive user turns merged (templates that only know user/assistant alternation).

A rendering that silently drops a user message or a tool result (templates that skip roles they do not
know) does not count. If no shape renders everything, :class:`TemplateError` is raised (the first shape's
error, or :class:`TemplateDropsContent`): the caller then falls back to the style's own rendering.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from toolproxy.detect import native_style
from toolproxy.protocol import ChatMessage
from toolproxy.styles.mistral import mistral_id
from toolproxy.templating import TemplateError, render_chat

log = logging.getLogger("toolproxy.native")


@dataclass(frozen=True)
class Shape:
    args_as_string: bool = False
    short_ids: bool = False
    fold_roles: bool = False


SHAPES: tuple[Shape, ...] = tuple(
    Shape(args, ids, fold) for fold, ids, args in itertools.product((False, True), repeat=3)
)


class TemplateDropsContent(TemplateError):
    """The template rendered, but without some of the conversation (a role it does not know)."""


def hf_tools(tools: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """OpenAI tools are already in the Hugging Face shape (``{"type": "function", "function": {...}}``)."""
    return tools or None


def _arguments(raw: Any) -> Any:
    if isinstance(raw, str):
        try:
            return json.loads(raw) if raw.strip() else {}
        except json.JSONDecodeError:
            return raw
    return raw


def hf_messages(messages: list[ChatMessage], shape: Shape = Shape()) -> list[dict[str, Any]]:
    """OpenAI messages as the dicts Hugging Face templates iterate over, in ``shape``."""
    out: list[dict[str, Any]] = []
    names: dict[str, str] = {}
    for message in messages:
        role = "system" if message.role == "developer" else message.role
        if role == "function":
            role = "tool"
        item: dict[str, Any] = {"role": role, "content": message.text()}
        if message.tool_calls:
            calls = []
            for i, tc in enumerate(message.tool_calls):
                args = _arguments(tc.function.arguments)
                if shape.args_as_string and not isinstance(args, str):
                    args = json.dumps(args, ensure_ascii=False)
                call_id = tc.id or f"call_{len(out)}_{i}"
                call_id = mistral_id(call_id) if shape.short_ids else call_id
                names[call_id] = tc.function.name
                function = {"name": tc.function.name, "arguments": args}
                calls.append({"id": call_id, "type": "function", "function": function})
            item["tool_calls"] = calls
        if role == "tool":
            call_id = message.tool_call_id or ""
            call_id = mistral_id(call_id) if shape.short_ids and call_id else call_id
            item["tool_call_id"] = call_id
            item["name"] = message.name or names.get(call_id, "tool")
        if message.reasoning_content:
            item["reasoning_content"] = message.reasoning_content
        out.append(item)
    return _folded(out) if shape.fold_roles else out


def _folded(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system" and m["content"])
    out: list[dict[str, Any]] = []
    for message in messages:
        if message["role"] == "system":
            continue
        if message["role"] == "tool":
            message = {"role": "user", "content": f"[{message['name']} result] {message['content']}"}
        if out and message["role"] == "user" and out[-1]["role"] == "user":
            out[-1] = {**out[-1], "content": out[-1]["content"] + "\n\n" + message["content"]}
        else:
            out.append(dict(message))
    if system:
        if out and out[0]["role"] == "user":
            out[0] = {**out[0], "content": system + "\n\n" + out[0]["content"]}
        else:
            out.insert(0, {"role": "user", "content": system})
    return out


def _attempts(messages: list[ChatMessage]) -> Iterator[tuple[Shape, list[dict[str, Any]]]]:
    seen: list[list[dict[str, Any]]] = []
    for shape in SHAPES:
        converted = hf_messages(messages, shape)
        if converted not in seen:
            seen.append(converted)
            yield shape, converted


def render_native(
    template: str,
    messages: list[ChatMessage],
    tools: list[dict[str, Any]] | None,
    bos: str = "",
    eos: str = "",
    *,
    add_generation_prompt: bool = True,
    **extra: Any,
) -> str:
    """The prompt for ``messages`` (+ ``tools`` in OpenAI/HF shape) rendered by the model's own template."""
    first: TemplateError | None = None
    required = [m.text().strip() for m in messages if m.role in ("user", "tool", "function") and m.text().strip()]
    for _shape, converted in _attempts(messages):
        try:
            prompt = render_chat(
                template,
                converted,
                add_generation_prompt=add_generation_prompt,
                bos_token=bos,
                eos_token=eos,
                tools=hf_tools(tools),
                **extra,
            )
        except TemplateError as exc:
            first = first or exc
            continue
        lost = [text for text in required if text not in prompt]
        if not lost:
            return prompt
        first = first or TemplateDropsContent(f"the chat template drops part of the conversation: {lost[0][:60]!r}")
    assert first is not None  # SHAPES is never empty
    raise first


def native_prompt(
    own_template: str | None,
    style: str | None,
    messages: list[ChatMessage],
    tools: list[dict[str, Any]] | None,
    *,
    bos: str = "",
    eos: str = "",
    prefix: str = "",
) -> str | None:
    """The prompt from the model's own template when it speaks ``style`` exactly (:func:`native_style`);
    None when it does not apply or the template refuses the conversation
    (the caller then renders the style's own messages). ``prefix`` (the style's generation prefix) is
    appended unless the template's generation prompt already ends with it (Functionary v3.2's ``>>>``)."""
    if not own_template or style is None or native_style(own_template) != style:
        return None
    try:
        prompt = render_native(own_template, messages, tools, bos, eos)
    except TemplateError as exc:
        log.info("the model's chat template cannot render this conversation (%s); using the %s style's", exc, style)
        return None
    return prompt if prompt.endswith(prefix) else prompt + prefix
