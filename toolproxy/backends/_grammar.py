"""A llama.cpp GBNF grammar used as a *gate*: which of these tokens may come next?

llama.cpp's grammar sampler, driven through its C API so that it is evaluated only on the tokens we ask
about (one, a few dozen, or, rarely, the whole vocabulary).

Safety: llama.cpp aborts the whole process (``GGML_ABORT`` / a C++ exception escaping the C API) when a
grammar is told to accept a token it rejects (its stacks become empty) or an end-of-generation token
while it is not complete. :meth:`GrammarGate.accept` therefore refuses any token it has not checked
itself; end-of-generation tokens are never accepted (generation ends there anyway).
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from toolproxy.backends._llama_lib import llama_cpp
from toolproxy.backends._vocab_index import VocabIndex
from toolproxy.errors import BackendError
from toolproxy.grammar.gbnf import uses_token_rules

TOKEN_DATA = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)])
assert TOKEN_DATA.itemsize == ctypes.sizeof(llama_cpp.llama_token_data)  # layout of llama_token_data


class GrammarGate:
    """One grammar's state during one generation."""

    def __init__(self, vocab: Any, n_vocab: int, grammar: str, *, root: str = "root") -> None:
        sampler = llama_cpp.llama_sampler_init_grammar(vocab, grammar.encode("utf-8"), root.encode())
        if not sampler:
            raise BackendError("grammar failed to parse (llama.cpp rejected the GBNF; see its log)")
        self._sampler: Any = sampler
        self._n_vocab = n_vocab
        self._small = np.zeros(256, dtype=TOKEN_DATA)
        self._full: npt.NDArray[np.void] | None = None  # allocated on the first full-vocabulary pass
        self._prefix_closed = not uses_token_rules(grammar)
        self._utf8_pending = 0  # bytes still missing from the last accepted character
        self.index: VocabIndex | None = None  # set by the worker when it has one

    def _apply(self, arr: npt.NDArray[np.void], n: int) -> None:
        cur = llama_cpp.llama_token_data_array(
            data=ctypes.cast(arr.ctypes.data, llama_cpp.llama_token_data_p), size=n, selected=-1, sorted=False
        )
        llama_cpp.llama_sampler_apply(self._sampler, ctypes.byref(cur))

    def allowed(self, tokens: Sequence[int] | npt.NDArray[np.integer]) -> npt.NDArray[np.bool_]:
        """For each token, whether the grammar lets it come next (end-of-generation: iff complete)."""
        n = len(tokens)
        arr = self._small if n <= len(self._small) else np.zeros(n, dtype=TOKEN_DATA)
        view = arr[:n]
        view["id"] = tokens
        view["logit"] = 0.0
        self._apply(arr, n)
        result: npt.NDArray[np.bool_] = np.isfinite(view["logit"])
        return result

    def allows(self, token: int) -> bool:
        return bool(self.allowed((token,))[0])

    def mask_all(self, logits: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """``logits`` with every token the grammar rejects set to -inf (the slow, whole-vocabulary pass)."""
        if self._full is None:
            self._full = np.zeros(self._n_vocab, dtype=TOKEN_DATA)
            self._full["id"] = np.arange(self._n_vocab, dtype=np.int32)
        self._full["logit"] = logits
        self._apply(self._full, self._n_vocab)
        masked: npt.NDArray[np.float32] = self._full["logit"].copy()
        return masked

    def candidates(self) -> npt.NDArray[np.int64] | None:
        """A superset of the tokens allowed now, found through the vocabulary index; None: use them all."""
        if self.index is None or not self._prefix_closed or self._utf8_pending:
            return None
        return self.index.candidates(self.allowed)

    def mask_candidates(self, logits: npt.NDArray[np.float32]) -> tuple[npt.NDArray[np.float32], bool]:
        """Same mask as :meth:`mask_all`, asking the grammar only about the index's candidates when the
        index applies (the flag says whether it did)."""
        cands = self.candidates()
        if cands is None:
            return self.mask_all(logits), False
        masked = np.full_like(logits, -np.inf)
        ok = cands[self.allowed(cands)]
        masked[ok] = logits[ok]
        return masked, True

    def forced_bytes(self, probe: Sequence[int], probe_bytes: Sequence[int], n_eog: int, limit: int) -> bytes:
        """The bytes every continuation the grammar admits starts with (at most ``limit``; ASCII only).

        ``probe``: one single-byte token per byte value (``probe_bytes``, every byte a UTF-8 text can start
        with) followed by ``n_eog`` end-of-generation tokens. A step is forced when exactly one byte is
        allowed and the grammar cannot end there; the walk goes on over a clone of the grammar, which is
        freed before returning (this gate does not move).
        """
        if not self._prefix_closed or self._utf8_pending or limit <= 0:
            return b""
        tokens = np.asarray(probe, dtype=np.int32)
        n = len(tokens)
        arr = np.zeros(n, dtype=TOKEN_DATA)
        n_bytes = n - n_eog

        def single(sampler: Any) -> int | None:
            arr["id"] = tokens
            arr["logit"] = 0.0
            cur = llama_cpp.llama_token_data_array(
                data=ctypes.cast(arr.ctypes.data, llama_cpp.llama_token_data_p), size=n, selected=-1, sorted=False
            )
            llama_cpp.llama_sampler_apply(sampler, ctypes.byref(cur))
            ok = np.isfinite(arr["logit"])
            if ok[n_bytes:].any():  # the grammar may end here: nothing is forced
                return None
            hits = np.flatnonzero(ok[:n_bytes])
            return int(hits[0]) if hits.size == 1 and probe_bytes[int(hits[0])] < 0x80 else None

        first = single(self._sampler)
        if first is None:
            return b""
        out = bytearray((probe_bytes[first],))
        clone = llama_cpp.llama_sampler_clone(self._sampler)
        if not clone:
            return b""
        try:
            llama_cpp.llama_sampler_accept(clone, int(tokens[first]))
            while len(out) < limit:
                nxt = single(clone)
                if nxt is None:
                    break
                llama_cpp.llama_sampler_accept(clone, int(tokens[nxt]))
                out.append(probe_bytes[nxt])
        finally:
            llama_cpp.llama_sampler_free(clone)
        return bytes(out)

    def accept(self, token: int, piece: bytes) -> None:
        """Advance the grammar past ``token`` (text ``piece``), which must be allowed (checked again: an
        unchecked token could abort the process)."""
        if not self.allows(token):
            raise BackendError(f"internal error: token {token} is not allowed by the grammar")
        llama_cpp.llama_sampler_accept(self._sampler, token)
        for byte in piece:
            if self._utf8_pending and byte & 0xC0 == 0x80:
                self._utf8_pending -= 1
            elif byte >= 0xF0:
                self._utf8_pending = 3
            elif byte >= 0xE0:
                self._utf8_pending = 2
            elif byte >= 0xC0:
                self._utf8_pending = 1
            else:
                self._utf8_pending = 0

    def close(self) -> None:
        if self._sampler:
            llama_cpp.llama_sampler_free(self._sampler)
            self._sampler = None

