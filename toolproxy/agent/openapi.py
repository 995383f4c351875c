"""Tools from an OpenAPI document: one tool per operation, called over HTTP with httpx.

Path and query parameters and a JSON request body are merged into one arguments object (a non-object body
goes under ``body``). ``$ref``s into ``components/schemas`` are inlined (cycles are cut after a fixed depth).
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urljoin

import httpx

from toolproxy.agent.errors import ToolLoadError
from toolproxy.agent.tools import Tool, error_text, render_result

METHODS = ("get", "post", "put", "patch", "delete")
MAX_REF_DEPTH = 16
UNSAFE_NAME = re.compile(r"[^a-zA-Z0-9_-]+")


def resolve(schema: Any, doc: dict[str, Any], depth: int = 0) -> Any:
    """Inline local ``$ref``s (``#/components/...``); beyond MAX_REF_DEPTH a ref becomes ``{}`` (any)."""
    if isinstance(schema, list):
        return [resolve(item, doc, depth) for item in schema]
    if not isinstance(schema, dict):
        return schema
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        if depth >= MAX_REF_DEPTH:
            return {}
        target: Any = doc
        for part in ref[2:].split("/"):
            target = target.get(part.replace("~1", "/").replace("~0", "~"), {}) if isinstance(target, dict) else {}
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        return resolve({**target, **rest}, doc, depth + 1)
    return {key: resolve(value, doc, depth) for key, value in schema.items() if key != "title"}


def operation_name(method: str, path: str, op: dict[str, Any]) -> str:
    raw = op.get("operationId") or f"{method}_{path}"
    return UNSAFE_NAME.sub("_", str(raw)).strip("_")[:64] or method


def operation_tool(client: httpx.AsyncClient, base: str, doc: dict[str, Any], method: str, path: str,
                   op: dict[str, Any], common: list[Any]) -> Tool:
    properties: dict[str, Any] = {}
    required: list[str] = []
    locations: dict[str, str] = {}
    for param in [*common, *op.get("parameters", [])]:
        param = resolve(param, doc)
        if not isinstance(param, dict) or param.get("in") not in ("path", "query", "header"):
            continue
        name = str(param["name"])
        prop = dict(param.get("schema") or {})
        if param.get("description"):
            prop["description"] = param["description"]
        properties[name] = prop
        locations[name] = str(param["in"])
        if param.get("required") or param.get("in") == "path":
            required.append(name)
    body_mode: str | None = None
    body: dict[str, Any] = {}
    content = (resolve(op.get("requestBody") or {}, doc).get("content") or {}).get("application/json")
    if isinstance(content, dict):
        body = content.get("schema") or {}
        if body.get("type") == "object" and isinstance(body.get("properties"), dict):
            body_mode = "merge"
            properties.update(body["properties"])
            required += [r for r in body.get("required", []) if r not in required]
        else:
            body_mode = "body"
            properties["body"] = body
            required.append("body")
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if body_mode is None or (body_mode == "merge" and body.get("additionalProperties") is False):
        schema["additionalProperties"] = False  # every accepted argument is listed
    if required:
        schema["required"] = required
    name = operation_name(method, path, op)
    description = str(op.get("description") or op.get("summary") or f"{method.upper()} {path}")

    async def call(arguments: dict[str, Any]) -> str:
        url_path = path
        query: dict[str, Any] = {}
        headers: dict[str, str] = {}
        payload: Any = None
        for key, value in arguments.items():
            where = locations.get(key)
            if where == "path":
                url_path = url_path.replace("{" + key + "}", str(value))
            elif where == "query":
                query[key] = value
            elif where == "header":
                headers[key] = str(value)
            elif body_mode == "body" and key == "body":
                payload = value
            elif body_mode == "merge":
                payload = {**(payload or {}), key: value}
        if body_mode == "merge" and payload is None:
            payload = {}
        try:
            response = await client.request(method.upper(), base + url_path, params=query,
                                            headers=headers, json=payload)
        except httpx.HTTPError as exc:
            return error_text(f"{method.upper()} {path} failed: {type(exc).__name__}: {exc}")
        try:
            data: Any = response.json()
        except ValueError:
            data = response.text
        if response.is_error:
            return error_text(f"HTTP {response.status_code}: {render_result(data)}")
        return render_result(data)

    return Tool(name, description, schema, call)


def document_url(url: str) -> str:
    return url if url.rstrip("/").endswith(".json") else url.rstrip("/") + "/openapi.json"


async def tools_from_openapi(url: str, client: httpx.AsyncClient) -> list[Tool]:
    """Fetch ``url`` (or ``url/openapi.json``) and map its operations to tools that use ``client``."""
    doc_url = document_url(url)
    try:
        response = await client.get(doc_url)
        response.raise_for_status()
        doc = response.json()
    except (httpx.HTTPError, json.JSONDecodeError) as exc:
        raise ToolLoadError(f"cannot read an OpenAPI document at {doc_url}: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("paths"), dict):
        raise ToolLoadError(f"{doc_url} is not an OpenAPI document (no 'paths')")
    servers = doc.get("servers") or [{"url": "/"}]
    base = urljoin(doc_url, str(servers[0].get("url", "/"))).rstrip("/")
    tools: list[Tool] = []
    for path, item in doc["paths"].items():
        if not isinstance(item, dict):
            continue
        for method in METHODS:
            op = item.get(method)
            if isinstance(op, dict):
                tools.append(operation_tool(client, base, doc, method, str(path), op, item.get("parameters", [])))
    if not tools:
        raise ToolLoadError(f"{doc_url} has no operations")
    return tools
