"""Jump-forward (toolproxy/backends/_jump.py) on the real bundled model: what is forced, and what it changes."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator

import pytest

from tests.backends.test_embedded import CALL_GBNF, JSON_PROMPT, fresh, run
from toolproxy.backends._grammar import GrammarGate
from toolproxy.backends._jump import ByteProbe, forced_tokens
from toolproxy.backends._sampling import SamplingStats
from toolproxy.backends.embedded import EmbeddedBackend

CALL_RE = re.compile(
    r'\{"name": "(get_weather|search_web)", "arguments": \{"city": "[A-Za-z ]{1,12}", "days": [1-9]\}\}'
)


@pytest.fixture(scope="module")
def pair(model_path: str) -> Iterator[tuple[EmbeddedBackend, EmbeddedBackend]]:
    """The same model with and without jump-forward (same context size and threads)."""
    on = EmbeddedBackend(model_path, n_ctx=1024, n_threads=2)
    off = EmbeddedBackend(model_path, n_ctx=1024, n_threads=2, jump_forward=False)
    yield on, off
    for b in (on, off):
        asyncio.run(b.aclose())


def _gate(b: EmbeddedBackend, grammar: str) -> GrammarGate:
    gate = GrammarGate(b._rt.vocab, b._rt.n_vocab, grammar)
    gate.index = b._rt.vocab_index()
    return gate


def _forced(b: EmbeddedBackend, grammar: str, prefix: str = "", limit: int = 512) -> bytes:
    probe = b._rt.byte_probe()
    assert probe is not None
    gate = _gate(b, grammar)
    try:
        for tok in b._rt.tokenize(prefix):
            gate.accept(tok, b._rt.piece(tok))
        return gate.forced_bytes(probe.tokens, probe.byte_values, probe.n_eog, limit)
    finally:
        gate.close()


def test_the_probe_needs_a_token_for_every_first_byte() -> None:
    pieces = [bytes([b]) for b in range(256)] + [b"ab", b"<eos>"]
    probe = ByteProbe.from_pieces(pieces, eog=[257])
    assert probe is not None and probe.n_eog == 1 and probe.tokens[-1] == 257
    assert len(probe.tokens) == len(probe.byte_values) + 1 and 0x00 not in probe.byte_values
    assert all(pieces[t] == bytes([v]) for t, v in zip(probe.tokens, probe.byte_values, strict=False))
    assert ByteProbe.from_pieces([p for p in pieces if p != b"\xc3"], eog=[]) is None  # a lead byte missing


def test_forced_bytes_follow_the_grammar(pair: tuple[EmbeddedBackend, EmbeddedBackend]) -> None:
    on, _ = pair
    assert _forced(on, CALL_GBNF) == b'{"name": "'
    assert _forced(on, CALL_GBNF, '{"name": "get_') == b'weather", "arguments": {"city": "'
    assert _forced(on, CALL_GBNF, '{"name": "get_', limit=4) == b"weat"
    assert _forced(on, CALL_GBNF, '{"name": "') == b""  # two names start differently: nothing forced
    assert _forced(on, r'root ::= "ab" "cd"?') == b"ab"  # the grammar may end after "ab": "c" is not forced
    assert _forced(on, r'root ::= "ok é!"') == b"ok "  # ASCII only: a multi-byte character is the model's
    assert _forced(on, r'root ::= "<tok>" <[1]>') == b""  # token rules: the text probe does not apply


def test_probing_does_not_move_the_grammar(pair: tuple[EmbeddedBackend, EmbeddedBackend]) -> None:
    on, _ = pair
    rt = on._rt
    probe = rt.byte_probe()
    assert probe is not None
    gate = _gate(on, CALL_GBNF)
    try:
        before = gate.allowed(probe.tokens).tolist()
        assert gate.forced_bytes(probe.tokens, probe.byte_values, probe.n_eog, 64) == b'{"name": "'
        assert gate.allowed(probe.tokens).tolist() == before
        tokens = forced_tokens(rt, gate, probe, room=64)
        text = b"".join(piece for _, piece in tokens)
        assert tokens and b'{"name": "'.startswith(text) and text != b'{"name": "'  # the last token held back
        assert len(forced_tokens(rt, gate, probe, room=1)) == 1 and forced_tokens(rt, gate, probe, room=0) == []
        for tok, piece in tokens:
            gate.accept(tok, piece)  # each forced token is one the grammar allows, in order
    finally:
        gate.close()


def _stats(b: EmbeddedBackend) -> SamplingStats:
    assert b.last_job is not None and b.last_job.stats is not None
    return b.last_job.stats


async def test_a_forced_call_takes_fewer_decodes_and_stays_valid(pair: tuple[EmbeddedBackend, EmbeddedBackend]) -> None:
    on, off = pair
    fresh(on, off)
    jumped, done_on = await run(on, prompt=JSON_PROMPT, grammar=CALL_GBNF, max_tokens=48)
    st_on = _stats(on)
    plain, done_off = await run(off, prompt=JSON_PROMPT, grammar=CALL_GBNF, max_tokens=48)
    st_off = _stats(off)
    for text, done in (("".join(jumped), done_on), ("".join(plain), done_off)):
        assert CALL_RE.fullmatch(text), text
        assert done.finish_reason == "stop"
    assert st_off.forced == 0 and st_on.forced >= 10
    assert st_on.decodes * 2 <= st_off.decodes  # the envelope is decoded in a few batches
    picked = st_on.first + st_on.top_k + st_on.index + st_on.full + st_on.closed
    assert done_on.completion_tokens == st_on.forced + picked - 1  # the last pick is end-of-generation
    assert json.loads("".join(jumped))["arguments"]["days"] in range(1, 10)


async def test_max_tokens_cuts_a_forced_run(pair: tuple[EmbeddedBackend, EmbeddedBackend]) -> None:
    on, _ = pair
    fresh(on)
    whole, _ = await run(on, prompt=JSON_PROMPT, grammar=CALL_GBNF, max_tokens=48)
    for n in (1, 3):
        fresh(on)  # the same path as the whole run up to the cut: the text is its prefix, exactly
        cut, done = await run(on, prompt=JSON_PROMPT, grammar=CALL_GBNF, max_tokens=n)
        assert done.finish_reason == "length" and done.completion_tokens == n
        assert "".join(whole).startswith("".join(cut)) and "".join(cut)


async def test_a_stop_string_inside_forced_text_ends_there(pair: tuple[EmbeddedBackend, EmbeddedBackend]) -> None:
    on, _ = pair
    pieces, done = await run(on, prompt=JSON_PROMPT, grammar=CALL_GBNF, max_tokens=48, stop=('"arguments"',))
    text = "".join(pieces)
    assert done.finish_reason == "stop" and done.stop_sequence == '"arguments"'
    assert text.startswith('{"name": "') and text.endswith('", ') and '"arguments"' not in text


async def test_logprobs_turn_jumping_off(pair: tuple[EmbeddedBackend, EmbeddedBackend]) -> None:
    on, _ = pair
    _, done = await run(on, prompt=JSON_PROMPT, grammar=CALL_GBNF, max_tokens=48, logprobs=0)
    assert _stats(on).forced == 0 and done.finish_reason == "stop"
