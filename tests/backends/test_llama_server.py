"""LlamaServerBackend (and the OpenAI-completions backend) against a scripted llama-server on loopback:
request body, SSE parsing, typed faults, health, closing early. The real llama-server runs in
tests/e2e/test_llama_server_e2e.py."""

from __future__ import annotations

import asyncio

import pytest

from tests.backends.fake_upstream import FakeUpstream, collect, fakes, member, servers
from toolproxy.backends.base import GenerationDone, GenerationRequest, ModelInfo, TextPiece
from toolproxy.backends.llama_server import LlamaServerBackend, ServerFacts, preserved_markers, read_facts
from toolproxy.backends.openai_completions import OpenAICompletionsBackend, read_info
from toolproxy.errors import BackendError, BackendUnavailable, ContextOverflow

__all__ = ["fakes", "servers"]  # fixtures


async def test_facts_and_body(fakes: list[tuple[FakeUpstream, str]]) -> None:
    _, url = fakes[0]
    backend = member(url)
    info = backend.info()
    assert (info.id, info.context_size, info.bos_token, info.chat_template) == ("a", 4096, "<bos>", None)
    body = backend.body(GenerationRequest(prompt="<bos>Hi", grammar='root ::= "<tool_call>" [a-z]+ "</tool_call>"',
                                          grammar_triggers=("<tool_call>",), max_tokens=5, stop=("\n",)))
    assert body["prompt"] == [2, "Hi"]  # leading BOS sent as its id: llama-server adds no second one
    assert body["grammar_lazy"] is True
    assert body["grammar_triggers"] == [{"type": 1, "value": "<tool_call>"}]
    assert body["preserved_tokens"] == ["</tool_call>", "<tool_call>"]
    assert (body["n_predict"], body["cache_prompt"], body["stream"], body["stop"]) == (5, True, True, ["\n"])
    assert "grammar_lazy" not in backend.body(GenerationRequest(prompt="Hi", grammar='root ::= "x"'))
    await backend.aclose()


async def test_streams_text_then_done(fakes: list[tuple[FakeUpstream, str]]) -> None:
    fake, url = fakes[0]
    backend = member(url)
    for _ in range(3):
        events = [e async for e in backend.generate(GenerationRequest(prompt="Hi", max_tokens=3))]
        assert [e.text for e in events if isinstance(e, TextPiece)] == ["Hell", "o fr", "om t"]
        assert events[-1] == GenerationDone(finish_reason="length", prompt_tokens=0, completion_tokens=3)
        assert backend.last_timings == {"cache_n": 0, "prompt_n": 10, "predicted_n": 3}
    assert len(set(fake.ports)) == 1  # answers read to their end: one kept-alive connection, no reconnects


@pytest.mark.parametrize(
    ("mode", "error", "code"),
    [
        ("loading", BackendUnavailable, None),
        ("die_before_first", BackendUnavailable, None),
        ("die_mid", BackendError, "upstream_disconnected"),
        ("stall", BackendError, "upstream_timeout"),
        ("garbage", BackendError, "upstream_garbage"),
        ("http_500", BackendError, None),
        ("bad_request", ContextOverflow, "context_length_exceeded"),
    ],
)
async def test_faults_are_typed(fakes: list[tuple[FakeUpstream, str]], mode: str, error: type[Exception],
                                code: str | None) -> None:
    fake, url = fakes[0]
    backend = member(url, read_timeout=0.3)
    fake.mode = mode  # type: ignore[assignment]
    fake.stall_s = 1.0
    with pytest.raises(error) as info:
        await collect(backend)
    assert getattr(info.value, "code", None) == code


async def test_health(fakes: list[tuple[FakeUpstream, str]]) -> None:
    fake, url = fakes[0]
    backend = member(url)
    assert await backend.check_health()
    fake.mode = "loading"
    assert not await backend.check_health()
    with pytest.raises(BackendUnavailable):
        read_facts(url, wait_s=0.3)  # 503 while loading: waited for, then a typed error, never a crash


async def test_closing_early_closes_the_upstream_request(fakes: list[tuple[FakeUpstream, str]]) -> None:
    fake, url = fakes[0]
    fake.delay = 0.05
    fake.text = "x" * 400
    backend = member(url)
    stream = backend.generate(GenerationRequest(prompt="Hi"))
    assert isinstance(await anext(stream), TextPiece)
    await stream.aclose()
    for _ in range(100):
        if fake.disconnected:
            break
        await asyncio.sleep(0.02)
    assert (fake.disconnected, fake.finished) == (1, 0)


async def test_openai_completions_backend(fakes: list[tuple[FakeUpstream, str]]) -> None:
    fake, url = fakes[0]
    info, name = read_info(url + "/v1", wait_s=5.0)
    assert (info.id, info.context_size, name) == ("a", 4096, "a")
    backend = OpenAICompletionsBackend(url, info, upstream_model=name, grammar_field="structured_outputs.grammar")
    events = [e async for e in backend.generate(GenerationRequest(prompt="Hi", grammar='root ::= "x"', max_tokens=2))]
    assert "".join(e.text for e in events if isinstance(e, TextPiece)) == "Hello fr"
    assert events[-1] == GenerationDone(finish_reason="length", prompt_tokens=11, completion_tokens=2)
    assert fake.bodies[-1]["structured_outputs"] == {"grammar": 'root ::= "x"'}
    assert fake.bodies[-1]["max_tokens"] == 2
    lazy = backend.body(GenerationRequest(prompt="Hi", grammar='root ::= "x"', grammar_triggers=("<t>",)))
    assert "structured_outputs" not in lazy  # no lazy grammars over the OpenAI API: free text, parsed after
    assert await backend.check_health()
    await backend.aclose()


def test_preserved_markers() -> None:
    grammar = r'root ::= "<|python_tag|>" x | "[TOOL_CALLS]" y | "\"name\"" | "<b>" | "\u003ctool\u003e"'
    assert preserved_markers(grammar, ("<start>",)) == ["<b>", "<start>", "<tool>", "<|python_tag|>", "[TOOL_CALLS]"]
    assert preserved_markers('root ::= "{" "\"a\"" ":" [0-9]+ "}"', ()) == []


def test_greedy_sends_top_k_1_and_sampling_keeps_the_whole_vocabulary() -> None:
    """At temperature 0 the argmax is the answer either way; top_k 1 spares llama-server's sampler chain the
    whole vocabulary. Sampling (temperature > 0), an explicit top_k and log-probabilities keep theirs."""
    backend = LlamaServerBackend("http://127.0.0.1:1", ServerFacts(ModelInfo(id="m", context_size=4096)))
    assert backend.body(GenerationRequest(prompt="hi", temperature=0.0))["top_k"] == 1
    assert backend.body(GenerationRequest(prompt="hi", temperature=0.7))["top_k"] == 0
    assert backend.body(GenerationRequest(prompt="hi", temperature=0.0, top_k=5))["top_k"] == 5
    assert backend.body(GenerationRequest(prompt="hi", temperature=0.0, logprobs=2))["top_k"] == 0
