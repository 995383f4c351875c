"""Bounded loopback load test: many concurrent clients against a toolproxy server in its own process.

1. the scripted instant backend (toolproxy's own overhead): plain answers, tool calls and streams, mixed;
2. the embedded model (gemma-3-270m), small answers.

Per phase: errors (non-200, bad JSON, a stream without ``[DONE]``), p50/p99 latency, requests/s, and the
server's RSS after a warm-up round and after the run (growth must stay within 10%).

    python bench/load_bench.py                       # 2000 @ 32 scripted, then 200 @ 8 embedded
    python bench/load_bench.py --model-requests 0    # scripted only
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # runs from a checkout, installed or not
from toolproxy.child_process import free_port, stop_process, wait_healthy  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Get the current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                                                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
                   "required": ["city"]}}}]
CALL = '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}</tool_call>'
MAX_RSS_GROWTH = 0.10


def body_for(i: int, *, max_tokens: int | None = None) -> dict[str, Any]:
    """Request ``i`` of the mix: plain, tool call (auto / required), streamed with usage."""
    body: dict[str, Any] = {"messages": [{"role": "user", "content": f"What is the weather in Paris? ({i})"}]}
    kind = i % 4
    if kind in (1, 2, 3):
        body["tools"] = TOOLS
    if kind == 2:
        body["tool_choice"] = "required"
    if kind == 3:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    return body


@dataclass
class LoadResult:
    requests: int
    concurrency: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    def summary(self) -> str:
        return (f"{self.requests} requests @ concurrency {self.concurrency}: errors {len(self.errors)}, "
                f"p50 {self.percentile(0.5) * 1000:.1f} ms, p99 {self.percentile(0.99) * 1000:.1f} ms, "
                f"mean {statistics.fmean(self.latencies) * 1000 if self.latencies else float('nan'):.1f} ms, "
                f"{self.rps:.1f} req/s")


async def _one(client: httpx.AsyncClient, body: dict[str, Any]) -> str | None:
    """None when the answer is complete and well-formed, else what was wrong."""
    if body.get("stream"):
        async with client.stream("POST", "/v1/chat/completions", json=body) as response:
            if response.status_code != 200:
                return f"stream status {response.status_code}"
            data = [line[6:] async for line in response.aiter_lines() if line.startswith("data: ")]
        if not data or data[-1] != "[DONE]":
            return "stream without [DONE]"
        if any('"error"' in d and "error" in json.loads(d) for d in data[:-1]):
            return "error event in stream"
        return None
    response = await client.post("/v1/chat/completions", json=body)
    if response.status_code != 200:
        return f"status {response.status_code}: {response.text[:200]}"
    choice = response.json()["choices"][0]
    if body.get("tool_choice") == "required" and not choice["message"].get("tool_calls"):
        return "required call missing"
    return None


async def run_load(url: str, requests: int, concurrency: int, make_body: Callable[[int], dict[str, Any]],
                   *, timeout: float = 300.0) -> LoadResult:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(i)
    result = LoadResult(requests, concurrency, 0.0)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency, keepalive_expiry=5.0)
    async with httpx.AsyncClient(base_url=url, timeout=timeout, limits=limits) as client:

        async def worker() -> None:
            while True:
                try:
                    i = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                started = time.perf_counter()
                body = make_body(i)
                try:
                    problem = await _one(client, body)
                except (httpx.HTTPError, ValueError, KeyError) as exc:
                    kind = "stream" if body.get("stream") else "tools" if body.get("tools") else "plain"
                    problem = f"{type(exc).__name__} ({kind} request {i}): {exc!r}"
                result.latencies.append(time.perf_counter() - started)
                if problem:
                    result.errors.append(problem)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        result.seconds = time.perf_counter() - started
    return result


# --------------------------------------------------------------------------- servers


@contextmanager
def _process(args: list[str], port: int, timeout: float = 180.0) -> Iterator[tuple[str, psutil.Process]]:
    proc = subprocess.Popen(args, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        problem = wait_healthy(url, proc, timeout, poll_s=0.2)
        if problem is not None:
            raise RuntimeError(f"server {problem}")
        yield url, psutil.Process(proc.pid)
    finally:
        stop_process(proc)


@contextmanager
def scripted_server() -> Iterator[tuple[str, psutil.Process]]:
    port = free_port()
    with _process([sys.executable, str(Path(__file__).resolve()), "--serve-scripted", str(port)], port) as found:
        yield found


@contextmanager
def model_server(*extra: str) -> Iterator[tuple[str, psutil.Process]]:
    port = free_port()
    args = [sys.executable, "-m", "toolproxy", "serve", "--port", str(port), "--log-level", "warning", *extra]
    with _process(args, port, timeout=300.0) as found:
        yield found


def _serve_scripted(port: int) -> None:
    """toolproxy on an instant backend that answers CALL in pieces and keeps nothing (ScriptedBackend records
    every request for tests, which would read as a leak here)."""
    from collections.abc import AsyncGenerator

    import uvicorn

    from toolproxy.app import create_app
    from toolproxy.backends.base import (
        Backend,
        GenerationDone,
        GenerationEvent,
        GenerationRequest,
        ModelInfo,
        TextPiece,
    )
    from toolproxy.settings import Settings

    class InstantBackend(Backend):
        def info(self) -> ModelInfo:
            return ModelInfo(id="instant", context_size=4096, bos_token="<bos>", eos_token="<eos>",
                             extra={"architecture": "gemma3"})

        async def generate(self, request: GenerationRequest) -> AsyncGenerator[GenerationEvent, None]:
            pieces = [CALL[i : i + 12] for i in range(0, len(CALL), 12)]
            for piece in pieces:
                yield TextPiece(piece)
            yield GenerationDone("stop", len(request.prompt) // 4, len(pieces))

    app = create_app(Settings(style="hermes"), backend_factory=lambda _: InstantBackend())
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, timeout_keep_alive=30)


# --------------------------------------------------------------------------- phases


@dataclass
class Phase:
    name: str
    result: LoadResult
    rss_warm: int
    rss_after: int

    @property
    def growth(self) -> float:
        return (self.rss_after - self.rss_warm) / self.rss_warm

    def report(self) -> str:
        return (f"[{self.name}] {self.result.summary()}; RSS after warm-up {self.rss_warm / 2**20:.1f} MiB, "
                f"after the run {self.rss_after / 2**20:.1f} MiB ({self.growth * 100:+.1f}%)")

    def ok(self) -> bool:
        return not self.result.errors and self.growth <= MAX_RSS_GROWTH


def run_phase(name: str, url: str, process: psutil.Process, requests: int, concurrency: int,
              make_body: Callable[[int], dict[str, Any]], warmup: int) -> Phase:
    warm = asyncio.run(run_load(url, warmup, concurrency, make_body))
    if warm.errors:
        raise RuntimeError(f"warm-up failed: {warm.errors[:3]}")
    rss_warm = process.memory_info().rss
    result = asyncio.run(run_load(url, requests, concurrency, make_body))
    return Phase(name, result, rss_warm, process.memory_info().rss)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="scripted phase: requests (2000)")
    parser.add_argument("--concurrency", type=int, default=32, help="scripted phase: concurrency (32)")
    parser.add_argument("--model-requests", type=int, default=200, help="embedded phase: requests (200; 0: skip)")
    parser.add_argument("--model-concurrency", type=int, default=8, help="embedded phase: concurrency (8)")
    parser.add_argument("--max-tokens", type=int, default=24, help="embedded phase: max_tokens per answer (24)")
    parser.add_argument("--serve-scripted", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_scripted:
        _serve_scripted(args.serve_scripted)
        return 0
    phases: list[Phase] = []
    with scripted_server() as (url, process):
        phases.append(run_phase("scripted", url, process, args.requests, args.concurrency, body_for,
                                warmup=max(args.requests // 10, args.concurrency)))
        print(phases[-1].report(), flush=True)
    if args.model_requests:
        with model_server() as (url, process):
            phases.append(run_phase("embedded", url, process, args.model_requests, args.model_concurrency,
                                    lambda i: body_for(i, max_tokens=args.max_tokens),
                                    warmup=args.model_concurrency))
            print(phases[-1].report(), flush=True)
    for phase in phases:
        for error in phase.result.errors[:5]:
            print(f"  {phase.name} error: {error}")
    return 0 if all(p.ok() for p in phases) else 1


if __name__ == "__main__":
    raise SystemExit(main())
