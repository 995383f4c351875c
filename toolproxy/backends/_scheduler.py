"""Several requests at once: up to ``n_seq`` generations share one llama.cpp context, one decode per step.

One worker thread runs the loop. Every step builds one batch of every active sequence's next tokens (the
token its generation chose plus what the grammar forced, :class:`~toolproxy.backends._decode_loop.Generation`)
and, with the room left in ``n_batch``, chunks of the prompts still being read; one ``llama_decode``; then each
generation chooses its next token from its own row of logits. Each request keeps its own grammar, sampler,
stop scanner, cancellation and KV range (sequence); a new request takes the free sequence holding the longest
prefix of its prompt (prompt cache; see :meth:`Scheduler._pick`), the others wait in arrival order.

A request's answer may differ in the last bits from the same request served alone: llama.cpp's logits depend
on the batch a token was evaluated in (greedy answers can then part where two tokens are close).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

from toolproxy.backends._decode_loop import Generation, Job
from toolproxy.backends._llama import LlamaRuntime
from toolproxy.backends.base import GenerationEvent
from toolproxy.errors import BackendError, BackendUnavailable, ToolproxyError

log = logging.getLogger(__name__)

Sink = Callable[[GenerationEvent | ToolproxyError], None]  # a request's events, or the error that ends it


@dataclass(eq=False)
class _Slot:
    seq: int
    job: Job
    emit: Sink
    prompt_at: int  # the next prompt token to decode (== len(tokens): the prompt is in)
    gen: Generation | None = None
    pending: list[int] | None = None  # what gen wants decoded next
    deferred: bool = False  # pending did not fit the last batch


class Scheduler:
    """Serves jobs on the sequences of ``rt`` (which must have been created with ``n_seq`` > 1)."""

    def __init__(self, rt: LlamaRuntime) -> None:
        self._rt = rt
        self._queue: queue.Queue[tuple[Job, Sink] | None] = queue.Queue()
        self._waiting: list[tuple[Job, Sink]] = []
        self._active: list[_Slot] = []
        self._used = [0] * rt.n_seq  # when each sequence was last given a request (self._clock)
        self._clock = 0
        self._closing = False  # no more submissions
        self._stopping = False  # the worker has seen the end of the queue
        self._thread = threading.Thread(target=self._run, name="toolproxy-llama-batch", daemon=True)
        self._thread.start()

    def submit(self, job: Job, emit: Sink) -> None:
        if self._closing:
            raise BackendUnavailable("the embedded model has been shut down")
        self._queue.put((job, emit))

    def close(self) -> None:
        """Stop taking jobs; returns once the worker is gone (active jobs must have been cancelled)."""
        self._closing = True
        self._queue.put(None)
        self._thread.join()

    # -- the worker ---------------------------------------------------------------------------------

    def _run(self) -> None:
        self._rt.vocab_index()  # the grammar fast path's index, built before the first request needs it
        while True:
            if not self._stopping:
                self._take_new(block=not self._active and not self._waiting)
            self._admit()
            if not self._active:
                if self._stopping:
                    break
                continue
            try:
                self._step()
            except ToolproxyError as exc:  # the decode itself failed: every active request gets the error
                for slot in list(self._active):
                    self._release(slot, exc)
            except Exception as exc:  # the C library or a bug: never leave a consumer waiting
                log.exception("embedded batched generation failed")
                for slot in list(self._active):
                    self._release(slot, BackendError(f"embedded generation failed: {type(exc).__name__}"))
        for job, emit in self._waiting:
            emit(BackendUnavailable("the embedded model is shutting down"))
            job.close()

    def _take_new(self, *, block: bool) -> None:
        """Move submitted jobs into the waiting list (``block``: wait for one); note the end of the queue."""
        try:
            item = self._queue.get(block=block)
            while True:
                if item is None:
                    self._stopping = True
                    return
                self._waiting.append(item)
                item = self._queue.get_nowait()
        except queue.Empty:
            return

    def _admit(self) -> None:
        rt = self._rt
        for slot in [s for s in self._active if s.job.cancelled.is_set()]:
            self._release(slot, None)
        self._waiting = [(job, emit) for job, emit in self._waiting if not self._dropped(job, emit)]
        free = [seq for seq in range(rt.n_seq) if all(s.seq != seq for s in self._active)]
        while free and self._waiting:
            job, emit = self._waiting.pop(0)  # arrival order
            seq = self._pick(free, job.tokens)
            free.remove(seq)
            self._clock += 1
            self._used[seq] = self._clock
            job.reused_tokens = rt.prepare_seq(seq, job.tokens)
            self._active.append(_Slot(seq, job, emit, prompt_at=job.reused_tokens))

    def _pick(self, free: list[int], tokens: list[int]) -> int:
        """The free sequence for a prompt: the one holding its longest prefix where that prefix is at least half
        of what the sequence holds (a hit: a conversation's next turn); else the least recently used one, empty
        ones first (so a short shared opening, a chat template's first tokens, does not evict a long cache)."""
        rt = self._rt
        hits = [(shared, q) for q in free
                if (shared := rt.shared_prefix(q, tokens)) > 0 and 2 * shared >= len(rt.seqs[q])]
        if hits:
            return max(hits, key=lambda h: (h[0], -h[1]))[1]
        return min(free, key=lambda q: (self._used[q], q))

    @staticmethod
    def _dropped(job: Job, emit: Sink) -> bool:
        if not job.cancelled.is_set():
            return False
        if job.shut_down:
            emit(BackendUnavailable("the embedded model is shutting down"))
        job.close()
        return True

    def _step(self) -> None:
        rt = self._rt
        entries: list[tuple[int, list[int], bool]] = []
        owners: list[_Slot] = []
        room = rt.n_batch
        # generations first: one token (and its forced run) each; a forced run that does not fit this batch
        # waits for the next one, where it goes first (every run fits n_batch alone)
        for slot in sorted(self._active, key=lambda s: not s.deferred):
            if slot.pending:
                if len(slot.pending) > room:
                    slot.deferred = True
                    continue
                slot.deferred = False
                entries.append((slot.seq, slot.pending, True))
                owners.append(slot)
                room -= len(slot.pending)
        for slot in self._active:  # then prompts, as far as the batch has room
            tokens = slot.job.tokens
            if slot.gen is None and room > 0:
                chunk = list(tokens[slot.prompt_at : slot.prompt_at + room])
                entries.append((slot.seq, chunk, slot.prompt_at + len(chunk) == len(tokens)))
                owners.append(slot)
                room -= len(chunk)
        if not entries:
            return
        rt.decode_many(entries)
        for k, slot in enumerate(owners):
            try:
                self._advance(slot, k, len(entries[k][1]))
            except ToolproxyError as exc:
                self._release(slot, exc)
            except Exception as exc:  # a bug in one generation fails that request only
                log.exception("embedded generation failed")
                self._release(slot, BackendError(f"embedded generation failed: {type(exc).__name__}"))

    def _advance(self, slot: _Slot, k: int, n: int) -> None:
        rt = self._rt
        if slot.gen is None:
            slot.prompt_at += n
            if slot.prompt_at < len(slot.job.tokens):
                return
            slot.gen = Generation(rt, slot.job, slot.emit)
            batch = slot.gen.first_batch()
            if batch == []:
                batch = slot.gen.step(rt.logits_of(k))
        else:
            batch = slot.gen.step(rt.logits_of(k))
        if batch is None:
            self._release(slot, None)
        else:
            slot.pending = batch

    def _release(self, slot: _Slot, error: ToolproxyError | None) -> None:
        self._active.remove(slot)
        if error is not None:
            slot.emit(error)
        elif slot.job.shut_down:
            slot.emit(BackendUnavailable("the embedded model is shutting down"))
        slot.job.close()

