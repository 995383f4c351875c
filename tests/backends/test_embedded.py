"""The embedded backend on the real bundled model (gemma-3-270m): sampling, grammar, text, queueing, cache."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import numpy as np
import numpy.typing as npt
import pytest

from toolproxy.backends._decode_loop import Job
from toolproxy.backends._grammar import GrammarGate
from toolproxy.backends._text import StopScanner
from toolproxy.backends.base import GenerationDone, GenerationRequest, TextPiece
from toolproxy.backends.embedded import EmbeddedBackend
from toolproxy.errors import BackendError, BackendUnavailable, ContextOverflow, InvalidRequest
from toolproxy.grammar.gbnf import uses_token_rules

FloatArray = npt.NDArray[np.float32]

PROMPT = "<start_of_turn>user\nWrite a short story about a cat.<end_of_turn>\n<start_of_turn>model\n"
JSON_PROMPT = "Here is a JSON object describing a person:\n"

PERSON_GBNF = r"""
root ::= "{" ws "\"name\":" ws string "," ws "\"age\":" ws int ws "}"
string ::= "\"" [a-zA-Z ]{1,16} "\""
int ::= [1-9] [0-9]{0,2}
ws ::= [ ]?
"""
PERSON_SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}
# A tool-call shaped grammar the model does not follow by itself (exercises the next-best / fallback paths).
CALL_GBNF = r"""
root ::= "{\"name\": " name ", \"arguments\": {\"city\": " string ", \"days\": " [1-9] "}}"
name ::= "\"get_weather\"" | "\"search_web\""
string ::= "\"" [A-Za-z ]{1,12} "\""
"""
DIGITS_GBNF = r"""root ::= [0-9]{2,6} ("." [0-9]{1,3})? " kg" """
CHOICE_GBNF = r"""root ::= ("yes" | "no" | "maybe") [.!]"""


@pytest.fixture(scope="session")
def backend(model_path: str) -> Iterator[EmbeddedBackend]:
    b = EmbeddedBackend(model_path, n_ctx=1024, n_threads=2)
    yield b
    asyncio.run(b.aclose())


@pytest.fixture(scope="session")
def reference(model_path: str) -> Iterator[EmbeddedBackend]:
    """The slow reference (grammar over the whole vocabulary every step), with overrides.

    Same context size, threads and batch size as ``backend``: evaluated from an empty cache, both take the
    very same evaluation path, so their logits are bit-identical and greedy outputs can be compared exactly.
    """
    b = EmbeddedBackend(
        model_path, n_ctx=1024, n_threads=2, model_id="ref-model", chat_template="{{ messages }}",
        grammar_strategy="full",
    )
    yield b
    asyncio.run(b.aclose())


def fresh(*backends: EmbeddedBackend) -> None:
    """Empty the backends' prompt caches (white-box; their workers are idle between runs).

    llama.cpp promises the same logits only for the same evaluation path: a prompt evaluated in one batch and
    the same tokens taken from a cache filled in other batch splits differ in the last bits (up to ~1.3 in a
    logit for gemma-3-270m Q4_K_M), and greedy outputs can then part where two tokens are close.
    """
    for b in backends:
        b._rt.reset_cache()


def forced_logits(
    b: EmbeddedBackend, prompt: str, tokens: list[int] | None, n: int
) -> tuple[list[int], list[FloatArray]]:
    """Evaluate ``prompt`` on the runtime itself (reusing whatever prefix its cache holds), then ``n`` steps:
    the given ``tokens`` (teacher forcing) or, if None, the greedy ones. The tokens and each step's logits.
    White-box: the worker is idle between runs."""
    rt = b._rt
    rt.load_prompt(rt.prompt_tokens(prompt))
    picked: list[int] = []
    seen: list[FloatArray] = []
    for i in range(n):
        logits = rt.logits().copy()
        tok = int(np.argmax(logits)) if tokens is None else tokens[i]
        if rt.is_eog(tok):
            break
        seen.append(logits)
        picked.append(tok)
        rt.decode((tok,))
    return picked, seen


async def run(backend: EmbeddedBackend, **kw: object) -> tuple[list[str], GenerationDone]:
    pieces: list[str] = []
    done: GenerationDone | None = None
    async for ev in backend.generate(GenerationRequest(**kw)):  # type: ignore[arg-type]
        assert done is None, "nothing may follow GenerationDone"
        if isinstance(ev, TextPiece):
            pieces.append(ev.text)
        else:
            done = ev
    assert done is not None
    return pieces, done


# -- info / tokens -----------------------------------------------------------------------------------


def test_info(backend: EmbeddedBackend, reference: EmbeddedBackend, model_path: str) -> None:
    info = backend.info()
    assert info.id == Path(model_path).stem
    assert info.context_size == 1024
    assert info.chat_template is None  # the bundled base model ships none
    assert (info.bos_token, info.eos_token) == ("<bos>", "<eos>")
    assert info.extra["architecture"] == "gemma3"
    ref = reference.info()
    assert (ref.id, ref.chat_template, ref.context_size) == ("ref-model", "{{ messages }}", 1024)


async def test_count_tokens_matches_usage_and_bos_is_not_doubled(backend: EmbeddedBackend) -> None:
    n = backend.count_tokens(PROMPT)
    assert n is not None and n > 10
    assert backend.count_tokens("<bos>" + PROMPT) == n  # an explicit BOS is not doubled
    _, done = await run(backend, prompt="<bos>" + PROMPT, max_tokens=1)
    assert done.prompt_tokens == n
    assert done.completion_tokens == 1


# -- sampling -----------------------------------------------------------------------------------------


async def test_greedy_is_deterministic_and_max_tokens_gives_length(backend: EmbeddedBackend) -> None:
    a, done_a = await run(backend, prompt=PROMPT, max_tokens=12)
    b, done_b = await run(backend, prompt=PROMPT, max_tokens=12)
    assert "".join(a) == "".join(b) and "".join(a).strip()
    assert done_a == done_b
    assert (done_a.finish_reason, done_a.completion_tokens) == ("length", 12)
    none, done0 = await run(backend, prompt=PROMPT, max_tokens=0)
    assert none == [] and (done0.finish_reason, done0.completion_tokens) == ("length", 0)


async def test_seed_makes_sampling_deterministic(backend: EmbeddedBackend) -> None:
    kw: dict[str, object] = {"prompt": PROMPT, "max_tokens": 8, "temperature": 1.2, "top_p": 0.95}
    first = "".join((await run(backend, seed=42, **kw))[0])
    again = "".join((await run(backend, seed=42, **kw))[0])
    assert first == again
    others = {"".join((await run(backend, seed=s, **kw))[0]) for s in (1, 2)}
    assert len(others | {first}) >= 2  # different seeds, different samples


async def test_invalid_sampling_parameters_are_invalid_requests(backend: EmbeddedBackend) -> None:
    for kw in ({"temperature": -1.0}, {"top_p": 1.5}, {"max_tokens": -1}):
        with pytest.raises(InvalidRequest):
            await run(backend, prompt=PROMPT, **kw)


# -- stop strings and text ----------------------------------------------------------------------------


async def test_stop_string_is_cut_and_never_emitted(backend: EmbeddedBackend) -> None:
    ref = "".join((await run(backend, prompt=PROMPT, max_tokens=16))[0])
    stop = ref[6:10]
    assert stop.strip(), ref
    pieces, done = await run(backend, prompt=PROMPT, max_tokens=16, stop=("@@never@@", stop))
    assert "".join(pieces) == ref[: ref.find(stop)]
    assert done.finish_reason == "stop"
    assert all(stop not in p for p in pieces)


def test_stop_scanner_holds_back_prefixes_and_split_characters() -> None:
    s = StopScanner(("</end>",))
    euro = "€".encode()
    out = [s.feed(b"ab<"), s.feed(b"/e"), s.feed(euro[:1]), s.feed(euro[1:]), s.feed(b"x</en"), s.feed(b"d>zz")]
    assert out == ["ab", "", "", "</e€", "x", ""]
    assert s.stopped and s.text == "ab</e€x"
    t = StopScanner(())
    assert [t.feed(euro[:2]), t.feed(euro[2:] + b"<"), t.flush()] == ["", "€<", ""]


# -- grammar ------------------------------------------------------------------------------------------


async def test_grammar_output_matches_the_schema(backend: EmbeddedBackend) -> None:
    pieces, done = await run(backend, prompt=JSON_PROMPT, grammar=PERSON_GBNF, max_tokens=48)
    jsonschema.validate(json.loads("".join(pieces)), PERSON_SCHEMA)
    assert done.finish_reason == "stop"  # grammar complete -> only end-of-generation was allowed


async def test_grammar_with_temperature_is_respected(backend: EmbeddedBackend) -> None:
    pieces, _ = await run(backend, prompt=JSON_PROMPT, grammar=CALL_GBNF, max_tokens=48, temperature=1.0, seed=3)
    call = json.loads("".join(pieces))
    assert call["name"] in ("get_weather", "search_web")
    assert 1 <= call["arguments"]["days"] <= 9


@pytest.mark.slow
@pytest.mark.parametrize(
    ("prompt", "grammar"),
    [(JSON_PROMPT, PERSON_GBNF), (JSON_PROMPT, CALL_GBNF), (PROMPT, DIGITS_GBNF), (PROMPT, CHOICE_GBNF)],
)
async def test_fast_grammar_path_equals_whole_vocabulary_reference(
    backend: EmbeddedBackend, reference: EmbeddedBackend, prompt: str, grammar: str
) -> None:
    fresh(backend, reference)  # the same evaluation path for both: exact comparison is then guaranteed
    fast, fast_done = await run(backend, prompt=prompt, grammar=grammar, max_tokens=40)
    stats = backend.last_job.stats if backend.last_job else None
    slow, slow_done = await run(reference, prompt=prompt, grammar=grammar, max_tokens=40)
    assert "".join(fast) == "".join(slow)
    assert fast_done == slow_done
    assert stats is not None
    assert stats.first + stats.top_k + stats.index + stats.full + stats.forced >= fast_done.completion_tokens
    if grammar in (CALL_GBNF, DIGITS_GBNF):  # the model wants something else: the next-best paths must work
        assert stats.top_k + stats.index > 0
    assert stats.full == 0  # the whole-vocabulary pass is never needed with these grammars


def test_token_rule_detection() -> None:
    assert uses_token_rules("root ::= <[106]> [a-z]+")
    assert uses_token_rules('root ::= "x" <|tool_call|>')
    assert not uses_token_rules('root ::= "<tool_call>" [<>]+ # a <comment>\n')


@pytest.mark.parametrize("grammar", [CALL_GBNF, PERSON_GBNF])
def test_prefix_index_mask_equals_whole_vocabulary_mask(backend: EmbeddedBackend, grammar: str) -> None:
    """Along a valid output, the index-based mask is exactly the whole-vocabulary mask at every step."""
    rt = backend._rt  # white-box: the worker is idle between tests; grammar checks touch no context
    text = '{"name": "get_weather", "arguments": {"city": "Oslo", "days": 3}}' if grammar == CALL_GBNF else (
        '{"name": "Ada Lovelace", "age": 36}'
    )
    gate = GrammarGate(rt.vocab, rt.n_vocab, grammar)
    gate.index = rt.vocab_index()
    rng = np.random.default_rng(0)
    try:
        for tok in rt.tokenize(text):
            logits = rng.normal(size=rt.n_vocab).astype(np.float32)
            (fast, used_index), full = gate.mask_candidates(logits), gate.mask_all(logits)
            assert used_index
            assert np.array_equal(np.isfinite(fast), np.isfinite(full))
            assert np.isfinite(full).sum() >= 1
            gate.accept(tok, rt.piece(tok))
    finally:
        gate.close()


async def test_permissive_grammar_changes_nothing(backend: EmbeddedBackend) -> None:
    free, _ = await run(backend, prompt=PROMPT, max_tokens=16)
    constrained, _ = await run(backend, prompt=PROMPT, grammar=r"root ::= [^\x00]*", max_tokens=16)
    assert constrained == free
    stats = backend.last_job.stats if backend.last_job else None
    assert stats is not None and (stats.top_k, stats.full) == (0, 0)  # never needed more than one check


async def test_grammar_forcing_multibyte_characters(backend: EmbeddedBackend) -> None:
    pieces, done = await run(backend, prompt=PROMPT, grammar='root ::= "é€😀 ok"', max_tokens=20)
    assert "".join(pieces) == "é€😀 ok"  # whole characters only, no end-of-generation text
    assert all("\ufffd" not in p for p in pieces)
    assert done.finish_reason == "stop"


async def test_bad_grammar_fails_before_generating(backend: EmbeddedBackend) -> None:
    with pytest.raises(BackendError):
        await run(backend, prompt=PROMPT, grammar="root ::= undefined_rule", max_tokens=4)
    _, done = await run(backend, prompt=PROMPT, max_tokens=2)  # the backend still works
    assert done.completion_tokens == 2


async def test_lazy_grammar_applies_after_its_trigger(backend: EmbeddedBackend) -> None:
    prompt = (
        'Q: weather in Paris?\nA: <call>{"city": "Paris"}\n'
        'Q: weather in Rome?\nA: <call>{"city": "Rome"}\n'
        "Q: weather in Oslo?\nA:"
    )
    grammar = r'root ::= "<call>{\"city\": \"" [A-Z] [a-z]{1,10} "\"}"'
    pieces, done = await run(backend, prompt=prompt, grammar=grammar, grammar_triggers=("<call>",), max_tokens=24)
    text = "".join(pieces)
    assert "<call>" in text, text
    after = text[text.index("<call>") + len("<call>"):]
    assert json.loads(after)["city"][0].isupper()
    assert done.finish_reason == "stop"


# -- context ------------------------------------------------------------------------------------------


async def test_context_overflow(backend: EmbeddedBackend) -> None:
    with pytest.raises(ContextOverflow) as err:
        await run(backend, prompt="hello " * 1100, max_tokens=4)
    assert "1024" in err.value.message
    n = backend.count_tokens(PROMPT)
    with pytest.raises(ContextOverflow) as err2:
        await run(backend, prompt=PROMPT, max_tokens=1024)
    assert f"{n} tokens" in err2.value.message and str(n + 1024) in err2.value.message


async def test_no_max_tokens_generates_until_the_context_is_full(model_path: str) -> None:
    small = EmbeddedBackend(model_path, n_ctx=256, n_threads=2, grammar_strategy="full")
    try:
        prompt = ", ".join(str(i) for i in range(1, 60)) + ","
        never_ends = r'root ::= " " [0-9]+ "," root'
        _, done = await run(small, prompt=prompt, grammar=never_ends)
        assert done.finish_reason == "length"
        assert done.prompt_tokens + done.completion_tokens == 256
    finally:
        await small.aclose()


# A prefix taken from the cache and the same tokens evaluated in one batch give logits that differ in the last
# bits (RMS 0.1-0.6 over the vocabulary measured here; a cache holding the wrong tokens: 1.1-10). Greedy outputs
# of the two paths may then part where two tokens are close, so they are compared as numbers, not as text.
RMS_TOLERANCE = 1.0


async def test_prompt_cache_reuses_the_prefix_and_changes_nothing(backend: EmbeddedBackend) -> None:
    fresh(backend)
    first = "".join((await run(backend, prompt=PROMPT, max_tokens=8))[0])
    follow = PROMPT + first + "<end_of_turn>\n<start_of_turn>user\nAnd then?<end_of_turn>\n<start_of_turn>model\n"
    cached, _ = await run(backend, prompt=follow, max_tokens=12)
    job = backend.last_job
    assert job is not None and job.reused_tokens >= len(job.tokens) - 16  # the first turn came from the cache
    reused = job.reused_tokens
    # The same path again (same cache contents, filled the same way) is exact: replayed on the runtime, the
    # greedy tokens over the cached prefix are the backend's answer.
    fresh(backend)
    assert "".join((await run(backend, prompt=PROMPT, max_tokens=8))[0]) == first
    tokens, cached_logits = forced_logits(backend, follow, None, 12)
    assert b"".join(backend._rt.piece(t) for t in tokens).decode() == "".join(cached)
    # A different path (the whole prompt from an empty cache) along the same tokens: the same numbers, within
    # llama.cpp's tolerance for another batch split.
    fresh(backend)
    _, fresh_logits = forced_logits(backend, follow, tokens, len(tokens))
    fresh(backend)
    rms = [float(np.sqrt(np.mean((a - b) ** 2))) for a, b in zip(cached_logits, fresh_logits, strict=True)]
    assert max(rms) < RMS_TOLERANCE, rms
    assert reused > 0 and len(tokens) == 12


# -- queueing and cancellation ------------------------------------------------------------------------


def _tokens_picked(job: Job | None) -> int:
    assert job is not None and job.stats is not None
    st = job.stats
    return st.first + st.top_k + st.index + st.full + st.closed


async def _next_request_is_served(backend: EmbeddedBackend) -> None:
    """A short request after the abandoned one completes (FIFO: the worker had to stop the other one first)."""
    _, done = await asyncio.wait_for(run(backend, prompt=PROMPT, max_tokens=3), 120)
    assert done.completion_tokens == 3


# Whether the worker stopped is read from how many tokens it picked, not from a wall-clock budget (the machine
# may be loaded): the consumer goes away after three pieces, so a worker that honours the cancel flag picks a
# few more (tens at most on a loaded machine), one that ignores it all 400.
async def test_abandoned_generation_frees_the_model_at_once(backend: EmbeddedBackend) -> None:
    gen = backend.generate(GenerationRequest(prompt=PROMPT, max_tokens=400))
    for _ in range(3):
        assert isinstance(await gen.__anext__(), TextPiece)
    job = backend.last_job
    await gen.aclose()
    await _next_request_is_served(backend)
    assert 3 <= _tokens_picked(job) < 200


async def test_cancelled_task_frees_the_model_at_once(backend: EmbeddedBackend) -> None:
    got = asyncio.Event()

    async def consume() -> None:
        async for _ in backend.generate(GenerationRequest(prompt=PROMPT, max_tokens=400)):
            got.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(got.wait(), 30)
    job = backend.last_job
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await _next_request_is_served(backend)
    assert 1 <= _tokens_picked(job) < 200


async def test_concurrent_requests_are_served_in_order(backend: EmbeddedBackend) -> None:
    log: list[tuple[str, str]] = []

    async def consume(name: str) -> GenerationDone:
        _, done = await run(backend, prompt=PROMPT, max_tokens=6)
        log.append((name, "done"))
        return done

    async def consume_logged(name: str) -> None:
        async for ev in backend.generate(GenerationRequest(prompt=JSON_PROMPT, max_tokens=6)):
            log.append((name, type(ev).__name__))

    a = asyncio.create_task(consume("a"))
    await asyncio.sleep(0)
    b = asyncio.create_task(consume_logged("b"))
    done_a, _ = await asyncio.gather(a, b)
    assert done_a.completion_tokens == 6
    assert log[0] == ("a", "done")  # b only started once a had finished
    assert log[-1] == ("b", "GenerationDone")


async def test_closing_the_backend_ends_its_streams(model_path: str) -> None:
    own = EmbeddedBackend(model_path, n_ctx=256, n_threads=2)
    gen = own.generate(GenerationRequest(prompt=PROMPT, max_tokens=200))
    assert isinstance(await gen.__anext__(), TextPiece)
    await asyncio.wait_for(own.aclose(), 10)
    with pytest.raises(BackendUnavailable):
        async for _ in gen:
            pass
    with pytest.raises(BackendUnavailable):
        await run(own, prompt=PROMPT, max_tokens=1)
