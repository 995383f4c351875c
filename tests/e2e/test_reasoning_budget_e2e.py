"""Issue 15 item 4 on the real embedded model: a thinking template under tool_choice required or a named tool
thinks within a budget, then the grammar forces ``</think>`` and the call: the call always comes within
max_tokens, streamed or not, its arguments valid, no think marker in the content."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from toolproxy.backends.embedded import EmbeddedBackend
from toolproxy.protocol import ChatCompletionRequest
from toolproxy.service import ChatService
from toolproxy.settings import Settings

PARAMETERS = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "unit": {"enum": ["celsius", "fahrenheit"]}},
    "required": ["city", "unit"],
}
TOOLS = [
    {"type": "function", "function": {"name": "get_forecast", "description": "Forecast", "parameters": PARAMETERS}},
    {"type": "function", "function": {"name": "get_time", "description": "Local time",
                                      "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                     "required": ["city"]}}},
]
# Qwen3.5-4B and MiniMax-M2: XML-parameter styles, whose raw string values are bounded too (CallPolicy.value_chars)
# Kimi K3 and MiniMax M3: think tags of their own (<|open|>think<|sep|>, <mm:think>)
TEMPLATES = ["NVIDIA-Nemotron-Nano-v2", "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B", "Qwen3.5-4B", "MiniMax-M2",
             "Kimi-K3", "MiniMax-M3"]
CHOICES = {"required": "required", "named": {"type": "function", "function": {"name": "get_forecast"}}}
MARKERS = ("<think>", "</think>", "<")


@pytest.fixture(scope="module")
def backend(model_path: str) -> Iterator[EmbeddedBackend]:
    yield EmbeddedBackend(model_path, n_ctx=4096, n_threads=1)


# their markers are special tokens for their own models, plain text on gemma: a call's fixed text alone is 116
# (Kimi K3) / 82 (MiniMax M3) gemma tokens, so 96 cannot hold one
MAX_TOKENS = {"Kimi-K3": 192, "MiniMax-M3": 160}


def _request(choice: str, stream: bool, max_tokens: int = 96) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate({
        "model": "m",
        "messages": [{"role": "user", "content": "Forecast for Paris in celsius? Think first."}],
        "tools": TOOLS, "tool_choice": CHOICES[choice], "parallel_tool_calls": False,
        "max_tokens": max_tokens, "stream": stream,
    })


async def _streamed(service: ChatService, request: ChatCompletionRequest) -> tuple[dict[str, Any], str | None]:
    content, reasoning, calls, finish = "", "", {}, None  # type: ignore[var-annotated]
    async for chunk in await service.chat_stream(request):
        for choice in chunk.choices:
            delta = choice.delta
            content += delta.content or ""
            reasoning += delta.reasoning_content or ""
            for call in delta.tool_calls or []:
                entry = calls.setdefault(call.index, {"name": "", "arguments": ""})
                if call.function is not None:
                    entry["name"] += call.function.name or ""
                    entry["arguments"] += call.function.arguments or ""
            finish = choice.finish_reason or finish
    return {"content": content, "reasoning": reasoning, "calls": [calls[i] for i in sorted(calls)]}, finish


async def _plain(service: ChatService, request: ChatCompletionRequest) -> tuple[dict[str, Any], str | None]:
    answer = await service.chat(request)
    message = answer.choices[0].message
    calls = [{"name": c.function.name, "arguments": c.function.arguments} for c in message.tool_calls or []]
    return ({"content": message.content or "", "reasoning": message.reasoning_content or "", "calls": calls},
            answer.choices[0].finish_reason)


@pytest.mark.slow
@pytest.mark.parametrize("stem", TEMPLATES)
def test_thinking_then_the_forced_call(backend: EmbeddedBackend, shared: Path, stem: str) -> None:
    service = ChatService(backend, Settings(chat_template=str(shared / "chat-templates" / f"{stem}.jinja")))
    budget = MAX_TOKENS.get(stem, 96)
    plan = service.plan(_request("required", False, budget))
    if not stem.startswith("deepseek"):  # deepseek_r1 handles its own think block (style prefix), unbounded
        assert plan.generation.grammar is not None and "think-text" in plan.generation.grammar
    for choice in CHOICES:
        for stream in (False, True):
            request = _request(choice, stream, budget)
            message, finish = asyncio.run((_streamed if stream else _plain)(service, request))
            where = (stem, choice, stream, message)
            assert finish == "tool_calls", where
            assert len(message["calls"]) == 1, where
            call = message["calls"][0]
            if choice == "named":
                assert call["name"] == "get_forecast", where
            schema = next(t["function"]["parameters"] for t in TOOLS if t["function"]["name"] == call["name"])
            jsonschema.validate(json.loads(call["arguments"]), schema)
            assert not any(m in message["content"] for m in MARKERS), where
            assert not any(m in message["reasoning"] for m in ("</think>", "<|close|>", "</mm:think>")), where
