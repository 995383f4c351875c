"""Request limits, checked before any expensive work (grammar compilation, rendering, generation).

- :class:`BodyLimitMiddleware`: a pure ASGI middleware that refuses bodies over ``max_request_bytes`` with
  413 — by ``Content-Length`` up front, and by counting the bytes of chunked bodies (no Content-Length) as they
  arrive, so at most the limit is ever held in memory.
- :func:`check_chat_request` / :func:`check_completion_request`: counts (messages, tools, stop strings,
  max_tokens) and the shape of every JSON Schema in the request (depth, nodes, enum sizes, regex patterns that
  backtrack catastrophically), walked iteratively (no recursion, linear time).
- :func:`check_grammar`: the size of a compiled or client-given grammar.
- every string of a request body is Unicode text (:mod:`toolproxy.unicode_check`, an app-wide dependency).
- a request whose client is gone is cancelled (:mod:`toolproxy.disconnect`), so its generation stops.

Every refusal is an :class:`InvalidRequest` (400): ``code="request_limit"`` naming the setting to raise, or
``invalid_schema`` (a keyword of the wrong JSON type), ``schema_ref_cycle``, ``unsafe_pattern``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from fastapi import Depends, FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from toolproxy.api.errors import error_body
from toolproxy.disconnect import CancelOnDisconnect
from toolproxy.errors import InvalidRequest
from toolproxy.grammar.gbnf import nesting
from toolproxy.protocol import ChatCompletionRequest, CompletionRequest
from toolproxy.ref_cycles import find_ref_cycle
from toolproxy.regex_safety import unsafe_reason
from toolproxy.settings import Settings
from toolproxy.unicode_check import require_unicode

CODE = "request_limit"
_VALUE_KEYS = frozenset({"enum", "const", "default", "examples"})  # instance data, not subschemas
_NAME_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})


def _refuse(message: str, param: str | None, setting: str) -> InvalidRequest:
    return InvalidRequest(f"{message} (limit: the `{setting}` setting)", param=param, code=CODE)


# --------------------------------------------------------------------------- request bodies


class BodyLimitMiddleware:
    """Reads the request body before the app does, refusing it (413) as soon as it passes ``limit`` bytes."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        path = scope.get("path", "")
        if declared is not None and declared > self.limit:
            await self._too_large(send, f"{declared} bytes", path)
            return
        chunks: list[bytes] = []
        total = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left before sending its body: nothing to answer
            body = message.get("body", b"")
            total += len(body)
            if total > self.limit:
                await self._too_large(send, f"more than {self.limit} bytes", path)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()  # after the body: disconnect notices, as usual

        await self.app(scope, replay, send)

    async def _too_large(self, send: Send, size: str, path: str) -> None:
        error = InvalidRequest(f"request body too large: {size} > {self.limit} (limit: the `max_request_bytes` "
                               "setting)", code="request_too_large")
        error.status_code = 413
        payload = json.dumps(error_body(error, path)).encode()  # in the shape of the API called (api/errors.py)
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": payload})


def _content_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers", ()):
        if key == b"content-length":
            text = bytes(value).decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None


def install_limits(app: FastAPI, settings: Settings) -> None:
    """The body-size middleware, and inside it the one that cancels a request whose client is gone
    (:mod:`toolproxy.disconnect`); and, for every route added after this call (all of them: create_app calls it
    first), the check that the body's strings are Unicode text. The per-request checks below are called by the
    service."""
    app.add_middleware(CancelOnDisconnect)
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_request_bytes)
    app.router.dependencies.append(Depends(require_unicode))


# --------------------------------------------------------------------------- request contents


def check_chat_request(request: ChatCompletionRequest, settings: Settings) -> None:
    if len(request.messages) > settings.max_messages:
        raise _refuse(f"too many messages: {len(request.messages)} > {settings.max_messages}", "messages",
                      "max_messages")
    tools = request.tools or []
    if len(tools) > settings.max_tools:
        raise _refuse(f"too many tools: {len(tools)} > {settings.max_tools}", "tools", "max_tools")
    _check_generation(request.max_completion_tokens or request.max_tokens, request.stop, settings)
    budget = _Budget(settings)
    for i, tool in enumerate(tools):
        if tool.function.parameters is not None:
            budget.schema(tool.function.parameters, f"tools[{i}].function.parameters")
    fmt = request.response_format
    if fmt is not None and fmt.json_schema is not None and fmt.json_schema.schema_ is not None:
        budget.schema(fmt.json_schema.schema_, "response_format.json_schema.schema")


def check_completion_request(request: CompletionRequest, settings: Settings) -> None:
    _check_generation(request.max_tokens, request.stop, settings)
    check_grammar(request.grammar, settings, param="grammar")


def check_grammar(grammar: str | None, settings: Settings, *, param: str = "tools") -> None:
    """Size, and parenthesis nesting: llama.cpp's GBNF parser recurses per ``(`` and crashes the process
    (SIGSEGV) on ~100,000 levels — one /v1/completions request must not take the server down."""
    if grammar is None:
        return
    if len(grammar) > settings.max_grammar_bytes:
        raise _refuse(f"grammar too large: {len(grammar)} characters > {settings.max_grammar_bytes}", param,
                      "max_grammar_bytes")
    if nesting(grammar, stop_above=settings.max_grammar_nesting) > settings.max_grammar_nesting:
        raise _refuse(f"grammar groups nested more than {settings.max_grammar_nesting} levels deep", param,
                      "max_grammar_nesting")


def _check_generation(max_tokens: int | None, stop: str | list[str] | None, settings: Settings) -> None:
    if max_tokens is not None and max_tokens > settings.max_tokens_cap:
        raise _refuse(f"max_tokens too large: {max_tokens} > {settings.max_tokens_cap}", "max_tokens",
                      "max_tokens_cap")
    stops = [stop] if isinstance(stop, str) else (stop or [])
    if len(stops) > settings.max_stop:
        raise _refuse(f"too many stop strings: {len(stops)} > {settings.max_stop}", "stop", "max_stop")


class _Budget:
    """Walks every schema of one request; the node budget is shared by all of them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.nodes = 0

    def schema(self, schema: Any, param: str) -> None:
        s = self.settings
        refs = False
        for node, depth, in_schema in _walk(schema):
            self.nodes += 1
            if self.nodes > s.max_schema_nodes:
                raise _refuse(f"{param}: the request's schemas have more than {s.max_schema_nodes} nodes", param,
                              "max_schema_nodes")
            if depth > s.max_schema_depth:
                raise _refuse(f"{param}: schema nested deeper than {s.max_schema_depth} levels", param,
                              "max_schema_depth")
            if not (in_schema and isinstance(node, dict)):
                continue
            refs = refs or "$ref" in node or "$dynamicRef" in node
            problem = _keyword_problem(node)
            if problem:
                raise InvalidRequest(f"{param}: not a valid JSON Schema: {problem}", param=param,
                                     code="invalid_schema")
            enum = node.get("enum")
            if isinstance(enum, list) and len(enum) > s.max_enum_values:
                raise _refuse(f"{param}: enum with {len(enum)} values > {s.max_enum_values}", param,
                              "max_enum_values")
            for pattern in _patterns(node):
                if len(pattern) > s.max_pattern_length:
                    raise _refuse(f"{param}: pattern longer than {s.max_pattern_length} characters", param,
                                  "max_pattern_length")
                reason = unsafe_reason(pattern)
                if reason:
                    raise InvalidRequest(f"{param}: pattern {pattern!r} risks catastrophic backtracking ({reason})",
                                         param=param, code="unsafe_pattern")
        loop = find_ref_cycle(schema) if refs else None
        if loop is not None:
            raise InvalidRequest(f"{param}: the schema at '{loop or '#'}' refers back to itself without consuming "
                                 "any input ($ref loop)", param=param, code="schema_ref_cycle")


def _patterns(node: dict[str, Any]) -> Iterator[str]:
    pattern = node.get("pattern")
    if isinstance(pattern, str):
        yield pattern
    extra = node.get("patternProperties")
    if isinstance(extra, dict):
        yield from (key for key in extra if isinstance(key, str))


def _walk(root: Any) -> Iterator[tuple[Any, int, bool]]:
    """Every JSON value under ``root`` with its depth and whether it sits where a (sub)schema may be
    (not inside ``enum`` / ``const`` / ``default`` / ``examples`` data). Iterative: any depth is safe."""
    stack: list[tuple[Any, int, bool, bool]] = [(root, 0, True, False)]  # (value, depth, in schema, name map)
    while stack:
        node, depth, in_schema, names = stack.pop()
        yield node, depth, in_schema and not names
        if isinstance(node, dict):
            for key, value in node.items():
                data = in_schema and not names and key in _VALUE_KEYS
                stack.append((value, depth + 1, in_schema and not data, in_schema and not names and key in _NAME_MAPS))
        elif isinstance(node, list):
            stack.extend((value, depth + 1, in_schema, False) for value in node)


_SUBSCHEMA = (dict, bool)
_MAP_KEYS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_LIST_KEYS = ("allOf", "anyOf", "oneOf", "prefixItems")
_ONE_KEYS = ("not", "if", "then", "else", "contains", "propertyNames", "additionalProperties",
             "unevaluatedProperties", "unevaluatedItems", "additionalItems")
_COUNT_KEYS = ("minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties", "minContains",
               "maxContains")
_NUMBER_KEYS = ("minimum", "maximum", "multipleOf")
_STRING_KEYS = ("pattern", "format", "$ref", "$dynamicRef", "$id", "$anchor", "$schema")


def _keyword_problem(node: dict[str, Any]) -> str | None:
    """A keyword whose value has the wrong JSON type (cheap: one look per keyword, no metaschema run).
    Lenient where real clients are: any type *name* (BFCL's ``dict``), draft-4 boolean exclusive bounds,
    draft-4 ``items`` arrays."""
    kind = node.get("type")
    if kind is not None and not (isinstance(kind, str) or (isinstance(kind, list) and kind
                                                             and all(isinstance(k, str) for k in kind))):
        return "'type' must be a type name or a list of them"
    required = node.get("required")
    if required is not None and not (isinstance(required, list) and all(isinstance(r, str) for r in required)):
        return "'required' must be a list of property names"
    if "enum" in node and not isinstance(node["enum"], list):
        return "'enum' must be a list"
    for key in _MAP_KEYS:
        if key in node and not (isinstance(node[key], dict) and all(isinstance(v, _SUBSCHEMA)
                                                                    for v in node[key].values())):
            return f"{key!r} must map names to schemas"
    for key in _LIST_KEYS:
        if key in node and not (isinstance(node[key], list) and node[key]
                                and all(isinstance(v, _SUBSCHEMA) for v in node[key])):
            return f"{key!r} must be a non-empty list of schemas"
    for key in _ONE_KEYS:
        if key in node and not isinstance(node[key], _SUBSCHEMA):
            return f"{key!r} must be a schema"
    items = node.get("items")
    if items is not None and not (isinstance(items, _SUBSCHEMA) or (isinstance(items, list)
                                                                    and all(isinstance(v, _SUBSCHEMA) for v in items))):
        return "'items' must be a schema"
    for key in _COUNT_KEYS:
        value = node.get(key)
        if value is not None and not (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
            return f"{key!r} must be a non-negative integer"
    for key in _NUMBER_KEYS:
        value = node.get(key)
        if value is not None and not (isinstance(value, int | float) and not isinstance(value, bool)):
            return f"{key!r} must be a number"
    multiple = node.get("multipleOf")
    if multiple is not None and multiple <= 0:
        return "'multipleOf' must be greater than 0"
    for key in ("exclusiveMinimum", "exclusiveMaximum"):
        if key in node and not isinstance(node[key], int | float):
            return f"{key!r} must be a number"
    for key in _STRING_KEYS:
        if key in node and not isinstance(node[key], str):
            return f"{key!r} must be a string"
    for key in ("uniqueItems", "nullable"):
        if key in node and not isinstance(node[key], bool):
            return f"{key!r} must be a boolean"
    required_deps = node.get("dependentRequired")
    if required_deps is not None and not (isinstance(required_deps, dict) and all(
            isinstance(v, list) and all(isinstance(n, str) for n in v) for v in required_deps.values())):
        return "'dependentRequired' must map names to lists of names"
    return None
