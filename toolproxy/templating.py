"""Chat templates: a *sandboxed* jinja2 environment with the helpers Hugging Face templates use.

Templates from GGUF files are untrusted code: ``ImmutableSandboxedEnvironment`` blocks access to Python
internals (``__class__``, ``__globals__``, ...) and mutation of the objects we hand in.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from functools import lru_cache
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension
from jinja2.parser import Parser
from jinja2.sandbox import ImmutableSandboxedEnvironment

from toolproxy.errors import InvalidRequest
from toolproxy.resources import read_text


class TemplateError(InvalidRequest):
    """The chat template refused the conversation (``raise_exception``) or failed to render."""


def _raise_exception(message: str) -> None:
    raise TemplateError(f"chat template refused the conversation: {message}")


def _tojson(value: Any, indent: int | None = None, ensure_ascii: bool = False, **_: Any) -> str:
    return json.dumps(value, indent=indent, ensure_ascii=ensure_ascii, default=_iterable_as_list)


def _iterable_as_list(value: Any) -> list[Any]:
    """``tools | map(attribute='function') | tojson``: jinja's filters yield generators; JSON them as lists."""
    if isinstance(value, Iterator):
        return list(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


class _GenerationTag(Extension):
    """``{% generation %}...{% endgeneration %}`` (Hugging Face's assistant-mask marker): renders its body."""

    tags = {"generation"}

    def parse(self, parser: Parser) -> nodes.Node:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return nodes.Scope(body, lineno=lineno)


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


def _make_env() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.loopcontrols", _GenerationTag],
        undefined=jinja2.Undefined,
    )
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    return env


@lru_cache(maxsize=64)
def _compile(source: str) -> jinja2.Template:
    try:
        return _make_env().from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"chat template does not parse: {exc}") from exc


def render_chat(
    source: str,
    messages: list[dict[str, Any]],
    *,
    add_generation_prompt: bool = True,
    bos_token: str = "",
    eos_token: str = "",
    tools: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> str:
    """Render ``messages`` with the chat template ``source``."""
    template = _compile(source)
    try:
        return template.render(
            messages=messages,
            add_generation_prompt=add_generation_prompt,
            bos_token=bos_token,
            eos_token=eos_token,
            tools=tools,
            **extra,
        )
    except TemplateError:
        raise
    except jinja2.exceptions.SecurityError as exc:
        raise TemplateError(f"chat template tried an unsafe operation: {exc}") from exc
    except Exception as exc:  # a template bug must not become a 500 with a traceback
        raise TemplateError(f"chat template failed to render: {type(exc).__name__}: {exc}") from exc


def fallback_template(architecture: str | None) -> str:
    """The chat template used when the model ships none: Gemma's turn format for gemma models, else ChatML."""
    name = "gemma.jinja" if architecture and architecture.startswith("gemma") else "chatml.jinja"
    return read_text("templates", f"chat/{name}")
