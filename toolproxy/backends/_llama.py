"""A thin owner of one llama.cpp model + context, on llama-cpp-python's low-level (ctypes) API.

Not thread-safe: the embedded backend calls it from its single worker thread only (tokenizing and
reading the vocabulary are read-only and also done from the event loop thread).
Every failure of the C library is translated into :mod:`toolproxy.errors` here.
"""

from __future__ import annotations

import ctypes
import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from toolproxy.backends._cpu import ThreadGovernor
from toolproxy.backends._jump import ByteProbe
from toolproxy.backends._llama_lib import llama_cpp
from toolproxy.backends._sampling import Closing
from toolproxy.backends._vocab_index import VocabIndex
from toolproxy.errors import BackendError, BackendUnavailable

_LLAMA_LOGGER = "llama-cpp-python"


def cpu_has_amx() -> bool:
    """Whether the CPU advertises Intel AMX (Linux: /proc/cpuinfo flags)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return "amx_int8" in line.split()
    except OSError:
        return False
    return False


class LlamaRuntime:
    """One loaded model with one context of ``n_seq`` sequences, each of ``n_ctx`` tokens, and the tokens each
    sequence currently holds in the KV cache. With one sequence, :meth:`load_prompt` / :meth:`decode` work on
    it; with several, the scheduler uses :meth:`prepare_seq` / :meth:`decode_many`."""

    def __init__(self, model_path: str, *, n_ctx: int, n_threads: int, n_batch: int,
                 adaptive_threads: bool = False, n_seq: int = 1) -> None:
        if not os.path.isfile(model_path):
            raise BackendUnavailable(f"model file not found: {model_path}")
        logger = logging.getLogger(_LLAMA_LOGGER)
        if logger.level == logging.NOTSET:  # llama.cpp is chatty on stderr unless told otherwise
            logger.setLevel(logging.ERROR)
        llama_cpp.llama_backend_init()
        mparams = llama_cpp.llama_model_default_params()
        # llama.cpp's AMX matmul kernels (picked through the "extra buffer types") crash with SIGSEGV on
        # this model (seen with llama-cpp-python 0.3.36 on Sapphire Rapids); plain CPU kernels are safe.
        mparams.use_extra_bufts = not cpu_has_amx()
        model = llama_cpp.llama_model_load_from_file(model_path.encode(), mparams)
        if not model:
            raise BackendUnavailable(f"llama.cpp could not load the model {model_path}")
        cparams = llama_cpp.llama_context_default_params()
        cparams.n_ctx = n_ctx * n_seq  # the KV cache scales: every sequence keeps the whole n_ctx
        cparams.n_batch = n_batch
        cparams.n_ubatch = n_batch
        cparams.n_seq_max = n_seq
        cparams.kv_unified = False  # a fixed n_ctx of cells per sequence
        cparams.n_threads = n_threads
        cparams.n_threads_batch = n_threads
        cparams.swa_full = True  # keep every position of sliding-window layers: prefix reuse stays exact
        ctx = llama_cpp.llama_init_from_model(model, cparams)
        if not ctx:
            llama_cpp.llama_model_free(model)
            raise BackendUnavailable(f"llama.cpp could not create a context of {n_ctx} tokens")
        self.model: Any = model
        self.ctx: Any = ctx
        self.vocab: Any = llama_cpp.llama_model_get_vocab(model)
        self.memory: Any = llama_cpp.llama_get_memory(ctx)
        self.n_seq = n_seq
        self.n_ctx = int(llama_cpp.llama_n_ctx_seq(ctx)) if n_seq > 1 else int(llama_cpp.llama_n_ctx(ctx))
        self.n_batch = n_batch
        self.n_vocab = int(llama_cpp.llama_vocab_n_tokens(self.vocab))
        self.bos = int(llama_cpp.llama_vocab_bos(self.vocab))
        self.eos = int(llama_cpp.llama_vocab_eos(self.vocab))
        self.add_bos = bool(llama_cpp.llama_vocab_get_add_bos(self.vocab))
        # per sequence: the tokens whose keys/values are in the KV cache, positions 0..len-1
        self.seqs: list[list[int]] = [[] for _ in range(n_seq)]
        self._batch: Any = None  # the multi-sequence batch (decode_many), allocated on first use
        self._rows: list[int] = []  # decode_many: the batch row of each entry's last token
        self._piece_buf = ctypes.create_string_buffer(256)
        self._index: VocabIndex | None = None
        self._closing: Closing | None = None
        self._probe: ByteProbe | None = None
        # adaptive_threads: fewer threads while other processes keep our cores busy (see _cpu.ThreadGovernor)
        self.governor = ThreadGovernor(n_threads) if adaptive_threads and n_threads > 1 else None
        self.n_threads = n_threads

    # -- vocabulary --------------------------------------------------------------------------------

    def tokenize(self, text: str) -> list[int]:
        """Tokens of ``text`` with special tokens parsed (``<start_of_turn>``); no BOS added."""
        return self.tokenize_bytes(text.encode("utf-8"))

    def tokenize_bytes(self, data: bytes) -> list[int]:
        """Like :meth:`tokenize`, for raw bytes (an incomplete UTF-8 tail becomes byte tokens)."""
        if not data:
            return []
        cap = len(data) + 8
        buf = (llama_cpp.llama_token * cap)()
        n = llama_cpp.llama_tokenize(self.vocab, data, len(data), buf, cap, False, True)
        if n < 0:  # cannot happen with cap > bytes, but never trust a size
            cap = -n
            buf = (llama_cpp.llama_token * cap)()
            n = llama_cpp.llama_tokenize(self.vocab, data, len(data), buf, cap, False, True)
        if n < 0:
            raise BackendError("llama.cpp failed to tokenize the prompt")
        return list(buf[:n])

    def prompt_tokens(self, text: str) -> list[int]:
        """Tokens of a rendered prompt: BOS prepended when the model wants one and the text lacks it."""
        tokens = self.tokenize(text)
        if self.add_bos and self.bos >= 0 and (not tokens or tokens[0] != self.bos):
            tokens.insert(0, self.bos)
        return tokens

    def piece(self, token: int) -> bytes:
        """The bytes of one token (special tokens rendered as their text)."""
        n = llama_cpp.llama_token_to_piece(self.vocab, token, self._piece_buf, 256, 0, True)
        if n < 0:
            big = ctypes.create_string_buffer(-n)
            n = llama_cpp.llama_token_to_piece(self.vocab, token, big, -n, 0, True)
            return big.raw[:n]
        return self._piece_buf.raw[:n]

    def token_text(self, token: int) -> str:
        if token < 0:
            return ""
        raw = llama_cpp.llama_vocab_get_text(self.vocab, token)
        return raw.decode("utf-8", errors="replace") if raw else ""

    def vocab_index(self) -> VocabIndex:
        """The vocabulary's byte-prefix index (built on first use, about a second)."""
        if self._index is None:
            self._vocab_tables()
        assert self._index is not None
        return self._index

    def closing(self) -> Closing:
        """The separator and closing-bracket tokens (see :class:`~toolproxy.backends._sampling.Closing`)."""
        if self._closing is None:
            self._vocab_tables()
        assert self._closing is not None
        return self._closing

    def byte_probe(self) -> ByteProbe | None:
        """The single-byte tokens jump-forward probes the grammar with (None: this vocabulary lacks some)."""
        if self._index is None:
            self._vocab_tables()
        return self._probe

    def _vocab_tables(self) -> None:
        """The tables from one pass over every token's bytes (the pieces themselves are not kept)."""
        pieces = [self.piece(t) for t in range(self.n_vocab)]
        eog = [t for t in range(self.n_vocab) if self.is_eog(t)]
        self._index = VocabIndex(pieces, eog)
        self._closing = Closing.from_pieces(pieces)
        self._probe = ByteProbe.from_pieces(pieces, eog)

    def is_eog(self, token: int) -> bool:
        return bool(llama_cpp.llama_vocab_is_eog(self.vocab, token))

    def meta(self, key: str) -> str | None:
        size = 1 << 16
        while True:
            buf = ctypes.create_string_buffer(size)
            n = llama_cpp.llama_model_meta_val_str(self.model, key.encode(), buf, size)
            if n < 0:
                return None
            if n < size:
                return buf.value.decode("utf-8", errors="replace")
            size = n + 1

    # -- evaluation --------------------------------------------------------------------------------

    @property
    def cached(self) -> list[int]:
        """The tokens sequence 0 holds (the one sequence of the single-sequence path)."""
        return self.seqs[0]

    def load_prompt(self, tokens: Sequence[int], stop: Callable[[], bool] = lambda: False) -> int | None:
        """Make the KV cache hold ``tokens`` and compute the logits of the last one.

        The longest prefix shared with the tokens already cached is kept; the last prompt token is
        always evaluated on its own, so its logits do not depend on how much of the prompt was cached.
        Returns how many prompt tokens were reused from the cache, or None when ``stop()`` became true
        between two batches (the cache then holds the part evaluated so far, which a retry reuses).
        """
        keep = 0
        limit = min(len(self.cached), len(tokens) - 1)
        while keep < limit and self.cached[keep] == tokens[keep]:
            keep += 1
        if keep < len(self.cached) and not llama_cpp.llama_memory_seq_rm(self.memory, 0, keep, -1):
            keep = 0
        if keep == 0:
            llama_cpp.llama_memory_clear(self.memory, True)
        del self.cached[keep:]
        body = tokens[keep:-1]
        for start in range(0, len(body), self.n_batch):
            if stop():
                return None
            self.decode(body[start : start + self.n_batch])
        self.decode(tokens[-1:])
        return keep

    def _governed(self) -> None:
        if self.governor is not None:
            threads = self.governor.update()
            if threads != self.n_threads:
                llama_cpp.llama_set_n_threads(self.ctx, threads, threads)
                self.n_threads = threads

    def decode(self, tokens: Sequence[int]) -> None:
        """Append ``tokens`` to sequence 0; afterwards :meth:`logits` are those of the last one."""
        self._governed()
        arr = (llama_cpp.llama_token * len(tokens))(*tokens)
        batch = llama_cpp.llama_batch_get_one(arr, len(tokens))
        rc = llama_cpp.llama_decode(self.ctx, batch)
        if rc != 0:
            self.reset_cache()
            raise BackendError(f"llama_decode failed (code {rc})")
        self.cached.extend(tokens)

    def logits(self) -> npt.NDArray[np.float32]:
        """The logits of the last evaluated token (a view, valid until the next decode)."""
        ptr = llama_cpp.llama_get_logits_ith(self.ctx, -1)
        if not ptr:
            raise BackendError("llama.cpp returned no logits")
        return np.ctypeslib.as_array(ptr, shape=(self.n_vocab,))

    def shared_prefix(self, seq: int, tokens: Sequence[int]) -> int:
        """How many leading ``tokens`` sequence ``seq`` holds already (at most all but the last)."""
        held = self.seqs[seq]
        keep, limit = 0, min(len(held), len(tokens) - 1)
        while keep < limit and held[keep] == tokens[keep]:
            keep += 1
        return keep

    def prepare_seq(self, seq: int, tokens: Sequence[int]) -> int:
        """Drop what sequence ``seq`` holds beyond its longest prefix shared with ``tokens``; that length (the
        prompt tokens reused: the caller decodes the rest)."""
        keep = self.shared_prefix(seq, tokens)
        if keep < len(self.seqs[seq]) and not llama_cpp.llama_memory_seq_rm(self.memory, seq, keep, -1):
            llama_cpp.llama_memory_seq_rm(self.memory, seq, -1, -1)
            keep = 0
        del self.seqs[seq][keep:]
        return keep

    def decode_many(self, entries: Sequence[tuple[int, Sequence[int], bool]]) -> None:
        """One ``llama_decode`` of several sequences' tokens: ``(seq, tokens, logits wanted for the last)`` each,
        appended at the end of their sequences; then :meth:`logits_of` gives entry ``k``'s logits."""
        total = sum(len(tokens) for _, tokens, _ in entries)
        if total > self.n_batch:
            raise BackendError(f"internal error: a batch of {total} tokens > n_batch {self.n_batch}")
        if self._batch is None:
            self._batch = llama_cpp.llama_batch_init(self.n_batch, 0, 1)
        self._governed()
        batch = self._batch
        rows: list[int] = []
        i = 0
        for seq, tokens, wanted in entries:
            start = len(self.seqs[seq])
            for j, tok in enumerate(tokens):
                batch.token[i] = tok
                batch.pos[i] = start + j
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = seq
                batch.logits[i] = 1 if wanted and j == len(tokens) - 1 else 0
                i += 1
            rows.append(i - 1 if wanted else -1)
        batch.n_tokens = total
        rc = llama_cpp.llama_decode(self.ctx, batch)
        if rc != 0:
            self.reset_cache()
            raise BackendError(f"llama_decode failed (code {rc})")
        for seq, tokens, _ in entries:
            self.seqs[seq].extend(tokens)
        self._rows = rows

    def logits_of(self, entry: int) -> npt.NDArray[np.float32]:
        """The logits of entry ``entry``'s last token in the last :meth:`decode_many` (valid until the next)."""
        ptr = llama_cpp.llama_get_logits_ith(self.ctx, self._rows[entry])
        if not ptr:
            raise BackendError("llama.cpp returned no logits")
        return np.ctypeslib.as_array(ptr, shape=(self.n_vocab,))

    def reset_cache(self) -> None:
        llama_cpp.llama_memory_clear(self.memory, True)
        for held in self.seqs:
            held.clear()

    def close(self) -> None:
        if self._batch is not None:
            llama_cpp.llama_batch_free(self._batch)
            self._batch = None
        if self.ctx:
            llama_cpp.llama_free(self.ctx)
            self.ctx = None
        if self.model:
            llama_cpp.llama_model_free(self.model)
            self.model = None
