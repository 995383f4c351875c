"""Tools: a name, a description, a JSON Schema for the arguments, and an async call that returns text.

``tools_from_module`` turns every public, type-annotated function of a Python module (a file path or a
dotted module name) into a tool: docstring summary -> description, Google/numpy ``Args``/``Parameters``
entries -> parameter descriptions, annotations -> JSON Schema via a pydantic model built from the signature.
A tool never raises at call time: bad arguments and exceptions come back as ``Error: ...`` text (an
``ErrorText``, so that an MCP server can flag it ``isError``), which is what the model should see as the
observation.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import importlib.util
import inspect
import json
import re
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, get_type_hints

import pydantic

from toolproxy.agent.errors import ToolLoadError

ToolCall = Callable[[dict[str, Any]], Awaitable[str]]
SECTION = re.compile(r"^\s*(Args|Arguments|Parameters|Params|Returns?|Raises|Yields|Examples?|Notes?)\s*:?\s*$")
GOOGLE_PARAM = re.compile(r"^\s*(\*{0,2}\w+)\s*(\([^)]*\))?\s*:\s*(.*)$")
NUMPY_PARAM = re.compile(r"^\s*(\w+)\s*:\s*(.*)$")


class ErrorText(str):
    """A tool's answer that reports a failure (``Error: ...``): plain text to the agent loop, ``isError`` over MCP."""

    __slots__ = ()


def error_text(message: str) -> ErrorText:
    return ErrorText(f"Error: {message}")


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]
    call: ToolCall = field(repr=False, compare=False)
    args_model: type[pydantic.BaseModel] | None = field(default=None, repr=False, compare=False)

    def openai(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }


def render_result(value: Any) -> str:
    """What the model reads back: strings as they are, everything else as compact JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, pydantic.BaseModel):
        return value.model_dump_json()
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(value)


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """(summary, {param: description}) from a Google- or numpy-style docstring."""
    lines = inspect.cleandoc(doc or "").splitlines()
    summary: list[str] = []
    params: dict[str, str] = {}
    section: str | None = None
    numpy = False
    param_indent: int | None = None
    current: str | None = None
    for line in lines:
        head = SECTION.match(line)
        if head:
            section, numpy, param_indent, current = head.group(1).lower(), False, None, None
            continue
        if section is None:
            summary.append(line)
            continue
        stripped = line.strip()
        if not stripped or section not in ("args", "arguments", "parameters", "params"):
            continue
        if set(stripped) == {"-"}:
            numpy = True
            continue
        indent = len(line) - len(line.lstrip())
        if param_indent is None:
            param_indent = indent
        if indent <= param_indent:
            match = NUMPY_PARAM.match(line) if numpy else GOOGLE_PARAM.match(line)
            current = (match.group(1) if match else stripped.split()[0]).lstrip("*")
            params[current] = "" if numpy or not match else match.group(3 if not numpy else 2).strip()
        elif current is not None:
            params[current] = (params[current] + " " + stripped).strip()
    return "\n".join(summary).strip(), params


def strip_titles(schema: Any) -> Any:
    """pydantic's ``title`` keys are noise in a prompt; drop them (but keep properties named ``title``)."""
    if isinstance(schema, dict):
        out: dict[str, Any] = {}
        for key, value in schema.items():
            if key == "title" and isinstance(value, str):
                continue
            if key in ("properties", "$defs", "definitions") and isinstance(value, dict):
                out[key] = {name: strip_titles(sub) for name, sub in value.items()}
            else:
                out[key] = strip_titles(value)
        return out
    if isinstance(schema, list):
        return [strip_titles(item) for item in schema]
    return schema


def is_annotated(fn: Callable[..., Any]) -> bool:
    sig = inspect.signature(fn)
    params = [p for p in sig.parameters.values() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if any(p.annotation is inspect.Parameter.empty for p in params):
        return False
    return bool(params) or sig.return_annotation is not inspect.Signature.empty


def tool_from_function(fn: Callable[..., Any], *, name: str | None = None) -> Tool:
    """One tool from a type-annotated function (sync functions run in a worker thread)."""
    tool_name = name or fn.__name__
    summary, param_docs = parse_docstring(fn.__doc__)
    try:
        hints = get_type_hints(fn)
    except (NameError, TypeError) as exc:
        raise ToolLoadError(f"cannot resolve the annotations of {tool_name}: {exc}") from exc
    fields: dict[str, Any] = {}
    sig = inspect.signature(fn)
    for param in sig.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        default = ... if param.default is inspect.Parameter.empty else param.default
        info = pydantic.Field(default, description=param_docs.get(param.name) or None)
        fields[param.name] = (hints.get(param.name, Any), info)
    try:
        model = pydantic.create_model(
            f"{tool_name}_args", __config__=pydantic.ConfigDict(extra="forbid"), **fields
        )
        schema = strip_titles(model.model_json_schema())
    except (pydantic.PydanticSchemaGenerationError, TypeError) as exc:
        raise ToolLoadError(f"cannot build a JSON Schema for {tool_name}: {exc}") from exc
    schema.setdefault("properties", {})
    is_async = inspect.iscoroutinefunction(fn)

    async def call(arguments: dict[str, Any]) -> str:
        try:
            parsed = model.model_validate(arguments)
        except pydantic.ValidationError as exc:
            return error_text(f"invalid arguments for {tool_name}: {exc.errors(include_url=False)}")
        kwargs = {key: getattr(parsed, key) for key in fields}
        try:
            if is_async:
                result = await fn(**kwargs)
            else:
                result = await asyncio.to_thread(fn, **kwargs)
        except Exception as exc:  # the tool's failure is the model's observation
            return error_text(f"{type(exc).__name__}: {exc}")
        return render_result(result)

    description = summary or f"Call {tool_name}."
    return Tool(tool_name, description, schema, call, model)


def load_module(source: str) -> ModuleType:
    """A module from a ``.py`` path (loaded under a private name) or an importable dotted name."""
    path = Path(source)
    if source.endswith(".py") or path.is_file():
        if not path.is_file():
            raise ToolLoadError(f"tools module not found: {source}")
        digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
        name = f"toolproxy_tools_{path.stem}_{digest}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ToolLoadError(f"cannot load {source} as a Python module")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses/pydantic look their module up while the body runs
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            sys.modules.pop(name, None)
            raise ToolLoadError(f"importing {source} failed: {type(exc).__name__}: {exc}") from exc
        return module
    try:
        return importlib.import_module(source)
    except ImportError as exc:
        raise ToolLoadError(f"cannot import tools module {source!r}: {exc}") from exc


def module_functions(source: str | ModuleType) -> list[Callable[..., Any]]:
    """Every public, type-annotated function *defined in* the module, in definition order."""
    module = load_module(source) if isinstance(source, str) else source
    found: list[Callable[..., Any]] = []
    for name, obj in vars(module).items():
        if name.startswith("_") or not inspect.isfunction(obj) or obj.__module__ != module.__name__:
            continue
        if is_annotated(obj):
            found.append(obj)
    if not found:
        raise ToolLoadError(f"{module.__name__} defines no public, type-annotated function")
    return found


def tools_from_module(source: str | ModuleType) -> list[Tool]:
    return [tool_from_function(fn) for fn in module_functions(source)]
