"""What toolproxy costs in front of llama-server (issue 17, item 0b): the same 48-token plain chats sent to a
llama-server (``-np 4``, the bundled model) directly and through ``toolproxy serve --upstream``, in one run,
alternating rounds, at concurrency 1 and 4, streamed and not.

Prints per case the median over rounds of aggregate completion tokens/s (from each answer's ``usage``) and of the
per-request latency, and the ratio proxied / direct; and the CPU time the toolproxy process spent per completion
token (user + system, from /proc: on a 2-core machine every such millisecond is taken from llama-server, and
unlike wall times it barely depends on the machine's load). Targets: >= 0.95x at c=1, >= 0.9x at c=4.

    python bench/proxy_bench.py [--rounds 3] [--requests 8] [--tokens 48] [--threads 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _server import toolproxy_server

from toolproxy.backends.spawn import LlamaServerProcess
from toolproxy.models import resolve_model

QUESTIONS = ["Tell me a story about a dragon.", "Describe the city of Paris.", "Explain how rain forms.",
             "Write a poem about the sea."]


async def one(client: httpx.AsyncClient, url: str, question: str, tokens: int, stream: bool) -> tuple[int, float]:
    body: dict[str, Any] = {"model": "any", "messages": [{"role": "user", "content": question}],
                            "max_tokens": tokens, "temperature": 0, "stream": stream}
    if stream:
        body["stream_options"] = {"include_usage": True}
    started = time.perf_counter()
    completion = 0
    if stream:
        async with client.stream("POST", f"{url}/v1/chat/completions", json=body) as response:
            response.raise_for_status()
            async for line in response.aiter_lines():
                if line.startswith("data: ") and line != "data: [DONE]":
                    usage = json.loads(line[6:]).get("usage")
                    if usage:
                        completion = int(usage["completion_tokens"])
    else:
        response = await client.post(f"{url}/v1/chat/completions", json=body)
        response.raise_for_status()
        completion = int(response.json()["usage"]["completion_tokens"])
    return completion, time.perf_counter() - started


def listener(url: str) -> psutil.Process:
    """The process listening on ``url``'s port."""
    port = int(url.rsplit(":", 1)[1])
    for conn in psutil.net_connections(kind="tcp"):
        if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
            return psutil.Process(conn.pid)
    raise RuntimeError(f"nothing listens on {url}")


def cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


async def load(url: str, concurrency: int, requests: int, tokens: int, stream: bool) -> tuple[float, float, int]:
    """(aggregate completion tokens/s, median latency s, completion tokens) of ``requests`` chats,
    ``concurrency`` at a time."""
    queue = list(range(requests))
    results: list[tuple[int, float]] = []
    # a new connection per chat, both ways: llama-server drops kept-alive connections idle for 5 s
    async with httpx.AsyncClient(timeout=300, limits=httpx.Limits(max_keepalive_connections=0)) as client:
        async def worker() -> None:
            while queue:
                i = queue.pop()
                results.append(await one(client, url, QUESTIONS[i % len(QUESTIONS)], tokens, stream))

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - started
    total = sum(n for n, _ in results)
    return total / wall, statistics.median(t for _, t in results), total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=8, help="chats per case and round")
    parser.add_argument("--tokens", type=int, default=48)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", default=None, help="GGUF path or short name (default: the bundled model)")
    args = parser.parse_args()
    model = resolve_model(args.model)
    server = LlamaServerProcess(model, threads=args.threads, ctx=4096, extra_args=["-np", "4"])
    server.start_and_wait(180)
    try:
        with toolproxy_server("--upstream", server.url, "--style", "hermes") as proxy:
            cases = [(c, s) for c in (1, 4) for s in (False, True)]
            found: dict[tuple[int, bool, str], list[tuple[float, float, int]]] = {}
            cpu: dict[tuple[int, bool], list[float]] = {}
            proxy_process = listener(proxy)
            for url in (server.url, proxy):  # warm both (prompt cache, connections)
                asyncio.run(load(url, 4, 4, args.tokens, False))
            for _ in range(args.rounds):
                for concurrency, stream in cases:
                    for name, url in (("direct", server.url), ("proxy", proxy)):
                        before = cpu_s(proxy_process)
                        result = asyncio.run(load(url, concurrency, args.requests, args.tokens, stream))
                        found.setdefault((concurrency, stream, name), []).append(result)
                        if name == "proxy":
                            cpu.setdefault((concurrency, stream), []).append(
                                (cpu_s(proxy_process) - before) * 1000 / max(1, result[2]))
    finally:
        server.stop()
    print(f"proxy_bench: {args.requests} chats x {args.rounds} rounds per case, max_tokens {args.tokens}, "
          f"llama-server -np 4 --threads {args.threads}; load average {os.getloadavg()[0]:.1f}")
    print(f"{'case':<16}{'direct tok/s':>14}{'proxy tok/s':>13}{'ratio':>8}{'direct p50 ms':>15}{'proxy p50 ms':>14}"
          f"{'proxy CPU ms/token':>20}")
    for concurrency, stream in cases:
        direct = found[(concurrency, stream, "direct")]
        proxied = found[(concurrency, stream, "proxy")]
        d_rate, p_rate = statistics.median(r[0] for r in direct), statistics.median(r[0] for r in proxied)
        d_lat, p_lat = statistics.median(r[1] for r in direct), statistics.median(r[1] for r in proxied)
        label = f"c={concurrency} {'stream' if stream else 'plain'}"
        print(f"{label:<16}{d_rate:>14.1f}{p_rate:>13.1f}{p_rate / d_rate:>7.2f}x{d_lat * 1000:>15.0f}"
              f"{p_lat * 1000:>14.0f}{statistics.median(cpu[(concurrency, stream)]):>20.2f}")


if __name__ == "__main__":
    main()
