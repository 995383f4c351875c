"""A tools module for the agent tests: what `toolproxy agent --tools` and `toolproxy tools serve` load.

``add`` also appends a JSON line to the file named by $TOOLPROXY_TEST_TOOL_LOG (when set), so a test can see
that a tool really ran even when it ran in another process (a tool server).
"""

from __future__ import annotations

import asyncio
import json
import os
from os.path import join as imported_function  # noqa: F401 - imported functions are not tools
from typing import Literal

from pydantic import BaseModel


class Place(BaseModel):
    city: str
    country: str = "FR"


def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: the first addend.
        b: the second addend.
    """
    total = a + b
    log = os.environ.get("TOOLPROXY_TEST_TOOL_LOG")
    if log:
        with open(log, "a") as handle:
            handle.write(json.dumps({"tool": "add", "a": a, "b": b, "result": total}) + "\n")
    return total


def get_weather(place: Place, unit: Literal["celsius", "fahrenheit"] = "celsius") -> dict[str, object]:
    """Current weather for a place.

    Parameters
    ----------
    place : Place
        where to look.
    unit : str
        temperature unit.
    """
    return {"city": place.city, "country": place.country, "temperature": 21 if unit == "celsius" else 70}


async def slow_echo(text: str, delay: float = 0.4) -> str:
    """Echo text back after a delay (for the concurrency tests)."""
    await asyncio.sleep(delay)
    return text


def fail(reason: str) -> str:
    """Always raises."""
    raise RuntimeError(reason)


def unannotated(x):  # type: ignore[no-untyped-def]  # not a tool: no annotations
    return x


def _private(x: int) -> int:
    return x
