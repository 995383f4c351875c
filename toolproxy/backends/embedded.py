"""The embedded backend: llama.cpp in-process through llama-cpp-python's low-level API.

- The model is loaded once; one context, one worker thread. With ``parallel`` 1 requests are queued FIFO
  on that thread (a single-worker executor), served in arrival order, never concurrently; with ``parallel``
  N up to N requests are generated together, one batched decode per step (:mod:`toolproxy.backends._scheduler`),
  the context holding N sequences of ``n_ctx`` tokens each.
- The async iterator bridges the worker thread to the event loop with an ``asyncio.Queue`` fed through
  ``loop.call_soon_threadsafe``. Closing it early (``aclose()``, task cancelled) sets the job's cancel flag;
  the worker checks it before every token, so the next queued request starts within one token.
- Prompt cache: the tokens of the previous prompt (and its output) stay in the KV cache; a new prompt only
  evaluates what follows the shared prefix.
- Grammar: see :mod:`toolproxy.backends._sampling` — the grammar is asked only about the tokens the model
  wants, which keeps constrained decoding close to free decoding speed; where the grammar admits one
  continuation only, its tokens are decoded in one batch (:mod:`toolproxy.backends._jump`, ``jump_forward``).
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
from collections.abc import AsyncGenerator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal

from toolproxy.backends._decode_loop import Job, run_job
from toolproxy.backends._grammar import GrammarGate
from toolproxy.backends._llama import LlamaRuntime
from toolproxy.backends._scheduler import Scheduler
from toolproxy.backends.base import (
    SAMPLING_FIELDS,
    Backend,
    GenerationDone,
    GenerationEvent,
    GenerationRequest,
    ModelInfo,
)
from toolproxy.backends.llama_server import check_sampling
from toolproxy.errors import BackendError, BackendUnavailable, ContextOverflow, InvalidRequest, ToolproxyError

log = logging.getLogger(__name__)

GrammarStrategy = Literal["fast", "full"]

_Item = GenerationEvent | ToolproxyError


class EmbeddedBackend(Backend):
    """A GGUF model run in-process.

    ``grammar_strategy="full"`` applies the grammar to the whole vocabulary at every step (the slow
    reference; for tests and the benchmark). The default ``"fast"`` gives identical greedy output.
    """

    sampling_fields = frozenset(SAMPLING_FIELDS)

    def __init__(
        self,
        model_path: str,
        *,
        n_ctx: int = 8192,
        n_threads: int | None = None,
        n_batch: int = 512,
        model_id: str | None = None,
        chat_template: str | None = None,
        grammar_strategy: GrammarStrategy = "fast",
        adaptive_threads: bool = False,
        jump_forward: bool = True,
        parallel: int = 1,
    ) -> None:
        if parallel < 1:
            raise ValueError("parallel must be at least 1")
        threads = n_threads if n_threads is not None else max(1, min(8, os.cpu_count() or 1))
        self._rt = LlamaRuntime(model_path, n_ctx=n_ctx, n_threads=threads, n_batch=n_batch,
                                adaptive_threads=adaptive_threads, n_seq=parallel)
        template = chat_template or self._rt.meta("tokenizer.chat_template")
        self._info = ModelInfo(
            id=model_id or Path(model_path).stem,
            context_size=self._rt.n_ctx,
            chat_template=template,
            bos_token=self._rt.token_text(self._rt.bos),
            eos_token=self._rt.token_text(self._rt.eos),
            extra={"architecture": self._rt.meta("general.architecture") or ""},
        )
        self._grammar_strategy = grammar_strategy
        self._jump_forward = jump_forward
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="toolproxy-llama")
        self._scheduler = Scheduler(self._rt) if parallel > 1 else None
        # The grammar fast path's vocabulary index takes about a second to build: do it first thing on the
        # worker, so the first grammar request does not pay for it (and nobody blocks the event loop).
        if self._scheduler is None:
            self._executor.submit(self._rt.vocab_index)
        self._jobs: set[Job] = set()
        self._closed = False
        self.last_job: Job | None = None  # the most recent job (its sampling stats), for the benchmark

    def info(self) -> ModelInfo:
        return self._info

    def count_tokens(self, text: str) -> int | None:
        """Tokens of ``text`` as a prompt (special tokens parsed, BOS counted): equals ``prompt_tokens``."""
        return len(self._rt.prompt_tokens(text))

    def _prepare(self, request: GenerationRequest) -> Job:
        if self._closed:
            raise BackendUnavailable("the embedded model has been shut down")
        if request.max_tokens is not None and request.max_tokens < 0:
            raise InvalidRequest("max_tokens must not be negative", param="max_tokens")
        if not (math.isfinite(request.temperature) and request.temperature >= 0.0):
            raise InvalidRequest("temperature must be a number >= 0", param="temperature")
        if not (math.isfinite(request.top_p) and 0.0 <= request.top_p <= 1.0):
            raise InvalidRequest("top_p must be between 0 and 1", param="top_p")
        check_sampling(request)
        if any(token >= self._rt.n_vocab for token, _ in request.logit_bias):
            raise InvalidRequest(f"logit_bias: token ids of this model are 0..{self._rt.n_vocab - 1}",
                                 param="logit_bias")
        tokens = self._rt.prompt_tokens(request.prompt)
        if not request.prompt or not tokens:
            raise InvalidRequest("the prompt is empty", param="prompt")
        n_ctx = self._rt.n_ctx
        if request.max_tokens is None:
            if len(tokens) >= n_ctx:
                raise ContextOverflow(
                    f"the prompt has {len(tokens)} tokens; the model's context size is {n_ctx}"
                )
            limit = n_ctx - len(tokens)
        else:
            if len(tokens) + request.max_tokens > n_ctx:
                raise ContextOverflow(
                    f"the prompt has {len(tokens)} tokens and max_tokens is {request.max_tokens}: "
                    f"{len(tokens) + request.max_tokens} > the model's context size {n_ctx}"
                )
            limit = request.max_tokens
        gate = None
        if request.grammar:  # parsed now: a bad grammar fails before the request is queued
            gate = GrammarGate(self._rt.vocab, self._rt.n_vocab, request.grammar)
        return Job(request, tokens, limit, gate, reference_grammar=self._grammar_strategy == "full",
                   jump_forward=self._jump_forward)

    async def generate(self, request: GenerationRequest) -> AsyncGenerator[GenerationEvent, None]:
        job = self._prepare(request)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[_Item] = asyncio.Queue()

        def emit(item: _Item) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the consumer's loop is gone
                job.cancelled.set()

        def work() -> None:
            try:
                run_job(self._rt, job, emit)
            except ToolproxyError as exc:
                emit(exc)
            except Exception as exc:  # the C library or a bug: never leave the consumer waiting
                log.exception("embedded generation failed")
                emit(BackendError(f"embedded generation failed: {type(exc).__name__}"))
            if job.shut_down:  # stopped by aclose(), not by its consumer: tell the consumer
                emit(BackendUnavailable("the embedded model is shutting down"))

        self._jobs.add(job)
        self.last_job = job
        try:
            if self._scheduler is not None:
                self._scheduler.submit(job, emit)
            else:
                self._executor.submit(work)
        except (RuntimeError, BackendUnavailable) as exc:  # shut down
            self._jobs.discard(job)
            job.close()
            raise BackendUnavailable("the embedded model has been shut down") from exc
        try:
            while True:
                item = await queue.get()
                if isinstance(item, ToolproxyError):
                    raise item
                yield item
                if isinstance(item, GenerationDone):
                    return
        finally:
            job.cancelled.set()  # stops the worker within one token if it is still generating
            self._jobs.discard(job)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        for job in list(self._jobs):
            job.shut_down = True
            job.cancelled.set()
        await asyncio.to_thread(self._executor.shutdown, wait=True)
        if self._scheduler is not None:
            await asyncio.to_thread(self._scheduler.close)
        self._rt.close()
