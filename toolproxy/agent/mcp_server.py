"""``toolproxy tools serve --mcp``: tools as an MCP server (the official ``mcp`` SDK's low-level ``Server``).

The tools are the agent's own ``Tool`` objects (``tool_from_function`` for a module's typed functions, the
std tools with the sandboxed ``python``), so the JSON Schema an MCP client lists is the one the agent and the
OpenAPI server build: nothing is introspected twice. A call validates and runs exactly as in the agent; an
``ErrorText`` answer (bad arguments, an exception, code that raised) is ``isError: true``; an unknown tool is a
JSON-RPC error. Transports: stdio (the SDK diverts fd 1 to stderr while serving, so a tool's ``print`` cannot
corrupt the stream) and streamable HTTP at ``/mcp``, mounted on the OpenAPI app when there is one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import mcp.types as types
from fastapi import FastAPI
from mcp.server import Server, ServerRequestContext
from mcp.server.stdio import stdio_server
from mcp.shared.exceptions import MCPError

from toolproxy.agent.tools import ErrorText, Tool

MCP_PATH = "/mcp"


def mcp_server(tools: list[Tool], *, name: str = "toolproxy-tools", version: str = "1.0.0") -> Server[Any]:
    """An MCP server whose ``tools/list`` and ``tools/call`` are these tools."""
    by_name = {tool.name: tool for tool in tools}
    listing = [types.Tool(name=t.name, description=t.description, input_schema=t.parameters) for t in tools]

    async def list_tools(ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
                         ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=listing)

    async def call_tool(ctx: ServerRequestContext[Any], params: types.CallToolRequestParams) -> types.CallToolResult:
        tool = by_name.get(params.name)
        if tool is None:
            raise MCPError(types.INVALID_PARAMS, f"unknown tool {params.name!r}; the tools are {sorted(by_name)}")
        text = await tool.call(dict(params.arguments or {}))
        return types.CallToolResult(content=[types.TextContent(text=text)], is_error=isinstance(text, ErrorText))

    def input_schema(tool_name: str) -> dict[str, Any] | None:
        tool = by_name.get(tool_name)
        return tool.parameters if tool is not None else None

    return Server(name, version=version, on_list_tools=list_tools, on_call_tool=call_tool,
                  get_tool_input_schema=input_schema)


async def serve_stdio(server: Server[Any]) -> None:
    """Serve one client over stdin/stdout until stdin closes."""
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


def run_stdio(server: Server[Any]) -> None:
    anyio.run(serve_stdio, server)


def mount_http(app: FastAPI, server: Server[Any], *, host: str) -> FastAPI:
    """Add the streamable HTTP endpoint ``/mcp`` to ``app`` (its session manager runs in the app's lifespan).

    On a loopback ``host`` the SDK's DNS-rebinding protection admits only loopback ``Host``/``Origin`` headers.
    """
    mcp_app = server.streamable_http_app(streamable_http_path=MCP_PATH, host=host)
    app.router.routes.extend(mcp_app.routes)
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(outer: Any) -> AsyncIterator[Any]:
        async with server.session_manager.run(), inner(outer) as state:
            yield state

    app.router.lifespan_context = lifespan
    return app
