"""``--parallel N``: several requests generated together in one context (toolproxy/backends/_scheduler.py), on the
real bundled model (gemma-3-270m, whose sliding-window layers the per-sequence caches must keep right).

A request served beside others is evaluated in other batch shapes than the same request alone, and llama.cpp's
logits depend on the batch: outputs are compared only along the same path (the same request alone on the same
backend from the same cache state) or checked as properties (grammar, lengths, order of completion).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import jsonschema
import pytest

from toolproxy.backends.base import GenerationDone, GenerationRequest, TextPiece
from toolproxy.backends.embedded import EmbeddedBackend
from toolproxy.errors import BackendUnavailable, ContextOverflow

from .test_embedded import CALL_GBNF, JSON_PROMPT, PERSON_GBNF, PERSON_SCHEMA, PROMPT, _tokens_picked, fresh, run

CALL_SCHEMA = {
    "type": "object",
    "properties": {"name": {"enum": ["get_weather", "search_web"]},
                   "arguments": {"type": "object", "required": ["city", "days"]}},
    "required": ["name", "arguments"],
}
# One grammar whose whole output is forced after its first byte (jump-forward decodes it in runs).
FORCED = "the quick brown fox jumps over the lazy dog again and again"
FORCED_GBNF = f'root ::= [ab] " {FORCED}"'


@pytest.fixture(scope="module")
def par(model_path: str) -> Iterator[EmbeddedBackend]:
    b = EmbeddedBackend(model_path, n_ctx=1024, n_threads=2, parallel=3)
    yield b
    asyncio.run(b.aclose())


def test_each_sequence_keeps_the_whole_context(model_path: str) -> None:
    b = EmbeddedBackend(model_path, n_ctx=512, n_threads=1, parallel=2)
    try:
        assert b._rt.n_seq == 2 and b._rt.n_ctx == 512  # the KV cache scales, --ctx is not divided
        b._prepare(GenerationRequest(prompt=PROMPT, max_tokens=480))  # fits 512, would not fit 256
        with pytest.raises(ContextOverflow):
            b._prepare(GenerationRequest(prompt=PROMPT, max_tokens=512))
    finally:
        asyncio.run(b.aclose())


async def test_concurrent_requests_are_each_valid(par: EmbeddedBackend) -> None:
    """More requests than sequences, grammar and free text mixed: every one completes, every grammar holds."""
    kinds = [
        dict(prompt=JSON_PROMPT, grammar=PERSON_GBNF, max_tokens=40),
        dict(prompt="A tool call:\n", grammar=CALL_GBNF, max_tokens=60),
        dict(prompt=PROMPT, max_tokens=24),
        dict(prompt=JSON_PROMPT, grammar=PERSON_GBNF, max_tokens=40, temperature=0.8, seed=3),
        dict(prompt="A tool call:\n", grammar=CALL_GBNF, max_tokens=60, temperature=0.7, seed=5),
    ]
    results = await asyncio.wait_for(asyncio.gather(*(run(par, **kw) for kw in kinds)), 300)
    for kw, (pieces, done) in zip(kinds, results, strict=True):
        text = "".join(pieces)
        if kw.get("grammar") == PERSON_GBNF:
            jsonschema.validate(json.loads(text), PERSON_SCHEMA)
            assert done.finish_reason == "stop"
        elif kw.get("grammar") == CALL_GBNF:
            jsonschema.validate(json.loads(text), CALL_SCHEMA)
        else:
            assert done.finish_reason == "length" and done.completion_tokens == 24 and text
        assert done.prompt_tokens == par.count_tokens(str(kw["prompt"]))


async def test_alone_on_the_same_backend_is_exact(par: EmbeddedBackend) -> None:
    """One request alone, twice from an empty cache: the same path, so the same greedy answer."""
    fresh(par)
    first = await run(par, prompt=PROMPT, max_tokens=16)
    fresh(par)
    again = await run(par, prompt=PROMPT, max_tokens=16)
    assert first[0] == again[0] and first[1].completion_tokens == 16


async def test_a_short_request_does_not_wait_behind_a_long_one(par: EmbeddedBackend) -> None:
    long_gen = par.generate(GenerationRequest(prompt=PROMPT, max_tokens=300))
    assert isinstance(await long_gen.__anext__(), TextPiece)  # the long one is generating
    long_job = par.last_job
    _, done = await asyncio.wait_for(run(par, prompt=JSON_PROMPT, max_tokens=4), 120)
    picked = _tokens_picked(long_job)
    assert done.completion_tokens == 4
    assert picked < 250  # one at a time, the short one would have waited for all 300
    rest = [ev async for ev in long_gen]
    final = rest[-1]
    assert isinstance(final, GenerationDone) and final.completion_tokens == 300


async def test_an_abandoned_request_stops_and_the_others_go_on(par: EmbeddedBackend) -> None:
    gone = par.generate(GenerationRequest(prompt=PROMPT, max_tokens=400))
    for _ in range(3):
        assert isinstance(await gone.__anext__(), TextPiece)
    gone_job = par.last_job
    stay = asyncio.create_task(run(par, prompt=JSON_PROMPT, max_tokens=40))
    await asyncio.sleep(0)
    await gone.aclose()
    _, done = await asyncio.wait_for(stay, 120)
    assert done.completion_tokens == 40
    assert 3 <= _tokens_picked(gone_job) < 200  # stopped within a few steps, not after all 400


async def test_a_follow_up_finds_its_prefix_in_another_sequence(par: EmbeddedBackend) -> None:
    """Sequences keep their caches: a conversation's next turn reuses its first turn even after other
    requests ran (on other sequences), past Gemma 3's 512-token sliding window."""
    fresh(par)
    story = ("<start_of_turn>user\n" + "Tell me about cats and their habits. " * 70
             + "<end_of_turn>\n<start_of_turn>model\n")
    n_story = par.count_tokens(story)
    assert n_story is not None and n_story > 512
    first = "".join((await run(par, prompt=story, max_tokens=8))[0])
    await asyncio.gather(run(par, prompt=PROMPT, max_tokens=8), run(par, prompt=JSON_PROMPT, max_tokens=8))
    follow = story + first + "<end_of_turn>\n<start_of_turn>user\nAnd dogs?<end_of_turn>\n<start_of_turn>model\n"
    pieces, done = await run(par, prompt=follow, max_tokens=8)
    job = par.last_job
    assert job is not None and job.reused_tokens >= n_story - 1
    assert done.completion_tokens == 8 and "".join(pieces)


async def test_forced_runs_beyond_the_batch_wait_their_turn(model_path: str) -> None:
    """Two sequences whose forced runs do not fit one batch together: one waits a step, both stay exact."""
    b = EmbeddedBackend(model_path, n_ctx=256, n_threads=2, n_batch=32, parallel=2)
    try:
        kw = dict(prompt=JSON_PROMPT, grammar=FORCED_GBNF, max_tokens=60)
        results = await asyncio.wait_for(asyncio.gather(run(b, **kw), run(b, **kw)), 120)
        for pieces, done in results:
            text = "".join(pieces)
            assert text[0] in "ab" and text[1:] == " " + FORCED and done.finish_reason == "stop"
        job = b.last_job
        assert job is not None and job.stats is not None and job.stats.forced > 5  # decoded in forced runs
    finally:
        await b.aclose()


async def test_closing_ends_active_and_waiting_streams(model_path: str) -> None:
    b = EmbeddedBackend(model_path, n_ctx=256, n_threads=2, parallel=2)
    gens = [b.generate(GenerationRequest(prompt=PROMPT, max_tokens=200)) for _ in range(3)]
    for gen in gens[:2]:
        assert isinstance(await gen.__anext__(), TextPiece)
    waiting = asyncio.create_task(gens[2].__anext__())  # the third waits for a free sequence
    await asyncio.sleep(0.05)
    await asyncio.wait_for(b.aclose(), 30)
    for gen in gens[:2]:
        with pytest.raises(BackendUnavailable):
            async for _ in gen:
                pass
    with pytest.raises(BackendUnavailable):
        await waiting
    with pytest.raises(BackendUnavailable):
        await run(b, prompt=PROMPT, max_tokens=1)
