"""The synchronous generation loop (runs on the embedded backend's worker thread)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

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
    """Generate for ``job`` alone on sequence 0; emit text pieces and a final GenerationDone unless cancelled."""
    try:
        if job.cancelled.is_set():
            return
        reused = rt.load_prompt(job.tokens, job.cancelled.is_set)
        if reused is None:  # abandoned while its prompt was being evaluated
            return
        job.reused_tokens = reused
        gen = Generation(rt, job, emit)
        batch = gen.first_batch()
        while batch is not None:
            if batch:
                rt.decode(batch)
            batch = gen.step(rt.logits())
    finally:
        job.close()


class Generation:
    """One job's generation after its prompt, as steps: the caller decodes each returned batch on the job's
    sequence and hands back the logits of its last token (the sequential loop above, or the batched
    scheduler of several sequences, :mod:`toolproxy.backends._scheduler`)."""

    def __init__(self, rt: LlamaRuntime, job: Job, emit: Emit) -> None:
        req = job.request
        self.rt, self.job, self.emit = rt, job, emit
        gate = job.gate
        if gate is not None:
            gate.index = rt.vocab_index()
        self.picker = TokenPicker(
            temperature=req.temperature, top_p=req.top_p, seed=req.seed, gate=None,
            reference=job.reference_grammar, closing=rt.closing() if gate is not None else None,
            top_k=req.top_k, min_p=req.min_p,
        )
        self.adjuster = LogitAdjuster(req, job.tokens)
        self.logprobs = _Logprobs(req.logprobs)
        job.stats = self.picker.stats
        self.lazy = _LazyTrigger(req.grammar_triggers if gate is not None else ())
        if gate is not None and self.lazy.active:
            self.picker.gate = gate
        self.scanner = StopScanner(req.stop)
        # Forced tokens have no distribution of their own: with logprobs wanted every token is chosen.
        self.probe = rt.byte_probe() if gate is not None and job.jump_forward and not self.logprobs.wanted else None
        self.n_gen = 0
        self.n_past = len(job.tokens)  # tokens of this sequence in the KV cache once the last batch is decoded

    def first_batch(self) -> list[int] | None:
        """What the grammar forces before the model has chosen anything ([] when nothing: then call
        :meth:`step` with the prompt's logits); None when the generation is already over."""
        return self._forced([])

    def step(self, logits: npt.NDArray[np.float32]) -> list[int] | None:
        """Choose the next token from the logits of the last decoded token; the tokens to decode next (the
        chosen one and those the grammar then forces), or None when the generation is over."""
        job, picker, rt = self.job, self.picker, self.rt
        if job.cancelled.is_set():
            return None
        t0 = time.perf_counter()
        logits = self.adjuster.apply(logits)
        tok = picker.pick(logits)
        if tok is None:
            raise BackendError("the grammar allows no further token (dead end)")
        if rt.is_eog(tok):
            self._finish("stop")
            return None
        self.n_gen += 1
        piece = rt.piece(tok)
        self.adjuster.accept(tok)
        if self.logprobs.wanted:  # before the grammar moves on: the distribution this token was drawn from
            masked = picker.gate.mask_candidates(logits)[0] if picker.gate is not None else logits
            self.logprobs.add(token_logprob(masked, tok, self.logprobs.n_top, rt.piece))
        gate = job.gate
        if picker.gate is not None:
            picker.gate.accept(tok, piece)
        elif gate is not None:
            armed = self.lazy.observe(piece)
            if armed is not None:
                _arm(rt, gate, armed)
                picker.gate = gate
        picker.stats.seconds += time.perf_counter() - t0
        scanner = self.scanner
        text = scanner.feed(piece)
        if scanner.stopped:
            self.logprobs.cut(len(scanner.text.encode()))
        if text:
            self.emit(TextPiece(text, self.logprobs.take()))
        if scanner.stopped:
            self._finish("stop")
            return None
        return self._forced([tok])

    def _forced(self, batch: list[int]) -> list[int] | None:
        """``batch`` and the tokens the grammar forces after it (jump-forward), or None when over."""
        job, picker, rt, scanner = self.job, self.picker, self.rt, self.scanner
        if self.probe is not None and picker.gate is not None:
            t1 = time.perf_counter()
            room = min(job.limit - self.n_gen, rt.n_ctx - self.n_past - len(batch), rt.n_batch - len(batch))
            for forced, forced_piece in forced_tokens(rt, picker.gate, self.probe, room):
                if not picker.gate.allows(forced):
                    break
                picker.gate.accept(forced, forced_piece)
                self.adjuster.accept(forced)
                batch.append(forced)
                self.n_gen += 1
                picker.stats.forced += 1
                text = scanner.feed(forced_piece)
                if text:
                    self.emit(TextPiece(text))
                if scanner.stopped:
                    break
            picker.stats.seconds += time.perf_counter() - t1
            if scanner.stopped:
                self._finish("stop")
                return None
        if job.cancelled.is_set():
            return None
        if self.n_gen >= job.limit or self.n_past >= rt.n_ctx:
            self._finish("length")
            return None
        if batch:
            picker.stats.decodes += 1
            self.n_past += len(batch)
        return batch

    def _finish(self, finish: str) -> None:
        if self.job.cancelled.is_set():
            return
        tail = self.scanner.flush()
        pending = self.logprobs.take()
        if tail or pending:
            self.emit(TextPiece(tail, pending))
        self.emit(GenerationDone(finish_reason="stop" if finish == "stop" else "length",
                                 prompt_tokens=len(self.job.tokens), completion_tokens=self.n_gen,
                                 stop_sequence=self.scanner.matched))


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
