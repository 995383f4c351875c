"""Jump-forward: ms per completion token of free text, of a tool call without and with jump-forward.

    python bench/jump_bench.py [--model gemma|smollm2|PATH] [--threads 1] [--repeats 3]
                               [--styles hermes,functionary,thoughtful_steps,mixtral]

In one process, one run: the same model loaded twice (``jump_forward`` on and off, the same context and
threads), requests through toolproxy's ChatService (the style's own prompt and grammar), greedy, each
request once untimed first so that its prompt is in the cache (the timed runs evaluate its last token only):
  text        tool_choice none, 48 tokens of free text (the baseline per-token cost)
  call        tool_choice required, the style's call (until the grammar completes), without jump-forward
  call+jump   the same request with jump-forward
  call+dumps  with jump-forward and --json-layout dumps (JSON spaced as json.dumps writes it: more forced)
Prints per style the median wall ms per completion token, the ms per request, the decode calls and the
forced tokens, and the ratios to free text. Tokens are counted as usage reports them (a
jumped call is usually fewer tokens: the tokenizer's own split of the forced text instead of the model's
token-by-token choice). With 1 thread (default) the figures survive a busy neighbour best.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Literal

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from toolproxy.backends.embedded import EmbeddedBackend
from toolproxy.models import resolve_model
from toolproxy.protocol import ChatCompletionRequest
from toolproxy.service import ChatService
from toolproxy.settings import Settings

TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather", "description": "Get the current weather in a city",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string", "description": "the city's name"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer", "minimum": 1, "maximum": 14}},
            "required": ["city", "unit", "days"]}}},
    {"type": "function", "function": {
        "name": "search_web", "description": "Search the web",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}}},
]
QUESTION = "What will the weather be in Paris for the next 3 days, in celsius?"


def _request(style: str, case: str) -> ChatCompletionRequest:
    body: dict[str, object] = {
        "model": "m", "messages": [{"role": "user", "content": QUESTION}], "tools": TOOLS, "style": style,
        "temperature": 0.0, "max_tokens": 48 if case == "text" else 128,
        "tool_choice": "none" if case == "text" else "required", "parallel_tool_calls": False,
    }
    return ChatCompletionRequest.model_validate(body)


async def _one(service: ChatService, backend: EmbeddedBackend, style: str, case: str) -> tuple[float, int, int, int]:
    started = time.perf_counter()
    answer = await service.chat(_request(style, case))
    wall = time.perf_counter() - started
    job = backend.last_job
    assert job is not None and job.stats is not None and answer.usage is not None
    if case != "text" and not answer.choices[0].message.tool_calls:
        print(f"    warning: {style} {case}: no call ({answer.choices[0].finish_reason})", file=sys.stderr)
    return wall, answer.usage.completion_tokens, job.stats.decodes, job.stats.forced


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="gemma (default), smollm2 or a GGUF path")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--styles", default="hermes,functionary,thoughtful_steps,mixtral")
    args = ap.parse_args()
    path = resolve_model(args.model)
    backends = {jump: EmbeddedBackend(path, n_ctx=2048, n_threads=args.threads, jump_forward=jump)
                for jump in (False, True)}
    cases: dict[str, tuple[bool, Literal["free", "dumps"]]] = {  # case -> (jump-forward, JSON layout)
        "text": (False, "free"), "call": (False, "free"), "call+jump": (True, "free"), "call+dumps": (True, "dumps"),
    }
    services = {case: ChatService(backends[jump], Settings(json_layout=layout))
                for case, (jump, layout) in cases.items()}
    for case in ("call", "call+jump"):  # warm-up: the vocabulary index, caches
        await _one(services[case], backends[cases[case][0]], "hermes", "call")
    print(f"model {Path(path).name}, {args.threads} thread(s), median of {args.repeats} runs, greedy, prompt cached\n")
    print(f"{'style':<18}{'case':<11}{'ms/token':>9}{'ms/req':>9}{'tokens':>7}{'decodes':>8}{'forced':>7}")
    ratios: list[tuple[str, dict[str, float]]] = []
    for style in args.styles.split(","):
        runs: dict[str, list[tuple[float, int, int, int]]] = {case: [] for case in cases}
        for case, (jump, _) in cases.items():  # each prompt into the cache, not timed
            await _one(services[case], backends[jump], style, "text" if case == "text" else "call")
        for _ in range(args.repeats):  # interleaved: a noisy neighbour hits every case alike
            for case, (jump, _) in cases.items():
                kind = "text" if case == "text" else "call"
                runs[case].append(await _one(services[case], backends[jump], style, kind))
        per: dict[str, float] = {}
        for case, got in runs.items():
            per[case] = statistics.median(1000 * w / max(n, 1) for w, n, _, _ in got)
            _, n, decodes, forced = got[-1]
            print(f"{style:<18}{case:<11}{per[case]:9.2f}{1000 * statistics.median(r[0] for r in got):9.0f}"
                  f"{n:7d}{decodes:8d}{forced:7d}", flush=True)
        ratios.append((style, {case: per[case] / per["text"] for case in cases if case != "text"}))
    print("\nms per completion token, relative to free text (target <= 0.7, moonshot 0.5):")
    for style, rel in ratios:
        print(f"  {style:<18} " + "   ".join(f"{case} {value:.2f}" for case, value in rel.items()))
    for b in backends.values():
        await b.aclose()
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
