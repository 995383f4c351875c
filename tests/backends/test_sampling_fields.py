"""Issue 17 item 5: no sampling field is silently ignored.

Each field has an observable effect on the real bundled model (gemma-3-270m) through the embedded backend, over
HTTP where the wire format matters; a field toolproxy does not implement is a 400 naming it; the upstream
backends pass the fields on.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.servers import running_server
from toolproxy.app import create_app
from toolproxy.backends.base import (
    SAMPLING_FIELDS,
    Backend,
    GenerationDone,
    GenerationRequest,
    ModelInfo,
    TextPiece,
    TokenLogprob,
)
from toolproxy.backends.embedded import EmbeddedBackend
from toolproxy.backends.llama_server import LlamaServerBackend, ServerFacts, _logprobs
from toolproxy.backends.openai_completions import OpenAICompletionsBackend
from toolproxy.errors import InvalidRequest
from toolproxy.protocol import ACCEPTED_HINTS, ChatCompletionRequest
from toolproxy.settings import Settings

pytestmark = pytest.mark.slow

PROMPT = "<start_of_turn>user\nWrite a short story about a cat.<end_of_turn>\n<start_of_turn>model\n"
REPEAT_PROMPT = (
    "<start_of_turn>user\nWrite the word 'cat' twenty times, separated by spaces.<end_of_turn>\n"
    "<start_of_turn>model\n"
)
CATS = "cat cat cat cat cat cat cat cat"
CHOICE_GBNF = r"""root ::= ("yes" | "no" | "maybe") [.!]"""


@pytest.fixture(scope="module")
def backend(model_path: str) -> Iterator[EmbeddedBackend]:
    b = EmbeddedBackend(model_path, n_ctx=1024, n_threads=2)
    yield b
    asyncio.run(b.aclose())


def generate(backend: Backend, **kw: Any) -> tuple[str, list[TokenLogprob], GenerationDone]:
    async def go() -> tuple[str, list[TokenLogprob], GenerationDone]:
        text: list[str] = []
        logprobs: list[TokenLogprob] = []
        done: GenerationDone | None = None
        async for event in backend.generate(GenerationRequest(**kw)):
            if isinstance(event, TextPiece):
                text.append(event.text)
                logprobs.extend(event.logprobs)
            else:
                done = event
        assert done is not None
        return "".join(text), logprobs, done

    return asyncio.run(go())


def first_token(backend: EmbeddedBackend, **kw: Any) -> TokenLogprob:
    _, logprobs, _ = generate(backend, prompt=PROMPT, max_tokens=1, logprobs=0, **kw)
    assert len(logprobs) == 1
    return logprobs[0]


# ------------------------------------------------------------------------------------- embedded engine


def test_logit_bias_bans_and_forces(backend: EmbeddedBackend) -> None:
    greedy = first_token(backend)
    banned = first_token(backend, logit_bias=((greedy.token_id, -100.0),))
    assert banned.token_id != greedy.token_id
    forced_id = backend._rt.tokenize(" zebra")[0]
    forced = first_token(backend, logit_bias=((forced_id, 100.0),))
    assert forced.token_id == forced_id
    # the bias is part of the distribution the token was drawn from: +100 makes it near-certain
    assert forced.logprob > -1e-3


def test_logit_bias_out_of_vocabulary_is_400(backend: EmbeddedBackend) -> None:
    with pytest.raises(InvalidRequest) as info:
        generate(backend, prompt=PROMPT, max_tokens=1, logit_bias=((10**9, 5.0),))
    assert info.value.param == "logit_bias"


def test_logprobs_match_the_text_and_the_top_list(backend: EmbeddedBackend) -> None:
    text, logprobs, done = generate(backend, prompt=PROMPT, max_tokens=12, logprobs=3)
    assert len(logprobs) == done.completion_tokens == 12
    assert b"".join(e.piece for e in logprobs).decode() == text
    for entry in logprobs:
        assert len(entry.top) == 3
        assert [t.logprob for t in entry.top] == sorted((t.logprob for t in entry.top), reverse=True)
        assert entry.top[0].token_id == entry.token_id  # greedy: the chosen token is the likeliest
        assert entry.logprob == pytest.approx(entry.top[0].logprob)
        assert entry.logprob <= 0.0 and sum(math.exp(t.logprob) for t in entry.top) <= 1.0 + 1e-6


def test_logprobs_under_a_grammar_are_of_the_admitted_tokens(backend: EmbeddedBackend) -> None:
    """The distribution a constrained token was drawn from: renormalised over the tokens the grammar admits."""
    text, logprobs, _ = generate(backend, prompt=PROMPT, max_tokens=4, grammar=CHOICE_GBNF, logprobs=20)
    assert text.rstrip(".!") in ("yes", "no", "maybe")
    first = logprobs[0]
    answers = [word + end for word in ("yes", "no", "maybe") for end in ".!"]
    assert all(any(a.startswith(t.piece.decode()) for a in answers) for t in first.top), first.top
    assert len(first.top) < 20  # only a handful of tokens can start yes/no/maybe ...
    assert sum(math.exp(t.logprob) for t in first.top) == pytest.approx(1.0, abs=1e-4)  # ... holding all the mass


def test_logprobs_with_a_stop_string_cover_the_text_only(backend: EmbeddedBackend) -> None:
    full, _, _ = generate(backend, prompt=PROMPT, max_tokens=16)
    stop = full.split()[2]
    text, logprobs, _ = generate(backend, prompt=PROMPT, max_tokens=16, stop=(stop,), logprobs=0)
    joined = b"".join(e.piece for e in logprobs).decode()
    assert joined.startswith(text) and stop not in joined[: len(text)]
    assert len(joined) - len(text) < len(stop) + 8  # at most the token the stop string starts in


def repeats(text: str) -> int:
    return Counter(text.split()).most_common(1)[0][1]


@pytest.mark.parametrize("field", [{"frequency_penalty": 2.0}, {"repeat_penalty": 1.8}])
def test_penalties_change_a_repetitive_answer(backend: EmbeddedBackend, field: dict[str, float]) -> None:
    base, _, _ = generate(backend, prompt=CATS, max_tokens=24)
    assert repeats(base) >= 20, base  # greedy: cat cat cat ...
    penalised, _, _ = generate(backend, prompt=CATS, max_tokens=24, **field)
    assert repeats(penalised) < 5, penalised


def test_presence_penalty_lowers_a_seen_token(backend: EmbeddedBackend) -> None:
    (base,) = generate(backend, prompt=CATS, max_tokens=1, logprobs=0)[1]
    (penalised,) = generate(backend, prompt=CATS, max_tokens=1, logprobs=0, presence_penalty=2.0)[1]
    assert base.piece == penalised.piece == b" cat"  # still the likeliest here, but less likely by the penalty
    assert penalised.logprob < base.logprob - 0.5
    chat, _, _ = generate(backend, prompt=REPEAT_PROMPT, max_tokens=24)
    assert generate(backend, prompt=REPEAT_PROMPT, max_tokens=24, presence_penalty=2.0)[0] != chat


def test_top_k_and_min_p_truncate_sampling(backend: EmbeddedBackend) -> None:
    greedy, _, _ = generate(backend, prompt=PROMPT, max_tokens=16)
    hot = {"prompt": PROMPT, "max_tokens": 16, "temperature": 1.5}
    sampled = {generate(backend, seed=s, **hot)[0] for s in range(3)}
    assert sampled != {greedy}  # at this temperature the answers wander ...
    assert {generate(backend, seed=s, top_k=1, **hot)[0] for s in range(3)} == {greedy}  # ... top_k=1 is greedy
    assert {generate(backend, seed=s, min_p=1.0, **hot)[0] for s in range(3)} == {greedy}  # ... and so is min_p=1


def test_seed_repeats_a_sampled_answer(backend: EmbeddedBackend) -> None:
    kw = {"prompt": PROMPT, "max_tokens": 16, "temperature": 1.0, "seed": 7, "top_k": 40, "min_p": 0.05}
    assert generate(backend, **kw)[0] == generate(backend, **kw)[0]


# ------------------------------------------------------------------------------------- over HTTP


@pytest.fixture(scope="module")
def base_url(backend: EmbeddedBackend) -> Iterator[str]:
    settings = Settings(style="hermes", api_keys=[], default_max_tokens=16)
    with running_server(create_app(settings, backend_factory=lambda _: _Borrowed(backend))) as url:
        yield url


class _Borrowed(Backend):
    """The module's embedded backend, not closed by the app's shutdown."""

    def __init__(self, inner: EmbeddedBackend) -> None:
        self._inner = inner
        self.sampling_fields = inner.sampling_fields

    def info(self) -> ModelInfo:
        return self._inner.info()

    def generate(self, request: GenerationRequest) -> Any:
        return self._inner.generate(request)

    def count_tokens(self, text: str) -> int | None:
        return self._inner.count_tokens(text)


CHAT = {"messages": [{"role": "user", "content": "Write a short story about a cat."}], "max_tokens": 10}


def test_http_logprobs(base_url: str) -> None:
    r = httpx.post(f"{base_url}/v1/chat/completions", json={**CHAT, "logprobs": True, "top_logprobs": 2}, timeout=120)
    assert r.status_code == 200, r.text
    choice = r.json()["choices"][0]
    content = choice["logprobs"]["content"]
    assert len(content) == 10 and all(len(e["top_logprobs"]) == 2 for e in content)
    # the message's content is trimmed of surrounding whitespace, the tokens are what the model wrote
    assert "".join(e["token"] for e in content).strip() == choice["message"]["content"]
    assert bytes(b for e in content for b in e["bytes"]).decode().strip() == choice["message"]["content"]
    plain = httpx.post(f"{base_url}/v1/chat/completions", json=CHAT, timeout=120).json()["choices"][0]
    assert plain["logprobs"] is None and plain["message"]["content"] == choice["message"]["content"]


def test_http_streamed_logprobs(base_url: str) -> None:
    body = {**CHAT, "logprobs": True, "stream": True}
    text, tokens = "", []
    with httpx.stream("POST", f"{base_url}/v1/chat/completions", json=body, timeout=120) as r:
        assert r.status_code == 200
        for line in r.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            choice = json.loads(line[6:])["choices"][0]
            text += choice["delta"].get("content") or ""
            tokens += [e["token"] for e in (choice.get("logprobs") or {}).get("content", [])]
    assert len(tokens) == 10 and "".join(tokens).strip() == text.strip()


def test_http_fields_have_effects(base_url: str) -> None:
    url = f"{base_url}/v1/chat/completions"
    base = httpx.post(url, json=CHAT, timeout=120).json()["choices"][0]
    biased = httpx.post(url, json={**CHAT, "logit_bias": {"9999": 100}}, timeout=120).json()["choices"][0]
    assert biased["message"]["content"] != base["message"]["content"]
    for extra in ({"repetition_penalty": 1.8}, {"repeat_penalty": 1.8}, {"frequency_penalty": 2.0},
                  {"presence_penalty": 2.0}, {"top_k": 1, "temperature": 1.5, "seed": 1}, {"min_p": 0.5}):
        r = httpx.post(url, json={**CHAT, "max_tokens": 24, **extra}, timeout=120)
        assert r.status_code == 200, (extra, r.text)


@pytest.mark.parametrize("field", ["frobnicate", "functions", "logit_bias_typo", "best_of"])
def test_http_unknown_field_is_400_naming_it(base_url: str, field: str) -> None:
    r = httpx.post(f"{base_url}/v1/chat/completions", json={**CHAT, field: 1}, timeout=30)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["param"] == field and field in error["message"]


def test_http_hints_are_accepted(base_url: str) -> None:
    hints = {"user": "u1", "metadata": {"k": "v"}, "store": False, "service_tier": "auto",
             "prompt_cache_key": "abc", "safety_identifier": "s", "prediction": {"type": "content", "content": "x"}}
    assert set(hints) == set(ACCEPTED_HINTS)
    r = httpx.post(f"{base_url}/v1/chat/completions", json={**CHAT, **hints}, timeout=120)
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    ("extra", "param"),
    [({"top_logprobs": 2}, "top_logprobs"), ({"logprobs": True, "top_logprobs": 21}, "top_logprobs"),
     ({"repetition_penalty": 1.2, "repeat_penalty": 1.3}, "repeat_penalty"), ({"logit_bias": {"5": 101}}, None),
     ({"presence_penalty": 3}, "presence_penalty"), ({"top_k": -1}, "top_k"), ({"min_p": 2}, "min_p")],
)
def test_http_bad_values_are_400(base_url: str, extra: dict[str, Any], param: str | None) -> None:
    r = httpx.post(f"{base_url}/v1/chat/completions", json={**CHAT, **extra}, timeout=30)
    assert r.status_code == 400, r.text
    if param is not None:
        assert r.json()["error"]["param"] == param


def test_completions_endpoint_fields(base_url: str) -> None:
    url = f"{base_url}/v1/completions"
    body = {"prompt": PROMPT, "max_tokens": 6}
    base = httpx.post(url, json=body, timeout=120).json()["choices"][0]["text"]
    penalised = httpx.post(url, json={**body, "frequency_penalty": 2.0, "logit_bias": {"9999": 100}}, timeout=120)
    assert penalised.status_code == 200 and penalised.json()["choices"][0]["text"] != base
    r = httpx.post(url, json={**body, "echo": True}, timeout=30)
    assert r.status_code == 400 and r.json()["error"]["param"] == "echo"


# ------------------------------------------------------------------------------------- other backends


class _Plain(Backend):
    """A backend that implements none of the optional fields."""

    def info(self) -> ModelInfo:
        return ModelInfo(id="plain", context_size=4096, extra={"architecture": "gemma3"})

    async def generate(self, request: GenerationRequest) -> Any:  # pragma: no cover - never reached
        yield GenerationDone("stop", 0, 0)


def test_a_backend_that_lacks_a_field_refuses_it() -> None:
    from toolproxy.service import ChatService

    service = ChatService(_Plain(), Settings(style="hermes"))
    for extra, param in (({"logprobs": True}, "logprobs"), ({"top_k": 5}, "top_k"),
                         ({"repetition_penalty": 1.1}, "repeat_penalty"), ({"logit_bias": {"3": 1}}, "logit_bias")):
        with pytest.raises(InvalidRequest) as info:
            service.plan(ChatCompletionRequest.model_validate({**CHAT, **extra}))
        assert info.value.param == param
    service.plan(ChatCompletionRequest.model_validate({**CHAT, "top_k": 0, "repeat_penalty": 1.0}))  # "off" is fine


def _full_request() -> GenerationRequest:
    return GenerationRequest(prompt="hi", top_k=5, min_p=0.1, presence_penalty=0.5, frequency_penalty=0.25,
                             repeat_penalty=1.1, logit_bias=((7, -100.0),), logprobs=2)


def test_llama_server_body_passes_the_fields() -> None:
    backend = LlamaServerBackend("http://127.0.0.1:1", ServerFacts(ModelInfo(id="m", context_size=4096)))
    body = backend.body(_full_request())
    assert (body["top_k"], body["min_p"], body["presence_penalty"], body["frequency_penalty"],
            body["repeat_penalty"], body["repeat_last_n"]) == (5, 0.1, 0.5, 0.25, 1.1, 64)
    assert body["logit_bias"] == [[7, -100.0]] and body["n_probs"] == 2
    plain = backend.body(GenerationRequest(prompt="hi"))
    assert "n_probs" not in plain and "logit_bias" not in plain and plain["repeat_penalty"] == 1.0
    assert backend.sampling_fields == frozenset(SAMPLING_FIELDS)


def test_llama_server_logprobs_are_parsed() -> None:
    event = {"content": "Hi", "completion_probabilities": [
        {"id": 5, "token": "Hi", "bytes": [72, 105], "logprob": -0.1,
         "top_logprobs": [{"id": 5, "token": "Hi", "bytes": [72, 105], "logprob": -0.1},
                          {"id": 6, "token": "Hey", "bytes": [72, 101, 121], "logprob": -2.5}]}]}
    (entry,) = _logprobs(event, 1)
    assert (entry.token_id, entry.piece, entry.logprob) == (5, b"Hi", -0.1)
    assert [(t.token_id, t.piece) for t in entry.top] == [(5, b"Hi")]
    assert _logprobs(event, None) == ()


def test_openai_completions_body_passes_the_fields() -> None:
    backend = OpenAICompletionsBackend("http://127.0.0.1:1", ModelInfo(id="m", context_size=4096),
                                       upstream_model="m")
    body = backend.body(_full_request())
    assert (body["top_k"], body["min_p"], body["presence_penalty"], body["frequency_penalty"],
            body["repetition_penalty"], body["logit_bias"], body["logprobs"]) == (5, 0.1, 0.5, 0.25, 1.1,
                                                                                  {"7": -100.0}, 2)
    plain = backend.body(GenerationRequest(prompt="hi"))
    assert not {"top_k", "min_p", "repetition_penalty", "logit_bias", "logprobs"} & set(plain)


# ------------------------------------------------------------------------------------- a real llama-server


@pytest.fixture(scope="module")
def llama_server(model_path: str) -> Iterator[LlamaServerBackend]:
    from tests.servers import require_llama_server
    from toolproxy.backends.llama_server import read_facts
    from toolproxy.backends.spawn import LlamaServerProcess

    require_llama_server()
    with LlamaServerProcess(model_path, ctx=1024, threads=1, extra_args=["--no-repack"]) as server:
        yield LlamaServerBackend(server.url, read_facts(server.url))


def test_llama_server_honours_the_fields(llama_server: LlamaServerBackend, backend: EmbeddedBackend) -> None:
    text, logprobs, done = generate(llama_server, prompt=PROMPT, max_tokens=8, logprobs=2)
    assert len(logprobs) == done.completion_tokens == 8
    assert b"".join(e.piece for e in logprobs).decode() == text
    assert all(len(e.top) == 2 and e.token_id >= 0 and e.logprob <= 0.0 for e in logprobs)
    forced_id = backend._rt.tokenize(" zebra")[0]  # same GGUF, same token ids
    _, forced, _ = generate(llama_server, prompt=PROMPT, max_tokens=1, logprobs=0,
                            logit_bias=((forced_id, 100.0),))
    assert forced[0].token_id == forced_id
    base, _, _ = generate(llama_server, prompt=CATS, max_tokens=24)
    assert repeats(base) >= 20
    penalised, _, _ = generate(llama_server, prompt=CATS, max_tokens=24, frequency_penalty=2.0)
    assert repeats(penalised) < 5, penalised
