"""Choosing the next token, with an optional grammar, without evaluating the grammar on the whole vocabulary.

llama-cpp-python's ``grammar=`` path runs the grammar over all 262k tokens at every step (2.6x slower
decoding here). Like llama-server we first look at what the model wants and ask the grammar only about that:

Greedy (temperature 0) — exact:
  1. the argmax; if the grammar allows it, done;
  2. else the top ``TOP_K`` tokens by logit, in (logit desc, id asc) order, checked in one grammar call; the
     first allowed one is the argmax of the constrained distribution provided its logit is strictly above
     the smallest logit in that top set (ties at the boundary could hide a smaller id) — then done;
  3. else the vocabulary prefix index (:mod:`toolproxy.backends._vocab_index`) lists the tokens that can
     possibly be allowed (a superset, typically a few hundred, found with a few hundred grammar checks);
     they are checked in (logit desc, id asc) order, in chunks, and the first allowed one is the answer;
  4. only where the index does not apply (token-id grammar rules, mid-UTF-8 state) the grammar masks
     the whole vocabulary and we take the argmax of what is left.
  The result always equals "mask the whole vocabulary, then argmax" (what ``reference=True`` does), with one
  deliberate exception, ``closing``: when the model's own choice is a separator (a token spelled ``,``) that the
  grammar refuses and the grammar allows a closing ``}`` or ``]`` there, the container is closed. The model
  said "this value is complete, next item"; the grammar says no item may follow (every property of a closed
  object is written, maxItems is reached). The next-best allowed token is then usually a digit or a letter
  that extends the value (a small model writes ``"years": 5`` as ``50000…`` because it wanted ``, "type"``
  next), which is never what the model meant.

Sampling (temperature > 0) — exact for the distribution defined below:
  The unconstrained sampler distribution is P = softmax(logits / T) truncated to its top-p nucleus (the
  tokens whose strictly-more-probable tokens hold less than top_p of the mass), to its top-k (the tokens
  with fewer than top_k strictly more probable ones) and to min-p (the tokens at least min_p times as
  probable as the likeliest); each is a set of the likeliest tokens, so together they are the smallest of
  the three (``top_k=0``, ``min_p=0``: off). With a grammar we draw from
  P conditioned on the grammar-allowed set A, i.e. P(t | t in A):
  1. rejection sampling: draw t ~ softmax(logits / T); redraw if t is outside the nucleus (one vectorised
     sum) or the grammar refuses it (rejected tokens are remembered, never asked about twice); accept the
     first draw that passes, up to ``MAX_DRAWS`` grammar refusals;
  2. else mask the vocabulary with the grammar (through the prefix index when it applies: same mask) and
     draw from P restricted to A exactly
     (:meth:`TokenPicker._sample_dense`, also the ``reference`` path).
  Rejection sampling is exact, so both steps produce P(t | t in A). Only when the truncated set holds no
  allowed token at all does step 2 use another distribution: temperature + top-p/top-k/min-p applied to the
  allowed tokens alone (what llama.cpp does when the grammar comes first). Without truncation this is exactly
  "grammar first, then sample".

Logit bias and repetition penalties change the logits before any of this (:mod:`toolproxy.backends._logits`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from toolproxy.backends._grammar import GrammarGate

TOP_K = 64
MAX_DRAWS = 16

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Closing:
    """Token ids of separators (text ``,`` up to whitespace) and of closers (``}`` / ``]``)."""

    separators: frozenset[int]
    closers: npt.NDArray[np.int64]

    @classmethod
    def from_pieces(cls, pieces: list[bytes]) -> Closing:
        seps = frozenset(t for t, p in enumerate(pieces) if p.strip() == b",")
        closers = np.asarray([t for t, p in enumerate(pieces) if p.strip() in (b"}", b"]")], dtype=np.int64)
        return cls(seps, closers)


@dataclass
class SamplingStats:
    """How often each path was taken (for the bench and tests)."""

    first: int = 0  # the model's own choice was allowed (or no grammar)
    top_k: int = 0  # found among the next-best candidates / by rejection sampling
    index: int = 0  # found through the vocabulary prefix index (a few hundred grammar checks)
    full: int = 0  # needed the whole-vocabulary pass
    closed: int = 0  # a refused separator closed the container instead (see Closing)
    forced: int = 0  # tokens the grammar forced, decoded without being chosen (jump-forward)
    decodes: int = 0  # llama_decode calls while generating (the prompt's not counted)
    seconds: float = 0.0  # wall time spent choosing tokens and advancing the grammar (not decoding)


class TokenPicker:
    """Picks tokens for one generation: temperature, top-p, seed, optional grammar gate."""

    def __init__(
        self,
        *,
        temperature: float,
        top_p: float,
        seed: int | None,
        gate: GrammarGate | None,
        reference: bool = False,
        closing: Closing | None = None,
        top_k: int = 0,
        min_p: float = 0.0,
    ) -> None:
        self.temperature = temperature
        self.top_p = top_p
        self.top_k = top_k
        self.min_p = min_p
        self.gate = gate
        self.reference = reference  # slow path only: mask the whole vocabulary every step (for tests)
        self.closing = closing  # greedy only: a refused separator closes the container where allowed
        self.rng = np.random.default_rng(seed)
        self.stats = SamplingStats()

    def pick(self, logits: FloatArray) -> int | None:
        """The next token, or None when the grammar allows no token at all (a dead end)."""
        if self.gate is not None and self.reference:
            self.stats.full += 1
            if self.temperature <= 0.0:
                best = int(np.argmax(logits))
                closer = None if self.gate.allows(best) else self._close_instead(best, logits, self.gate)
                if closer is not None:
                    return closer
            return self._sample_dense(self.gate.mask_all(logits), logits)
        if self.temperature <= 0.0:
            return self._greedy(logits)
        return self._sampled(logits)

    # -- greedy ------------------------------------------------------------------------------------

    def _greedy(self, logits: FloatArray) -> int | None:
        best = int(np.argmax(logits))
        gate = self.gate
        if gate is None or gate.allows(best):
            self.stats.first += 1
            return best
        closer = self._close_instead(best, logits, gate)
        if closer is not None:
            self.stats.closed += 1
            return closer
        k = min(TOP_K, logits.shape[0])
        top = np.argpartition(logits, -k)[-k:]
        top_logits = logits[top]
        order = np.lexsort((top, -top_logits))
        cands = top[order]
        ok = gate.allowed(cands)
        hits = np.flatnonzero(ok)
        if hits.size:
            i = int(hits[0])
            if k == logits.shape[0] or top_logits[order[i]] > top_logits[order[-1]]:
                self.stats.top_k += 1
                return int(cands[i])
        possible = gate.candidates()
        if possible is None:
            self.stats.full += 1
            return _argmax_finite(gate.mask_all(logits))
        self.stats.index += 1
        possible = possible[np.lexsort((possible, -logits[possible]))]
        for lo, hi in ((0, 256), (256, 4096), (4096, possible.shape[0])):
            chunk = possible[lo:hi]
            if chunk.size:
                hits = np.flatnonzero(gate.allowed(chunk))
                if hits.size:
                    tok = int(chunk[hits[0]])
                    return tok if np.isfinite(logits[tok]) else None
        return None

    def _close_instead(self, best: int, logits: FloatArray, gate: GrammarGate) -> int | None:
        closing = self.closing
        if closing is None or best not in closing.separators or not closing.closers.size:
            return None
        allowed = closing.closers[gate.allowed(closing.closers)]
        return int(allowed[np.argmax(logits[allowed])]) if allowed.size else None

    # -- temperature sampling ----------------------------------------------------------------------

    def _weights(self, logits: FloatArray) -> npt.NDArray[np.float64]:
        """Unnormalised softmax(logits / T) (float32 maths, float64 result); -inf / NaN logits get weight 0."""
        z = logits * np.float32(1.0 / self.temperature)
        top = z.max()
        if not np.isfinite(top):
            finite = np.isfinite(z)
            if not finite.any():
                return np.zeros(z.shape, dtype=np.float64)
            z = np.where(finite, z, -np.inf).astype(np.float32)
            top = z.max()
        w = np.exp(z - top).astype(np.float64)
        w[np.isnan(w)] = 0.0
        return w

    def _nucleus_threshold(self, w: npt.NDArray[np.float64]) -> float:
        """Smallest weight inside the top-p nucleus, top-k and min-p sets of ``w`` (one sort: used on the slow
        paths only)."""
        positive = w[w > 0.0]
        if not positive.size:
            return 0.0
        threshold = float(positive.min())
        if self.top_p < 1.0:
            ordered = np.sort(w)[::-1]
            cum = np.cumsum(ordered)
            k = min(int(np.searchsorted(cum, self.top_p * cum[-1])), ordered.shape[0] - 1)
            threshold = max(threshold, float(ordered[k]))
        if 0 < self.top_k < positive.shape[0]:
            threshold = max(threshold, float(np.partition(positive, -self.top_k)[-self.top_k]))
        if self.min_p > 0.0:
            threshold = max(threshold, self.min_p * float(positive.max()))
        return threshold

    def _outside(self, w: npt.NDArray[np.float64], tok: int, total: float) -> bool:
        """Whether ``tok`` falls outside the top-p nucleus, top-k or min-p set (vectorised sums, no sort)."""
        if self.top_p < 1.0 and float(w[w > w[tok]].sum()) >= self.top_p * total:
            return True
        if self.top_k > 0 and int(np.count_nonzero(w > w[tok])) >= self.top_k:
            return True
        return self.min_p > 0.0 and float(w[tok]) < self.min_p * float(w.max())

    def _draw(self, w: npt.NDArray[np.float64]) -> int:
        cdf = np.cumsum(w)
        return min(int(np.searchsorted(cdf, self.rng.random() * cdf[-1], side="right")), w.shape[0] - 1)

    def _sampled(self, logits: FloatArray) -> int | None:
        w = self._weights(logits)
        total = float(w.sum())
        if total <= 0.0:
            return None
        cdf = np.cumsum(w)
        gate = self.gate
        rejected: set[int] = set()
        refusals = 0
        for attempt in range(MAX_DRAWS * 4):
            tok = min(int(np.searchsorted(cdf, self.rng.random() * total, side="right")), w.shape[0] - 1)
            if tok in rejected:
                continue
            if self._outside(w, tok, total):  # top-p, top-k, min-p
                rejected.add(tok)
                continue
            if gate is None or gate.allows(tok):
                if attempt == 0:
                    self.stats.first += 1
                else:
                    self.stats.top_k += 1
                return tok
            rejected.add(tok)
            refusals += 1
            if refusals >= MAX_DRAWS:
                break
        if gate is None:
            return self._sample_dense(logits, logits)
        masked, used_index = gate.mask_candidates(logits)
        if used_index:
            self.stats.index += 1
        else:
            self.stats.full += 1
        return self._sample_dense(masked, logits)

    def _sample_dense(self, masked: FloatArray, logits: FloatArray) -> int | None:
        """Sample from grammar-masked logits exactly as the fast path would (argmax at temperature 0).

        The distribution: the unconstrained truncated set (top-p, top-k, min-p) restricted to the allowed
        tokens; when that is empty, temperature + the truncation applied to the allowed tokens alone.
        """
        if not np.isfinite(masked).any():
            return None
        if self.temperature <= 0.0:
            return _argmax_finite(masked)
        w = self._weights(logits)
        allowed = np.isfinite(masked)
        inside = np.where(allowed & (w >= self._nucleus_threshold(w)), w, 0.0)
        if inside.sum() > 0.0:
            return self._draw(inside)
        w_allowed = np.where(allowed, w, 0.0)
        if w_allowed.sum() <= 0.0:  # allowed tokens all underflow: fall back to their logits
            w_allowed = self._weights(masked)
        return self._draw(np.where(w_allowed >= self._nucleus_threshold(w_allowed), w_allowed, 0.0))


def _argmax_finite(logits: FloatArray) -> int | None:
    best = int(np.argmax(logits))
    return best if np.isfinite(logits[best]) else None
