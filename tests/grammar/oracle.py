"""GBNF acceptance oracle on llama.cpp's own grammar engine (through llama-cpp-python's low-level API).

    oracle = Oracle(model_path)          # loads the vocabulary only, once
    g = oracle.grammar(gbnf_text)        # None: llama.cpp could not parse the grammar
    g.accepts('{"a": 1}')                # True / False
    g.close()

A text is accepted when every one of its tokens, then EOS, survives ``llama_sampler_apply`` on a
one-candidate array (a rejected token gets logit -inf), each followed by ``llama_sampler_accept``.
One sampler per grammar is parsed once and ``llama_sampler_reset`` between texts.
"""

from __future__ import annotations

import ctypes
import math
from typing import Any

import llama_cpp


class Grammar:
    def __init__(self, oracle: Oracle, sampler: Any) -> None:
        self._oracle = oracle
        self._sampler = sampler

    def accepts(self, text: str) -> bool:
        if self._sampler is None:
            raise RuntimeError("grammar closed")
        sampler = self._sampler
        llama_cpp.llama_sampler_reset(sampler)
        for token in [*self._oracle.tokenize(text), self._oracle.eos]:
            if not self._oracle.allowed(sampler, token):
                return False
            llama_cpp.llama_sampler_accept(sampler, token)
        return True

    def close(self) -> None:
        if self._sampler is not None:
            llama_cpp.llama_sampler_free(self._sampler)
            self._sampler = None

    def __enter__(self) -> Grammar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Oracle:
    def __init__(self, model_path: str) -> None:
        from llama_cpp import Llama

        self._llm = Llama(model_path=model_path, vocab_only=True, verbose=False)
        self.vocab = self._llm._model.vocab
        self.eos = llama_cpp.llama_vocab_eos(self.vocab)
        self._data = llama_cpp.llama_token_data(id=0, logit=0.0, p=0.0)
        self._array = llama_cpp.llama_token_data_array(
            data=ctypes.pointer(self._data), size=1, selected=-1, sorted=False
        )
        self._buf = (llama_cpp.llama_token * 8192)()

    def tokenize(self, text: str) -> list[int]:
        raw = text.encode("utf-8")
        buf = self._buf
        n = llama_cpp.llama_tokenize(self.vocab, raw, len(raw), buf, len(buf), False, False)
        if n < 0:
            buf = (llama_cpp.llama_token * (-n))()
            n = llama_cpp.llama_tokenize(self.vocab, raw, len(raw), buf, len(buf), False, False)
        return list(buf[:n])

    def allowed(self, sampler: Any, token: int) -> bool:
        self._data.id = token
        self._data.logit = 0.0
        self._array.size = 1
        self._array.selected = -1
        llama_cpp.llama_sampler_apply(sampler, ctypes.byref(self._array))
        return not math.isinf(self._data.logit)

    def grammar(self, gbnf: str, root: str = "root") -> Grammar | None:
        sampler = llama_cpp.llama_sampler_init_grammar(self.vocab, gbnf.encode("utf-8"), root.encode())
        if not sampler:
            return None
        return Grammar(self, sampler)

    def accepts(self, gbnf: str, text: str) -> bool | None:
        g = self.grammar(gbnf)
        if g is None:
            return None
        with g:
            return g.accepts(text)
