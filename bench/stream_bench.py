"""Streaming latency on the embedded model: time to first content byte and to first tool-call delta,
against total time, per style. Usage: python bench/stream_bench.py [--base-url URL] [--runs N]"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _server import toolproxy_server

TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Get the current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                                                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
                   "required": ["city", "unit"]}}}]


def one(url: str, body: dict[str, object]) -> dict[str, float | None]:
    started = time.perf_counter()
    first_byte = first_content = first_call = None
    with httpx.stream("POST", f"{url}/v1/chat/completions", json={**body, "stream": True}, timeout=300) as r:
        for line in r.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            now = time.perf_counter() - started
            chunk = json.loads(line[6:])
            if first_byte is None:
                first_byte = now
            for choice in chunk.get("choices", []):
                delta = choice["delta"]
                if delta.get("content") and first_content is None:
                    first_content = now
                if delta.get("tool_calls") and first_call is None:
                    first_call = now
    return {"first_byte": first_byte, "first_content": first_content, "first_call": first_call,
            "total": time.perf_counter() - started}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--styles", default="hermes,thoughtful_steps,functionary,mixtral")
    args = parser.parse_args()
    ctx = nullcontext(args.base_url) if args.base_url else toolproxy_server("--threads", "2")
    with ctx as url:
        print(f"{'style':<18}{'case':<10}{'1st byte':>10}{'1st text':>10}{'1st call':>10}{'total':>10}  (s, median)")
        for style in args.styles.split(","):
            for case, extra in (("call", {"tools": TOOLS, "tool_choice": "required"}),
                                ("text", {"tools": TOOLS, "tool_choice": "none"})):
                body = {"messages": [{"role": "user", "content": "What is the weather in Paris?"}],
                        "style": style, "max_tokens": 64, **extra}
                one(url, body)  # warm-up (prompt cache, grammar cache)
                runs = [one(url, body) for _ in range(args.runs)]

                def med(key: str, runs: list[dict[str, float | None]] = runs) -> str:
                    values = [r[key] for r in runs if r[key] is not None]
                    return f"{statistics.median(values):.3f}" if values else "-"

                print(f"{style:<18}{case:<10}{med('first_byte'):>10}{med('first_content'):>10}"
                      f"{med('first_call'):>10}{med('total'):>10}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
