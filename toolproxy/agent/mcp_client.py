"""Tools from MCP servers (``toolproxy agent --mcp``), with the official ``mcp`` SDK's client.

A source is a URL (``http://.../mcp``: streamable HTTP) or a command line (``'python server.py --flag'``:
spawned, spoken to over its stdin/stdout). Each connection is owned by one asyncio task that enters the SDK's
``Client`` and holds it open until ``close()``: anyio's task groups must be left by the task that entered them,
and the agent's calls run in tasks of their own (``asyncio.gather``). Calls go through the SDK, which is safe
to use from several tasks at once. A result's text content is what the model reads; ``isError`` makes it an
``ErrorText`` (``Error: ...``), as every other tool failure is; a lost connection or a timeout is one too.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
from typing import Any

from mcp import Client, StdioServerParameters
from mcp.types import CallToolResult

from toolproxy.agent.errors import ToolLoadError
from toolproxy.agent.tools import ErrorText, Tool, ToolCall, error_text, render_result

UNSAFE_NAME = re.compile(r"[^a-zA-Z0-9_-]+")
MAX_PAGES = 100


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def server_params(source: str) -> StdioServerParameters:
    """``'CMD ARGS'`` (shell-style quoting) -> how to spawn it; the child inherits our environment."""
    try:
        argv = shlex.split(source)
    except ValueError as exc:
        raise ToolLoadError(f"cannot parse the MCP server command {source!r}: {exc}") from exc
    if not argv:
        raise ToolLoadError("an empty --mcp command")
    return StdioServerParameters(command=argv[0], args=argv[1:], env=dict(os.environ))


def safe_name(name: str) -> str:
    """An OpenAI function name (``[a-zA-Z0-9_-]{1,64}``) for an MCP tool name (which may hold dots, slashes)."""
    return UNSAFE_NAME.sub("_", name).strip("_")[:64] or "tool"


def result_text(result: CallToolResult) -> str:
    """What the model reads: the text blocks; other blocks described; structured content when there is no text."""
    parts: list[str] = []
    for block in result.content:
        if block.type == "text":
            parts.append(block.text)
        elif block.type in ("image", "audio"):
            parts.append(f"[{block.type} content, {block.mime_type}, not shown]")
        elif block.type == "resource_link":
            parts.append(f"[resource {block.uri}]")
        elif block.type == "resource":
            text = getattr(block.resource, "text", None)
            parts.append(text if isinstance(text, str) else f"[resource {block.resource.uri}, binary, not shown]")
    if not any(part.strip() for part in parts) and result.structured_content is not None:
        parts = [render_result(result.structured_content)]
    text = "\n".join(parts)
    if result.is_error:
        return ErrorText(text if text.startswith("Error") else f"Error: {text or 'the tool failed'}")
    return text


class McpConnection:
    """One MCP server: ``await start()`` connects and lists its tools, ``await close()`` ends the session
    (and, for a command, its process: the SDK closes stdin, then terminates and kills the process tree)."""

    def __init__(self, source: str, *, timeout_s: float = 60.0, connect_timeout_s: float = 60.0) -> None:
        self.source = source
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.server_name = ""
        self.tools: list[Tool] = []
        self._client: Client | None = None
        self._lost: str | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def label(self) -> str:
        return f"MCP server {self.source!r}"

    async def start(self) -> list[Tool]:
        target: StdioServerParameters | str = self.source if is_url(self.source) else server_params(self.source)
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        ready.add_done_callback(lambda f: f.cancelled() or f.exception())  # retrieved even when start() gave up
        self._task = asyncio.create_task(self._own(target, ready), name=f"mcp {self.source}")
        try:
            await asyncio.wait_for(asyncio.shield(ready), self.connect_timeout_s)
        except TimeoutError:
            await self.close(cancel=True)
            raise ToolLoadError(f"{self.label} did not answer within {self.connect_timeout_s:g} s") from None
        except ToolLoadError:
            await self.close()
            raise
        return self.tools

    async def _own(self, target: StdioServerParameters | str, ready: asyncio.Future[None]) -> None:
        try:
            async with Client(target, read_timeout_seconds=self.connect_timeout_s) as client:  # calls: timeout_s
                self._client = client
                info = client.server_info
                self.server_name = info.name if info is not None else ""
                self.tools = await self._list(client)
                ready.set_result(None)
                await self._stop.wait()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # before ready: the user's bad --mcp source; after: the server went away
            if not ready.done():
                ready.set_exception(ToolLoadError(f"cannot use {self.label}: {describe(exc)}"))
            self._lost = describe(exc)
        finally:
            self._client = None
            if not ready.done():
                ready.set_exception(ToolLoadError(f"{self.label} closed before listing its tools"))

    async def _list(self, client: Client) -> list[Tool]:
        tools: list[Tool] = []
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            page = await client.list_tools(cursor=cursor)
            for remote in page.tools:
                schema = dict(remote.input_schema or {})
                schema.setdefault("type", "object")
                description = remote.description or remote.title or f"Call {remote.name}."
                tools.append(Tool(safe_name(remote.name), description, schema, self._caller(remote.name)))
            cursor = page.next_cursor
            if cursor is None:
                break
        return tools

    def _caller(self, remote_name: str) -> ToolCall:
        async def call(arguments: dict[str, Any]) -> str:
            client = self._client
            if client is None:
                return error_text(f"{self.label} is not connected" + (f" ({self._lost})" if self._lost else ""))
            try:
                result = await client.call_tool(remote_name, arguments, read_timeout_seconds=self.timeout_s)
            except Exception as exc:  # a protocol error, a timeout, a dead server: the model's observation
                return error_text(f"{remote_name} via {self.label} failed: {describe(exc)}")
            return result_text(result)

        return call

    async def close(self, *, cancel: bool = False) -> None:
        """End the session; ``cancel``: at once (a server that never answered), else after a polite goodbye."""
        self._stop.set()
        task, self._task = self._task, None
        if task is None:
            return
        if cancel:
            task.cancel()
        try:
            await asyncio.wait_for(task, self.connect_timeout_s)
        except TimeoutError:
            pass  # wait_for cancelled the task: the SDK's own shutdown kills the process
        except (Exception, asyncio.CancelledError):  # a failure was reported by start(); cancelled: as asked
            pass


def describe(exc: BaseException) -> str:
    """One line for an exception, also for anyio's exception groups (the SDK's task groups raise them)."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(describe(sub) for sub in exc.exceptions)
    text = str(exc) or repr(exc)
    return f"{type(exc).__name__}: {text}" if text != type(exc).__name__ else text


def prefixed(tools: list[Tool], prefix: str) -> list[Tool]:
    """The same tools named ``PREFIX_NAME`` (``--mcp-prefix``), descriptions and calls unchanged."""
    return [Tool(safe_name(f"{prefix}_{tool.name}"), tool.description, tool.parameters, tool.call) for tool in tools]
