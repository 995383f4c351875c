"""What happens to the logits before a token is picked (logit bias, repetition penalties), and log-probabilities.

Both follow llama.cpp's samplers, so the embedded engine and a llama-server upstream agree:

- ``logit_bias``: the bias is added to the token's logit (OpenAI's -100..100; -100 in practice bans it).
- penalties (``llama_sampler_init_penalties``): for every token seen among the last ``penalty_last_n`` tokens
  (prompt included, as llama-server does), ``count`` times: a positive logit is divided by ``repeat_penalty``,
  a negative one multiplied by it; then ``count * frequency_penalty + presence_penalty`` is subtracted.
- log-probabilities: ``log_softmax`` of the adjusted logits at temperature 1, over the tokens the grammar
  admits at that step when a grammar is active (the distribution the token was drawn from), before
  temperature and truncation (top-k/top-p/min-p), like OpenAI's and llama-server's (pre-sampling) values.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from toolproxy.backends.base import GenerationRequest, TokenLogprob, TopLogprob

FloatArray = npt.NDArray[np.float32]


class LogitAdjuster:
    """Logit bias and repetition penalties for one generation (its own copy of the logits, when it acts)."""

    def __init__(self, request: GenerationRequest, prompt: Sequence[int]) -> None:
        self._bias_ids = np.asarray([t for t, _ in request.logit_bias], dtype=np.int64)
        self._bias = np.asarray([b for _, b in request.logit_bias], dtype=np.float32)
        self._repeat = float(request.repeat_penalty)
        self._frequency = float(request.frequency_penalty)
        self._presence = float(request.presence_penalty)
        self._penalised = (self._repeat != 1.0 or self._frequency != 0.0 or self._presence != 0.0) and (
            request.penalty_last_n != 0
        )
        last_n = request.penalty_last_n if request.penalty_last_n > 0 else None  # -1 (or less): no limit
        self._window: deque[int] = deque(maxlen=last_n)
        self._counts: Counter[int] = Counter()
        if self._penalised:
            for tok in prompt if last_n is None else prompt[-last_n:]:
                self.accept(tok)

    @property
    def active(self) -> bool:
        return bool(self._bias_ids.size) or self._penalised

    def accept(self, token: int) -> None:
        """Record a token of the context (prompt or generated) for the penalties."""
        if not self._penalised:
            return
        if self._window.maxlen is not None and len(self._window) == self._window.maxlen:
            old = self._window[0]
            self._counts[old] -= 1
            if not self._counts[old]:
                del self._counts[old]
        self._window.append(token)
        self._counts[token] += 1

    def apply(self, logits: FloatArray) -> FloatArray:
        """The adjusted logits (``logits`` itself, untouched, when there is nothing to do)."""
        if not self.active:
            return logits
        out = logits.copy()
        if self._bias_ids.size:
            np.add.at(out, self._bias_ids, self._bias)
        if self._penalised and self._counts:
            ids = np.fromiter(self._counts.keys(), dtype=np.int64, count=len(self._counts))
            counts = np.fromiter(self._counts.values(), dtype=np.float32, count=len(self._counts))
            z = out[ids]
            if self._repeat != 1.0:
                z = np.where(z <= 0.0, z * np.float32(self._repeat), z / np.float32(self._repeat))
            out[ids] = z - (counts * np.float32(self._frequency) + np.float32(self._presence))
        return out


def token_logprob(
    logits: FloatArray, token: int, n_top: int, piece: Callable[[int], bytes]
) -> TokenLogprob:
    """``token``'s log-probability under ``log_softmax(logits)`` (-inf entries: excluded tokens) and the
    ``n_top`` likeliest tokens of that distribution (ties by token id)."""
    z = logits.astype(np.float64)
    finite = np.isfinite(z)
    top_z = float(z[finite].max()) if finite.any() else 0.0
    norm = top_z + float(np.log(np.exp(z[finite] - top_z).sum())) if finite.any() else 0.0
    chosen = float(z[token]) - norm if np.isfinite(z[token]) else float("-inf")
    top: tuple[TopLogprob, ...] = ()
    if n_top > 0:
        k = min(n_top, int(finite.sum()))
        if k:
            part = np.argpartition(z, -k)[-k:]
            order = part[np.lexsort((part, -z[part]))]
            top = tuple(TopLogprob(int(t), piece(int(t)), float(z[t]) - norm) for t in order)
    return TokenLogprob(token, piece(token), chosen, top)
