"""Bounded loopback load test: many concurrent clients against a toolproxy server in its own process.

1. the scripted instant backend (toolproxy's own overhead): plain answers, tool calls and streams, mixed;
2. the embedded model (gemma-3-270m), small answers;
3. (``--parallel 1,4``, ``--llama-server``) engines side by side in one run (issue 17 item 4): toolproxy on the
   embedded model with each ``--parallel`` and llama-server ``-np N`` on the same model, the same threads, the same
   greedy plain chats, at each ``--sweep-concurrency``, all servers up at once and taking turns (``--rounds``);
   completion tokens/s, p50/p99, a short request behind a long one, and the ratios parallel max / parallel min
   and toolproxy ``--parallel N`` / llama-server ``-np N``.

Per phase: errors (non-200, bad JSON, a stream without ``[DONE]``), p50/p99 latency, requests/s, and the
server's RSS after a warm-up round and after the run (growth must stay within 10%).

    python bench/load_bench.py                       # 2000 @ 32 scripted, then 200 @ 8 embedded
    python bench/load_bench.py --model-requests 0    # scripted only
    python bench/load_bench.py --requests 0 --model-requests 0 --parallel 1,4 --llama-server   # engines only
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # runs from a checkout, installed or not
from toolproxy.backends._cpu import busy_elsewhere  # noqa: E402
from toolproxy.child_process import free_port, stop_process, wait_healthy  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from parallel_bench import question  # noqa: E402

TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Get the current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                                                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
                   "required": ["city"]}}}]
CALL = '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}</tool_call>'
MAX_RSS_GROWTH = 0.10
PARALLEL_TARGET = 1.2  # issue 17: aggregate throughput at c=4 with --parallel 4 >= 1.2x --parallel 1's


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


def plain_body(i: int, max_tokens: int) -> dict[str, Any]:
    """A greedy plain chat (no tools) that toolproxy and llama-server both answer the same way."""
    return {"model": "any", "messages": [{"role": "user", "content": question(i)}], "max_tokens": max_tokens,
            "temperature": 0}


def plain_bodies(first: int, max_tokens: int) -> Callable[[int], dict[str, Any]]:
    """Request ``i`` -> the plain chat of question ``first + i``."""
    return lambda i: plain_body(first + i, max_tokens)


@dataclass
class LoadResult:
    requests: int
    concurrency: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    tokens: int = 0  # completion tokens, from each answer's usage

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def tps(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0

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


async def _one(client: httpx.AsyncClient, body: dict[str, Any]) -> tuple[str | None, int]:
    """(None when the answer is complete and well-formed, else what was wrong; its completion tokens)."""
    if body.get("stream"):
        async with client.stream("POST", "/v1/chat/completions", json=body) as response:
            if response.status_code != 200:
                return f"stream status {response.status_code}", 0
            data = [line[6:] async for line in response.aiter_lines() if line.startswith("data: ")]
        if not data or data[-1] != "[DONE]":
            return "stream without [DONE]", 0
        events = [json.loads(d) for d in data[:-1]]
        if any("error" in event for event in events):
            return "error event in stream", 0
        usage = events[-1].get("usage") if events else None
        return None, int(usage["completion_tokens"]) if usage else 0
    response = await client.post("/v1/chat/completions", json=body)
    if response.status_code != 200:
        return f"status {response.status_code}: {response.text[:200]}", 0
    answer = response.json()
    if body.get("tool_choice") == "required" and not answer["choices"][0]["message"].get("tool_calls"):
        return "required call missing", 0
    return None, int(answer["usage"]["completion_tokens"])


async def run_load(url: str, requests: int, concurrency: int, make_body: Callable[[int], dict[str, Any]],
                   *, timeout: float = 300.0) -> LoadResult:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(i)
    result = LoadResult(requests, concurrency, 0.0)
    # keep-alive shorter than llama-server's 5 s, so that a pooled connection is never one it has just closed
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency, keepalive_expiry=2.0)
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
                    problem, tokens = await _one(client, body)
                except (httpx.HTTPError, ValueError, KeyError) as exc:
                    kind = "stream" if body.get("stream") else "tools" if body.get("tools") else "plain"
                    problem, tokens = f"{type(exc).__name__} ({kind} request {i}): {exc!r}", 0
                result.latencies.append(time.perf_counter() - started)
                result.tokens += tokens
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


@contextmanager
def llama_server(model: str, threads: int, ctx: int, slots: int) -> Iterator[tuple[str, psutil.Process]]:
    """llama-server ``-np slots`` on ``model`` (``ctx`` tokens per slot: its ``--ctx-size`` is shared by all)."""
    from toolproxy.backends.spawn import LlamaServerProcess

    server = LlamaServerProcess(model, threads=threads, ctx=ctx * slots, extra_args=["-np", str(slots)])
    server.start_and_wait(180)
    try:
        child = [p for p in psutil.Process().children() if p.cmdline()[:1] == [server.binary]]
        if len(child) != 1:
            raise RuntimeError(f"llama-server process not found among {psutil.Process().children()}")
        yield server.url, child[0]
    finally:
        server.stop()


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


# --------------------------------------------------------------------------- engines side by side


@dataclass
class EngineRun:
    """One engine under the same load at each concurrency, a short request behind a long one, its RSS."""

    name: str
    levels: dict[int, LoadResult]
    rss_warm: int
    rss_after: int
    short_s: float = float("nan")  # an 8-token request sent 0.3 s after a 256-token one: its latency
    long_tokens: int = 0  # what the long one actually generated
    errors: list[str] = field(default_factory=list)  # of the short / long pair

    @property
    def growth(self) -> float:
        return (self.rss_after - self.rss_warm) / self.rss_warm

    def all_errors(self) -> list[str]:
        return [e for r in self.levels.values() for e in r.errors] + self.errors

    def ok(self) -> bool:
        """No errors; toolproxy's memory flat (llama-server is the reference: its RSS is reported, not judged)."""
        flat = self.growth <= MAX_RSS_GROWTH or not self.name.startswith("toolproxy")
        return not self.all_errors() and flat


async def short_behind_long(url: str, run: EngineRun, long_tokens: int = 256, short_tokens: int = 8) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=300.0) as client:

        async def timed(body: dict[str, Any]) -> tuple[float, str | None, int]:
            started = time.perf_counter()
            try:
                problem, tokens = await _one(client, body)
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                problem, tokens = f"{type(exc).__name__}: {exc!r}", 0
            return time.perf_counter() - started, problem, tokens

        long = asyncio.create_task(timed(plain_body(900, long_tokens)))
        await asyncio.sleep(0.3)
        run.short_s, short_problem, _ = await timed(plain_body(901, short_tokens))
        _, long_problem, run.long_tokens = await long
    run.errors += [f"short/long: {p}" for p in (short_problem, long_problem) if p]


@dataclass
class Engine:
    name: str
    url: str
    process: psutil.Process
    run: EngineRun = field(init=False)

    def warm_up(self, concurrency: int, max_tokens: int) -> None:
        """``concurrency`` chats at once (every slot used once), then the RSS the run starts from."""
        warm = asyncio.run(run_load(self.url, concurrency, concurrency, plain_bodies(10_000, max_tokens)))
        if warm.errors:
            raise RuntimeError(f"{self.name}: warm-up failed: {warm.errors[:3]}")
        self.run = EngineRun(self.name, {}, self.process.memory_info().rss, 0)

    def load(self, concurrency: int, first: int, requests: int, max_tokens: int) -> None:
        """``requests`` chats (questions ``first``...), added to this level's result."""
        got = asyncio.run(run_load(self.url, requests, concurrency, plain_bodies(first, max_tokens)))
        level = self.run.levels.setdefault(concurrency, LoadResult(0, concurrency, 0.0))
        level.requests += got.requests
        level.seconds += got.seconds
        level.tokens += got.tokens
        level.latencies += got.latencies
        level.errors += got.errors

    def finish(self) -> None:
        asyncio.run(short_behind_long(self.url, self.run))
        self.run.rss_after = self.process.memory_info().rss
        print(f"[{self.name}] 8-token request behind a 256-token one ({self.run.long_tokens} generated): "
              f"{self.run.short_s:.2f} s; RSS {self.run.rss_warm / 2**20:.0f} -> {self.run.rss_after / 2**20:.0f} "
              f"MiB ({self.run.growth * 100:+.1f}%)", flush=True)


def compare(engines: list[Engine], levels: list[int], requests: int, rounds: int, max_tokens: int) -> None:
    """Every engine warmed up, then each level in ``rounds`` rounds, the engines taking turns within each round
    (a shared machine's load drifts: each engine sees the same drift); the same questions for every engine,
    distinct ones throughout; then a short request behind a long one on each."""
    for engine in engines:
        engine.warm_up(max(levels), max_tokens)
    per_round = -(-requests // rounds)
    for c in levels:
        for r in range(rounds):
            n = min(per_round, requests - r * per_round)
            for engine in engines:
                engine.load(c, 1000 * c + r * per_round, n, max_tokens)
        for engine in engines:
            got = engine.run.levels[c]
            print(f"[{engine.name}] c={c}: {got.tokens} tokens, {got.tps:.1f} tok/s; {got.summary()}", flush=True)
    for engine in engines:
        engine.finish()


def engine_report(runs: list[EngineRun], levels: list[int]) -> str:
    """Markdown tables: each engine per level; the ratios; short behind long and memory."""
    lines = ["| engine | c | tok/s | req/s | p50 s | p99 s | errors |", "|---|---:|---:|---:|---:|---:|---:|"]
    for run in runs:
        for c in levels:
            r = run.levels[c]
            lines.append(f"| {run.name} | {c} | {r.tps:.1f} | {r.rps:.2f} | {r.percentile(0.5):.2f} | "
                         f"{r.percentile(0.99):.2f} | {len(r.errors)} |")
    parallel = [r for r in runs if r.name.startswith("toolproxy")]
    server = next((r for r in runs if r.name.startswith("llama-server")), None)
    pairs = [(parallel[-1], parallel[0])] if len(parallel) > 1 else []
    if server is not None and parallel:
        slots = server.name.rsplit(" ", 1)[-1]
        same = [r for r in parallel if r.name.endswith(f"--parallel {slots}")]
        pairs.append((same[0] if same else parallel[-1], server))
    if pairs:
        lines += ["", "| ratio | " + " | ".join(f"c={c} tok/s" for c in levels) + " | "
                  + " | ".join(f"c={c} p50" for c in levels) + " |", "|---|" + "---:|" * (2 * len(levels))]
        for a, b in pairs:
            tps = [a.levels[c].tps / b.levels[c].tps if b.levels[c].tps else float("nan") for c in levels]
            p50 = [a.levels[c].percentile(0.5) / b.levels[c].percentile(0.5) for c in levels]
            lines.append(f"| {a.name} / {b.name} | " + " | ".join(f"{x:.2f}x" for x in tps + p50) + " |")
    lines += ["", "| engine | short behind long s | RSS after warm-up MiB | RSS after the run MiB | growth | errors |",
              "|---|---:|---:|---:|---:|---:|"]
    for run in runs:
        lines.append(f"| {run.name} | {run.short_s:.2f} | {run.rss_warm / 2**20:.0f} | {run.rss_after / 2**20:.0f} | "
                     f"{run.growth * 100:+.1f}% | {len(run.all_errors())} |")
    if len(parallel) > 1 and 4 in levels:
        ratio = parallel[-1].levels[4].tps / parallel[0].levels[4].tps
        verdict = "met" if ratio >= PARALLEL_TARGET else "NOT met"
        lines.append(f"\ntarget: {parallel[-1].name} / {parallel[0].name} at c=4 {ratio:.2f}x "
                     f">= {PARALLEL_TARGET}x: {verdict}")
    lines.append("errors: " + ("none" if not any(r.all_errors() for r in runs) else "SOME (see above)")
                 + "; toolproxy's memory flat (growth <= 10%): "
                 + ("yes" if all(r.growth <= MAX_RSS_GROWTH for r in parallel) else "NO"))
    return "\n".join(lines)


def run_engines(args: argparse.Namespace) -> list[EngineRun]:
    from toolproxy.models import resolve_model

    model = resolve_model(args.model)
    levels = [int(c) for c in args.sweep_concurrency.split(",")]
    common = ["--model", model, "--threads", str(args.threads), "--ctx", str(args.ctx)]
    with ExitStack() as stack:
        engines: list[Engine] = []
        for parallel in (int(p) for p in args.parallel.split(",") if p):
            busy = busy_elsewhere()
            print(f"toolproxy --parallel {parallel}: other processes keep {busy or 0:.2f} cores busy at its start "
                  f"(--cpu-wait {args.cpu_wait or 'auto: spin below 0.5, else passive'})", flush=True)
            extra = ["--cpu-wait", args.cpu_wait] if args.cpu_wait else []
            url, process = stack.enter_context(model_server(*common, *extra, "--parallel", str(parallel)))
            engines.append(Engine(f"toolproxy --parallel {parallel}", url, process))
        if args.llama_server:
            url, process = stack.enter_context(llama_server(model, args.threads, args.ctx, args.np))
            engines.append(Engine(f"llama-server -np {args.np}", url, process))
        compare(engines, levels, args.sweep_requests, args.rounds, args.sweep_tokens)
    runs = [engine.run for engine in engines]
    print(f"\nengines: {args.sweep_requests} greedy plain chats per level ({args.rounds} rounds, engines taking "
          f"turns), max_tokens {args.sweep_tokens}, "
          f"--threads {args.threads}, {args.ctx} tokens of context per sequence, {Path(model).name}; "
          f"load average {os.getloadavg()[0]:.1f}")
    print(engine_report(runs, levels), flush=True)
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="scripted phase: requests (2000; 0: skip)")
    parser.add_argument("--concurrency", type=int, default=32, help="scripted phase: concurrency (32)")
    parser.add_argument("--model-requests", type=int, default=200, help="embedded phase: requests (200; 0: skip)")
    parser.add_argument("--model-concurrency", type=int, default=8, help="embedded phase: concurrency (8)")
    parser.add_argument("--max-tokens", type=int, default=24, help="embedded phase: max_tokens per answer (24)")
    parser.add_argument("--parallel", default="", help="engines phase: toolproxy --parallel values, e.g. 1,4 "
                        "(default: none)")
    parser.add_argument("--llama-server", action="store_true", help="engines phase: llama-server -np N as well")
    parser.add_argument("--np", type=int, default=4, help="engines phase: llama-server's slots (4)")
    parser.add_argument("--sweep-concurrency", default="1,4,8", help="engines phase: concurrency levels (1,4,8)")
    parser.add_argument("--sweep-requests", type=int, default=24, help="engines phase: chats per level (24)")
    parser.add_argument("--sweep-tokens", type=int, default=48, help="engines phase: max_tokens per chat (48)")
    parser.add_argument("--threads", type=int, default=2, help="engines phase: threads of every engine (2)")
    parser.add_argument("--ctx", type=int, default=2048, help="engines phase: context per sequence (2048)")
    parser.add_argument("--rounds", type=int, default=2, help="engines phase: rounds per level, the engines "
                        "taking turns (2)")
    parser.add_argument("--cpu-wait", help="engines phase: toolproxy's --cpu-wait (default: its own, auto)")
    parser.add_argument("--model", help="engines phase: GGUF path or short name (default: the bundled model)")
    parser.add_argument("--serve-scripted", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_scripted:
        _serve_scripted(args.serve_scripted)
        return 0
    phases: list[Phase] = []
    if args.requests:
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
    engines = run_engines(args) if args.parallel or args.llama_server else []
    for phase in phases:
        for error in phase.result.errors[:5]:
            print(f"  {phase.name} error: {error}")
    for engine in engines:
        for error in engine.all_errors()[:5]:
            print(f"  {engine.name} error: {error}")
    return 0 if all(p.ok() for p in phases) and all(e.ok() for e in engines) else 1


if __name__ == "__main__":
    raise SystemExit(main())
