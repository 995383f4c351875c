"""The synchronous generation loop (runs on the embedded backend's worker thread)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from toolproxy.backends._grammar import GrammarGate
from toolproxy.backends._jump import forced_tokens
from toolproxy.backends._llama import LlamaRuntime
from toolproxy.backends._logits import LogitAdjuster, token_logprob
from toolproxy.backends._sampling import SamplingStats, TokenPicker
from toolproxy.backends._text import StopScanner
from toolproxy.backends.base import GenerationDone, GenerationEvent, GenerationRequest, TextPiece, TokenLogprob
from toolproxy.errors import BackendError

Emit = Callable[[GenerationEvent], None]


@dataclass(eq=False)
class Job:
    """One prepared request: prompt tokens, its grammar gate (owned by the job), a cancel flag."""

    request: GenerationRequest
    tokens: list[int]
    limit: int  # most tokens to generate
    gate: GrammarGate | None
    reference_grammar: bool = False
    jump_forward: bool = True  # decode the tokens the grammar forces in one batch (see _jump)
    cancelled: threading.Event = field(default_factory=threading.Event)
    shut_down: bool = False  # cancelled because the backend is closing
    stats: SamplingStats | None = None
    reused_tokens: int = 0  # prompt tokens found in the KV cache (prompt cache hits)

    def close(self) -> None:
        if self.gate is not None:
            self.gate.close()
            self.gate = None


class _LazyTrigger:
    """Free text until a trigger string appears; then the grammar is fed the output from the trigger on."""

    def __init__(self, triggers: tuple[str, ...]) -> None:
        self.triggers = tuple(t for t in triggers if t)
        self.active = not self.triggers  # no triggers: the grammar applies from the first token
        self._bytes = bytearray()
        self._longest = max((len(t.encode()) for t in self.triggers), default=0)

    def observe(self, piece: bytes) -> bytes | None:
        """Record a generated token's bytes; on the token that completes a trigger, the bytes from it on."""
        before = len(self._bytes)
        self._bytes += piece
        window_start = max(0, before - self._longest + 1)
        hits = [i for i in (self._bytes.find(t.encode(), window_start) for t in self.triggers) if i >= 0]
        if not hits:
            return None
        self.active = True
        return bytes(self._bytes[min(hits) :])


def _arm(rt: LlamaRuntime, gate: GrammarGate, text: bytes) -> None:
    """Advance a lazy grammar over the output from its trigger on (token by token, each one checked)."""
    for tok in rt.tokenize_bytes(text):
        if not gate.allows(tok):
            raise BackendError("the grammar does not accept the text of its own trigger")
        gate.accept(tok, rt.piece(tok))


def run_job(rt: LlamaRuntime, job: Job, emit: Emit) -> None:
    """Generate for ``job``; emit text pieces and a final GenerationDone unless cancelled first."""
    try:
        if job.cancelled.is_set():
            return
        _generate(rt, job, emit)
    finally:
        job.close()


def _generate(rt: LlamaRuntime, job: Job, emit: Emit) -> None:
    req = job.request
    reused = rt.load_prompt(job.tokens, job.cancelled.is_set)
    if reused is None:  # abandoned while its prompt was being evaluated
        return
    job.reused_tokens = reused
    gate = job.gate
    if gate is not None:
        gate.index = rt.vocab_index()
    picker = TokenPicker(
        temperature=req.temperature, top_p=req.top_p, seed=req.seed, gate=None, reference=job.reference_grammar,
        closing=rt.closing() if gate is not None else None, top_k=req.top_k, min_p=req.min_p,
    )
    adjuster = LogitAdjuster(req, job.tokens)
    logprobs = _Logprobs(req.logprobs)
    job.stats = picker.stats
    lazy = _LazyTrigger(req.grammar_triggers if gate is not None else ())
    if gate is not None and lazy.active:
        picker.gate = gate
    scanner = StopScanner(req.stop)
    # Forced tokens have no distribution of their own: with logprobs wanted every token is chosen.
    probe = rt.byte_probe() if gate is not None and job.jump_forward and not logprobs.wanted else None
    finish: str = "length"
    n_gen = 0
    batch: list[int] = []  # the tokens chosen or forced since the last decode
    while not job.cancelled.is_set():
        if probe is not None and picker.gate is not None:  # jump-forward: what the grammar alone decides
            t1 = time.perf_counter()
            room = min(job.limit - n_gen, rt.n_ctx - len(rt.cached) - len(batch), rt.n_batch - len(batch))
            for forced, forced_piece in forced_tokens(rt, picker.gate, probe, room):
                if not picker.gate.allows(forced):
                    break
                picker.gate.accept(forced, forced_piece)
                adjuster.accept(forced)
                batch.append(forced)
                n_gen += 1
                picker.stats.forced += 1
                text = scanner.feed(forced_piece)
                if text:
                    emit(TextPiece(text))
                if scanner.stopped:
                    break
            picker.stats.seconds += time.perf_counter() - t1
            if scanner.stopped:
                finish = "stop"
                break
        if n_gen >= job.limit or len(rt.cached) >= rt.n_ctx:
            break
        if batch:
            picker.stats.decodes += 1
            rt.decode(batch)
            batch = []
            if job.cancelled.is_set():
                break
        t0 = time.perf_counter()
        logits = adjuster.apply(rt.logits())
        tok = picker.pick(logits)
        if tok is None:
            raise BackendError("the grammar allows no further token (dead end)")
        if rt.is_eog(tok):
            finish = "stop"
            break
        n_gen += 1
        piece = rt.piece(tok)
        adjuster.accept(tok)
        if logprobs.wanted:  # before the grammar moves on: the distribution this token was drawn from
            masked = picker.gate.mask_candidates(logits)[0] if picker.gate is not None else logits
            logprobs.add(token_logprob(masked, tok, logprobs.n_top, rt.piece))
        if picker.gate is not None:
            picker.gate.accept(tok, piece)
        elif gate is not None:
            armed = lazy.observe(piece)
            if armed is not None:
                _arm(rt, gate, armed)
                picker.gate = gate
        picker.stats.seconds += time.perf_counter() - t0
        text = scanner.feed(piece)
        if scanner.stopped:
            logprobs.cut(len(scanner.text.encode()))
        if text:
            emit(TextPiece(text, logprobs.take()))
        if scanner.stopped:
            finish = "stop"
            break
        batch.append(tok)
    if job.cancelled.is_set():
        return
    tail = scanner.flush()
    pending = logprobs.take()
    if tail or pending:
        emit(TextPiece(tail, pending))
    emit(GenerationDone(finish_reason="stop" if finish == "stop" else "length", prompt_tokens=len(job.tokens),
                        completion_tokens=n_gen, stop_sequence=scanner.matched))


class _Logprobs:
    """The log-probabilities of the tokens whose text has not been emitted yet (held back by the stop scanner)."""

    def __init__(self, n_top: int | None) -> None:
        self.wanted = n_top is not None
        self.n_top = n_top or 0
        self._pending: list[tuple[int, TokenLogprob]] = []  # (byte offset of the token in the output, entry)
        self._offset = 0

    def add(self, entry: TokenLogprob) -> None:
        self._pending.append((self._offset, entry))
        self._offset += len(entry.piece)

    def cut(self, emitted: int) -> None:
        """A stop string ends the output after ``emitted`` bytes: drop the tokens that start at or after it."""
        self._pending = [(start, entry) for start, entry in self._pending if start < emitted]

    def take(self) -> tuple[TokenLogprob, ...]:
        out = tuple(entry for _, entry in self._pending)
        self._pending.clear()
        return out
