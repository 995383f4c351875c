"""The Backend contract: a rendered prompt (+ optional GBNF grammar) in, a stream of text pieces out.

Modelled on httpx's transport ABC: one abstract method does the work. Lower-library exceptions are
translated into :mod:`toolproxy.errors` inside each backend, nowhere else.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class GenerationRequest:
    prompt: str
    grammar: str | None = None
    max_tokens: int | None = None  # None: until the context is full
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None
    # Lazy grammar (upstream llama-server): text is free until one of these triggers appears.
    grammar_triggers: tuple[str, ...] = ()
    # Further sampling (issue 17): the defaults switch each one off. See ``SAMPLING_FIELDS``.
    top_k: int = 0  # 0: off
    min_p: float = 0.0  # 0: off
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    repeat_penalty: float = 1.0  # llama.cpp's multiplicative repetition penalty; 1: off
    penalty_last_n: int = 64  # penalties look at the last N tokens, prompt included (llama.cpp's default)
    logit_bias: tuple[tuple[int, float], ...] = ()  # (token id, bias added to its logit)
    logprobs: int | None = None  # None: none; N >= 0: each token's log-probability and its N likeliest rivals


#: The sampling fields of :class:`GenerationRequest` a backend may or may not honour, with their "off" values.
#: A backend lists the ones it implements in :attr:`Backend.sampling_fields`; a request that sets any other
#: one is refused (400) instead of silently ignored.
SAMPLING_FIELDS: dict[str, object] = {
    "top_k": 0,
    "min_p": 0.0,
    "presence_penalty": 0.0,
    "frequency_penalty": 0.0,
    "repeat_penalty": 1.0,
    "logit_bias": (),
    "logprobs": None,
}


@dataclass(frozen=True)
class TopLogprob:
    token_id: int  # -1 where the upstream does not say
    piece: bytes
    logprob: float


@dataclass(frozen=True)
class TokenLogprob:
    """One generated token: its log-probability and the likeliest alternatives at that step."""

    token_id: int
    piece: bytes
    logprob: float
    top: tuple[TopLogprob, ...] = ()


@dataclass(frozen=True)
class TextPiece:
    """A piece of generated text (one or more tokens, already detokenized, UTF-8 complete)."""

    text: str
    logprobs: tuple[TokenLogprob, ...] = ()  # the tokens this piece's text came from (when asked for)


@dataclass(frozen=True)
class GenerationDone:
    """Always the last item of a generation stream."""

    finish_reason: Literal["stop", "length"]
    prompt_tokens: int
    completion_tokens: int
    stop_sequence: str | None = None  # the request's stop string that ended the text, when one did


GenerationEvent = TextPiece | GenerationDone


@dataclass(frozen=True)
class ModelInfo:
    id: str
    context_size: int
    chat_template: str | None = None  # the model's own Jinja chat template, if it ships one
    bos_token: str = ""
    eos_token: str = ""
    extra: dict[str, str] = field(default_factory=dict)


class Backend(abc.ABC):
    """One model behind toolproxy."""

    #: llama-server style lazy grammars: in ``tool_choice: auto`` the text is left free until a trigger word
    #: (``GenerationRequest.grammar_triggers``) and only the call from the trigger on is constrained.
    prefers_lazy_grammar: bool = False

    #: The :data:`SAMPLING_FIELDS` this backend implements (temperature, top_p, stop, seed: every backend).
    sampling_fields: frozenset[str] = frozenset()

    @abc.abstractmethod
    def info(self) -> ModelInfo: ...

    @abc.abstractmethod
    def generate(self, request: GenerationRequest) -> AsyncGenerator[GenerationEvent, None]:
        """Stream the generation: zero or more :class:`TextPiece`, then exactly one :class:`GenerationDone`.

        Closing the iterator early (``aclose()``, or the consumer going away) must stop the generation
        promptly, so the next request is not stuck behind a dead one.
        Raises :class:`toolproxy.errors.BackendUnavailable` / :class:`toolproxy.errors.BackendError`.
        """

    def count_tokens(self, text: str) -> int | None:
        """Number of tokens of ``text`` for this model, or None when the backend cannot tell cheaply."""
        return None

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release resources (model memory, HTTP clients, subprocesses)."""
