"""Every string a client sends must be Unicode text: a JSON body that decodes to a lone surrogate is a 400.

JSON can spell what Unicode cannot: ``"\\ud800"`` (an escape of half a surrogate pair) is valid JSON, and
Python's ``json.loads`` of bytes decodes with ``surrogatepass``, so the raw bytes ``ED A0 80`` (a surrogate in
CESU-8) and lone surrogate code units of a UTF-16/32 body arrive too. Such a ``str`` fails later, wherever it is
encoded (the tokenizer, an upstream's JSON, a log line): a 500 deep in the pipeline. Bytes that are not UTF-8 at
all (``FF``, overlong or truncated sequences, code points past U+10FFFF) already fail the JSON decoding: a 400.

:func:`require_unicode` is an app-wide FastAPI dependency (installed by :func:`toolproxy.limits.install_limits`
before any route is added), so every route of the app — chat completions, completions, and any front door added
later — gets the check before its handler runs, and the :class:`InvalidRequest` it raises is rendered by the
app's one error handler, in the route's own error shape. It names the first bad field: ``messages[0].content``,
``stop[1]``, a key in ``tools[0].function.parameters.properties``. A body with no hint of a surrogate (no
``\\uD8..``-``\\uDF..`` escape, no ``ED A0``-``ED BF`` bytes, not UTF-16/32) is not parsed again.
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.requests import Request

from toolproxy.errors import InvalidRequest

CODE = "invalid_unicode"
_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")  # a surrogate escape (a literal prefix: a fast scan)
_ENCODED = re.compile(rb"\xed[\xa0-\xbf]")  # a surrogate's UTF-8 form (CESU-8)
_SURROGATE = re.compile("[\ud800-\udfff]")
_PLAIN_KEY = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")


async def require_unicode(request: Request) -> None:
    """Raise the 400 of :func:`unicode_problem` for the request's body. Starlette caches the body and its
    JSON, which FastAPI has already read for the route's body parameter: nothing is parsed twice."""
    if request.method in ("GET", "HEAD", "OPTIONS") or not _may_hold_surrogates(await request.body()):
        return
    try:
        data = await request.json()
    except (ValueError, RecursionError):
        return
    problem = _problem(data)
    if problem is not None:
        raise problem


def unicode_problem(body: bytes) -> InvalidRequest | None:
    """The 400 for the first string of the JSON ``body`` that is not valid Unicode; None when all are (or
    when the body is not JSON: the route answers that)."""
    if not _may_hold_surrogates(body):
        return None
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return _problem(data)


def _problem(data: Any) -> InvalidRequest | None:
    found = lone_surrogate(data)
    if found is None:
        return None
    path, char, is_key = found
    what = "a key in " if is_key else ""
    where = path or "the request body"
    return InvalidRequest(
        f"{what}{where}: not valid Unicode (lone surrogate U+{ord(char):04X}); send UTF-8 text, and write "
        "a character outside the BMP as a surrogate *pair* when escaping it in JSON",
        param=path or None, code=CODE)


def lone_surrogate(data: Any) -> tuple[str, str, bool] | None:
    """``(path, surrogate, is_key)`` of the first string or object key in decoded JSON ``data`` holding a lone
    surrogate (``messages[0].content``), None when there is none. Iterative: any depth is safe."""
    stack: list[tuple[Any, str]] = [(data, "")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, str):
            bad = _SURROGATE.search(node)
            if bad:
                return path, bad.group(), False
        elif isinstance(node, dict):
            items = list(node.items())
            for key, _ in items:
                bad = _SURROGATE.search(key)
                if bad:
                    return path, bad.group(), True
            stack.extend((value, _member(path, key)) for key, value in reversed(items))
        elif isinstance(node, list):
            stack.extend((value, f"{path}[{i}]") for i, value in reversed(list(enumerate(node))))
    return None


def _may_hold_surrogates(body: bytes) -> bool:
    # JSON text starts with ASCII: a NUL among the first bytes means UTF-16/32 (json.loads detects it)
    if b"\x00" in body[:4] or body[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return True
    return _ESCAPE.search(body) is not None or (b"\xed" in body and _ENCODED.search(body) is not None)


def _member(path: str, key: str) -> str:
    if _PLAIN_KEY.fullmatch(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key)}]"
