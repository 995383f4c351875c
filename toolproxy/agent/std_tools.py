"""``--std-tools``: wait (bounded), current time, ask the user, and the sandboxed ``python`` interpreter."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from toolproxy.agent.sandbox import SessionManager
from toolproxy.agent.tools import ErrorText, Tool, error_text, tool_from_function

Ask = Callable[[str], str]


def std_tools(
    *,
    python: SessionManager | None,
    session_id: str,
    refusal: str | None = None,
    ask: Ask | None = None,
    max_wait_s: float = 60.0,
) -> list[Tool]:
    """The standard tools. ``python`` is None when no sandbox is usable: the tool then answers ``refusal``."""

    async def wait(seconds: float) -> str:
        """Wait (sleep) for a number of seconds before continuing; long waits are cut short.

        Args:
            seconds: how long to wait, in seconds.
        """
        waited = min(max(seconds, 0.0), max_wait_s)
        await asyncio.sleep(waited)
        return f"waited {waited:g} seconds" + (f" (capped at {max_wait_s:g})" if waited < seconds else "")

    def current_time(timezone: str = "UTC") -> str:
        """The current date and time (ISO 8601).

        Args:
            timezone: an IANA time zone name such as UTC or Europe/Paris.
        """
        try:
            zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            return error_text(f"unknown time zone {timezone!r}")
        return dt.datetime.now(zone).isoformat(timespec="seconds")

    def ask_user(question: str) -> str:
        """Ask the user a question and get their answer.

        Args:
            question: the question to ask.
        """
        if ask is None:
            return error_text("no user is available to answer questions in this run")
        return ask(question)

    def run_python(code: str) -> str:
        """Run Python code in a sandboxed interpreter (no network, private work dir). Variables and imports
        persist between calls; print() output and the value of a trailing expression are returned; an
        exception comes back as its traceback.

        Args:
            code: the Python code to run.
        """
        if python is None:
            return error_text(f"refused to run code: {refusal or 'no sandbox is available'}")
        observation = python.run(session_id, code)
        return observation.text() if observation.ok else ErrorText(observation.text())

    tools = [tool_from_function(fn) for fn in (wait, current_time, ask_user)]
    tools.append(tool_from_function(run_python, name="python"))
    return tools
