"""``toolproxy agent ...`` and ``toolproxy tools serve ...`` (wired into ``toolproxy.cli``)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import os
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from openai import AsyncOpenAI

from toolproxy.agent.embedded import EmbeddedServer
from toolproxy.agent.errors import AgentError, SandboxUnavailable
from toolproxy.agent.loop import Agent, AgentConfig, AgentResult
from toolproxy.agent.openapi import tools_from_openapi
from toolproxy.agent.sandbox import Limits, SessionManager, select_backend
from toolproxy.agent.std_tools import std_tools
from toolproxy.agent.tools import Tool, module_functions, tool_from_function, tools_from_module

CHOICE_KEYWORDS = ("auto", "required", "none")
MCP_MISSING = "MCP support needs the mcp package: pip install 'toolproxy[mcp]'"


def agent_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="toolproxy agent", description="Run a model/tool loop toward a goal.")
    p.add_argument("--goal", required=True, help="what the agent should achieve (the first user message)")
    p.add_argument("--tools", action="append", default=[], metavar="PATH.py|MODULE|URL",
                   help="tools from a Python module (file or dotted name) or a tool server URL; repeatable")
    p.add_argument("--mcp", action="append", default=[], metavar="'CMD ARGS'|URL",
                   help="tools of an MCP server: a command to spawn (stdio) or a streamable HTTP URL; repeatable")
    p.add_argument("--mcp-prefix", action="store_true",
                   help="name MCP tools SERVER_TOOL (SERVER: the name the server reports) to avoid name collisions")
    p.add_argument("--mcp-timeout", type=float, default=60.0, help="seconds for one call of an MCP tool")
    p.add_argument("--mcp-connect-timeout", type=float, default=120.0,
                   help="seconds for starting/connecting to an MCP server and listing its tools")
    p.add_argument("--std-tools", action="store_true", help="add wait, current_time, ask_user and python")
    p.add_argument("--base-url", help="OpenAI-compatible endpoint (default: an embedded `toolproxy serve`)")
    p.add_argument("--api-key", default=os.environ.get("OPENAI_API_KEY", "none"))
    p.add_argument("--model", help="model name (default: the first one the endpoint lists)")
    p.add_argument("--max-steps", type=int, default=8)
    p.add_argument("--tool-choice", default="auto", metavar="SPEC[,SPEC...]",
                   help="auto|required|none|TOOL per step, comma-separated; the last one repeats")
    p.add_argument("--parallel-tool-calls", choices=["true", "false"])
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--max-tokens", type=int)
    p.add_argument("--system", help="a system message")
    p.add_argument("--serve-arg", action="append", default=[],
                   help="extra argument for the embedded `toolproxy serve` (e.g. --serve-arg=--ctx=4096)")
    add_sandbox_args(p)
    p.add_argument("--verbose", "-v", action="store_true")
    return p


def add_sandbox_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sandbox", default="auto", choices=["auto", "bwrap", "unshare", "docker", "none"],
                   help="isolation for the python tool (default: the first that works)")
    p.add_argument("--unsafe-no-sandbox", action="store_true",
                   help="let the python tool run code WITHOUT isolation when no sandbox works")
    p.add_argument("--python-timeout", type=float, default=30.0, help="wall-clock limit of one python call")


def require_mcp() -> None:
    if importlib.util.find_spec("mcp") is None:
        raise AgentError(MCP_MISSING)


async def load_mcp_tools(args: argparse.Namespace, stack: contextlib.AsyncExitStack) -> list[tuple[str, list[Tool]]]:
    """(source label, tools) per ``--mcp`` server; each session is closed (its process stopped) by ``stack``."""
    if not args.mcp:
        return []
    require_mcp()
    from toolproxy.agent.mcp_client import McpConnection, prefixed, safe_name

    groups: list[tuple[str, list[Tool]]] = []
    for index, source in enumerate(args.mcp, 1):
        connection = McpConnection(source, timeout_s=args.mcp_timeout,
                                   connect_timeout_s=args.mcp_connect_timeout)
        tools = await connection.start()
        stack.push_async_callback(connection.close)
        if args.mcp_prefix:
            tools = prefixed(tools, safe_name(connection.server_name) if connection.server_name else f"mcp{index}")
        groups.append((connection.label, tools))
    return groups


def merge_tools(groups: list[tuple[str, list[Tool]]]) -> list[Tool]:
    """All tools, refusing two with one name (the model could not tell them apart)."""
    owner: dict[str, str] = {}
    merged: list[Tool] = []
    for label, tools in groups:
        for tool in tools:
            if tool.name in owner:
                mcp = label.startswith("MCP") or owner[tool.name].startswith("MCP")
                hint = "; pass --mcp-prefix to prefix MCP tools with their server's name" if mcp else ""
                raise AgentError(f"two tools are named {tool.name!r}: one from {owner[tool.name]}, "
                                 f"one from {label}{hint}")
            owner[tool.name] = label
            merged.append(tool)
    return merged


async def load_tools(sources: list[str], client: httpx.AsyncClient) -> list[tuple[str, list[Tool]]]:
    groups: list[tuple[str, list[Tool]]] = []
    for source in sources:
        if source.startswith(("http://", "https://")):
            groups.append((f"tool server {source}", await tools_from_openapi(source, client)))
        else:
            groups.append((f"module {source}", tools_from_module(source)))
    return groups


def python_manager(args: argparse.Namespace) -> tuple[SessionManager | None, str | None]:
    try:
        backend = select_backend(args.sandbox, unsafe_no_sandbox=args.unsafe_no_sandbox)
    except SandboxUnavailable as exc:
        return None, exc.message
    if not backend.isolated:
        print("warning: the python tool runs code WITHOUT a sandbox (--unsafe-no-sandbox)", file=sys.stderr)
    manager = SessionManager(backend, Limits(timeout_s=args.python_timeout))
    manager.start_reaper()
    return manager, None


async def first_model(client: AsyncOpenAI) -> str:
    models = await client.models.list()
    for model in models.data:
        return str(model.id)
    raise AgentError("the endpoint lists no models; pass --model")


async def run_agent(args: argparse.Namespace, base_url: str) -> AgentResult:
    plan = tuple(spec.strip() for spec in args.tool_choice.split(",") if spec.strip())
    async with httpx.AsyncClient(timeout=60.0) as http, contextlib.AsyncExitStack() as stack:
        groups = await load_tools(args.tools, http)
        groups += await load_mcp_tools(args, stack)
        if args.std_tools:
            manager, refusal = python_manager(args)
            if manager is not None:
                stack.callback(manager.close_all)
            else:
                print(f"warning: the python tool will refuse to run code: {refusal}", file=sys.stderr)
            groups.append(("--std-tools", std_tools(python=manager, session_id=uuid.uuid4().hex[:12],
                                                     refusal=refusal, ask=ask_stdin if sys.stdin.isatty() else None)))
        tools = merge_tools(groups)
        names = {tool.name for tool in tools}
        unknown = [spec for spec in plan if spec not in CHOICE_KEYWORDS and spec not in names]
        if unknown:
            raise AgentError(f"--tool-choice names unknown tools {unknown}; the tools are {sorted(names)}")
        client = AsyncOpenAI(base_url=base_url, api_key=args.api_key, max_retries=0, timeout=600.0)
        stack.push_async_callback(client.close)
        config = AgentConfig(
            model=args.model or await first_model(client),
            max_steps=args.max_steps,
            tool_choice=plan or ("auto",),
            parallel_tool_calls=None if args.parallel_tool_calls is None else args.parallel_tool_calls == "true",
            temperature=args.temperature,
            max_tokens=args.max_tokens,
            system=args.system,
            verbose=args.verbose,
        )
        if args.verbose:
            print(f"endpoint {base_url}, model {config.model}, tools: {', '.join(sorted(names)) or '(none)'}")
        return await Agent(client, tools, config).run(args.goal)


def ask_stdin(question: str) -> str:
    return input(f"[agent asks] {question}\n> ")


def agent_main(argv: list[str]) -> int:
    args = agent_parser().parse_args(argv)
    try:
        if args.base_url:
            result = asyncio.run(run_agent(args, args.base_url))
        else:
            with EmbeddedServer(args.serve_arg) as base_url:
                result = asyncio.run(run_agent(args, base_url))
    except AgentError as exc:
        print(f"toolproxy agent: {exc.message}", file=sys.stderr)
        return 2
    if result.answer is None:
        print(f"no final answer after {args.max_steps} steps", file=sys.stderr)
        return 1
    print(f"\nanswer: {result.answer}")
    return 0


def tools_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="toolproxy tools", description="Tool servers.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve a module's functions as an OpenAPI (FastAPI) or MCP tool server")
    serve.add_argument("module", nargs="?", help="a .py file or an importable module name")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--mcp", action="store_true", help="serve MCP (over stdio unless --mcp-transport http)")
    serve.add_argument("--mcp-transport", choices=["stdio", "http"],
                       help="stdio (default with --mcp), or http: MCP at /mcp beside the OpenAPI operations")
    serve.add_argument("--std-tools", action="store_true",
                       help="also serve wait, current_time, ask_user and the sandboxed python (over MCP)")
    add_sandbox_args(serve)
    return parser


def tools_main(argv: list[str]) -> int:
    parser = tools_parser()
    args = parser.parse_args(argv)
    transport = args.mcp_transport or ("stdio" if args.mcp else None)
    if args.module is None and not args.std_tools:
        parser.error("serve needs a MODULE (or --std-tools)")
    if args.std_tools and transport is None:
        parser.error("--std-tools are served over MCP: add --mcp (or --mcp-transport http)")
    try:
        functions = module_functions(args.module) if args.module else []
        if transport is None:
            return serve_openapi(args, functions)
        require_mcp()
        return serve_mcp(args, functions, transport)
    except AgentError as exc:
        print(f"toolproxy tools serve: {exc.message}", file=sys.stderr)
        return 2


def serve_title(args: argparse.Namespace) -> str:
    return f"toolproxy tools: {Path(args.module).stem if args.module else 'std'}"


def serve_openapi(args: argparse.Namespace, functions: list[Callable[..., Any]]) -> int:
    import uvicorn

    from toolproxy.agent.server import tools_app

    app = tools_app(functions, title=serve_title(args))
    print(f"serving {len(functions)} tools on http://{args.host}:{args.port} (OpenAPI at /openapi.json)")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def serve_mcp(args: argparse.Namespace, functions: list[Callable[..., Any]], transport: str) -> int:
    from toolproxy.agent.mcp_server import MCP_PATH, mcp_server, mount_http, run_stdio

    tools = [tool_from_function(fn) for fn in functions]
    manager: SessionManager | None = None
    if args.std_tools:
        manager, refusal = python_manager(args)
        if manager is None:
            print(f"warning: the python tool will refuse to run code: {refusal}", file=sys.stderr)
        tools += std_tools(python=manager, session_id=uuid.uuid4().hex[:12], refusal=refusal)
    names = [tool.name for tool in tools]
    if len(set(names)) != len(names):
        raise AgentError(f"two tools share a name: {sorted(n for n in set(names) if names.count(n) > 1)}")
    server = mcp_server(tools, name=Path(args.module).stem if args.module else "toolproxy_std")
    try:
        if transport == "stdio":
            print(f"serving {len(tools)} tools over MCP on stdio", file=sys.stderr)
            run_stdio(server)
            return 0
        import uvicorn

        from toolproxy.agent.server import tools_app

        app = mount_http(tools_app(functions, title=serve_title(args)), server, host=args.host)
        where = f"http://{args.host}:{args.port}"
        openapi = f", {len(functions)} over OpenAPI at {where}/openapi.json" if functions else ""
        print(f"serving {len(tools)} tools over MCP at {where}{MCP_PATH}{openapi}")
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
        return 0
    finally:
        if manager is not None:
            manager.close_all()
