"""How a style's output is marked: the data the one scanner (:mod:`toolproxy.parsing.scanner`) runs on.

A style never writes streaming code; it describes its output with an :class:`OutputFormat`:

- **regions**: where tool calls live. A region opens at a literal ``start`` marker (``<tool_call>``,
  ``[TOOL_CALLS]``, ``<|from|>assistant\\n<|recipient|>``, ...) and holds one *body*:

  * :class:`JsonBody` -- one JSON value whose parts play roles chosen by path rules: ``()`` -> the
    value itself is a call object (hermes), ``("*",)`` -> a list of call objects (mixtral), or a whole
    envelope such as thoughtful_steps' ``{"thought_about_next_step_only": ..., "next_step": {...}}``
    with a reasoning path, a text path and a calls path.
  * :class:`NamedCallBody` -- ``NAME<name_end>{json arguments}`` (functionary, ``<function=NAME>``,
    ``>>>NAME\\n``), optionally ``NAME<id_marker>ID<name_end>{json}`` (Mistral Small 3.2's ``[CALL_ID]``).
  * :class:`PythonCallsBody` -- ``[f(a=1), g(b="x")]`` parsed with :mod:`ast` (never ``eval``).
  * :class:`GemmaCallBody` -- Gemma 4's ``call:NAME{key:<|"|>text<|"|>,n:3}`` (:mod:`.gemma`).

  ``end`` (optional) is a closing marker consumed after the body (``</tool_call>``); a missing one is
  tolerated. ``keep_start`` makes the start marker the first character(s) of the body too (``{`` or
  ``[`` for whole-output formats); ``anchored`` regions are recognised only at the very start of the
  output (before any text), so a text that merely contains a ``[`` is never turned into a call.
- **silent**: markers removed from the text and otherwise ignored (``<|stop|>``, functionary's
  ``<|from|>assistant\\n<|recipient|>all\\n<|content|>`` text header).
- **think**: a ``<think>...</think>`` block at the start of the output becomes reasoning; the closer alone
  there is an empty block (MiniMax M3 writes ``</mm:think>`` when it does not think).
- **dedupe_calls**: an exact repeat of an earlier call of the same answer (same name, same compact
  arguments) is dropped, and so is a cut-off call whose arguments are a prefix of an earlier call's: small
  models repeat their call until ``max_tokens``. The price: a second call to an already-called tool is
  streamed whole when it ends instead of incrementally (calls to other tools still stream as generated).

Everything else is text (``content``). Text is trimmed of whitespace at its start, at its end and around
call regions (whitespace is held back until non-blank text follows).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Role = Literal["call", "text", "reasoning"]
PathPattern = tuple[str, ...]
"""A path inside a JSON body: object keys, ``"*"`` matches any array index."""


@dataclass(frozen=True)
class CallKeys:
    """Which keys of a JSON call object hold the tool name and its arguments (first present wins)."""

    name: tuple[str, ...] = ("name",)
    arguments: tuple[str, ...] = ("arguments", "parameters")
    name_is_key: bool = False
    """The call object's one key is the tool name, its value the arguments: Apertus's ``{"get_weather": {...}}``."""


@dataclass(frozen=True)
class JsonBody:
    """One JSON value; ``rules`` map paths to roles. Values at other paths are structure (not emitted).

    A ``call`` path holds a call object (``{"name": ..., "arguments": {...}}``, keys per ``keys``).
    A ``text``/``reasoning`` path holds a string streamed as decoded text (any other JSON value is
    emitted as its compact JSON text).
    """

    rules: tuple[tuple[PathPattern, Role], ...] = (((), "call"),)
    keys: CallKeys = field(default_factory=CallKeys)


@dataclass(frozen=True)
class NamedCallBody:
    """``NAME`` up to the literal ``name_end``, then the arguments as one JSON value.

    ``id_marker``: the name may also end at this literal, followed by a call id (or other text, ignored) up to
    ``name_end``: Mistral Small 3.2's ``NAME[CALL_ID]a1B2c3D4e[ARGS]{...}`` (several literals: the first that
    completes ends the name). ``name_start``: a call id (ignored)
    comes first and the name follows this literal: Solar's ``ID<|tool_call:name|>NAME<|tool_call:args|>{...}``.
    """

    name_end: str
    max_name_len: int = 256
    id_marker: str | tuple[str, ...] | None = None
    name_start: str | None = None


@dataclass(frozen=True)
class PythonCallsBody:
    """A Python list of calls ``[f(a=1), mod.g(b="x")]``; keyword arguments only, literal values."""


@dataclass(frozen=True)
class GemmaCallBody:
    """One Gemma 4 call, ``call:NAME{key:<|"|>text<|"|>,n:3}`` (see :mod:`toolproxy.parsing.gemma`)."""


@dataclass(frozen=True)
class XmlParamsBody:
    """Calls whose arguments are written one parameter at a time, a string value as raw text and any other
    value as JSON (Qwen3-Coder's ``<function=NAME><parameter=k>v</parameter></function>``, GLM's
    ``NAME<arg_key>k</arg_key><arg_value>v</arg_value>``, MiniMax M2's
    ``<invoke name="NAME"><parameter name="k">v</parameter></invoke>``). The arguments stream as the JSON
    object the parameters build (see :mod:`toolproxy.parsing.xmlparams`).

    ``name_open``: the literal before each call's name ("" = the name comes first, bare, and ends at
    whitespace or ``<``; one call per region); ``name_close`` ends a name after ``name_open``. ``param_open``
    starts a parameter, its key ends at ``key_close``; ``value_open`` (optional) starts the value (whatever
    stands between ``key_close`` and it is ignored: DSML's ``string="true"``), ``value_close`` ends it.
    ``name_sep``: a literal that follows a bare name (Hunyuan's ``<tool_sep:opensource>``; MiniCPM5's ``">`` after
    ``<function name="``: a bare name also ends where ``name_sep`` does).
    ``cdata``: a string value may be wrapped in ``<![CDATA[...]]>`` (MiniCPM5 wraps one holding ``<``, ``&`` or a
    newline): the wrapper is not part of the value.
    ``call_close`` ends a call ("" = the call ends where no further parameter follows). ``trim_newline``:
    one newline right after the value's start and one right before its end belong to the layout.
    ``strings``: per tool, the parameters whose schema type is string: their value is always a string;
    any other value is parsed as JSON, or is a string when it is not valid JSON.
    ``name_tail``: after ``name_close``, whatever stands up to this literal is ignored (Kimi K3's
    `` index="1"<|sep|>``). ``keyed_close``: ``value_close`` is followed by the key and ``key_close`` again
    (MiniMax M3's ``]<]minimax[>[</city>``). ``nested``: the prefix of every element tag where a non-string
    value may hold elements (MiniMax M3's ``]<]minimax[>[``: ``<item>`` children are a list's items, other tags
    an object's keys, see :func:`toolproxy.parsing.xmlparams.nested_value`), typed by ``schemas``: per tool and
    parameter, its JSON Schema as JSON text.
    """

    param_open: str
    key_close: str
    value_close: str
    name_open: str = ""
    name_close: str = ">"
    name_sep: str = ""
    value_open: str = ""
    call_close: str = ""
    trim_newline: bool = False
    cdata: bool = False
    strings: tuple[tuple[str, tuple[str, ...]], ...] = ()
    max_name_len: int = 256
    name_tail: str = ""
    keyed_close: bool = False
    nested: str = ""
    schemas: tuple[tuple[str, str, str], ...] = ()


Body = JsonBody | NamedCallBody | PythonCallsBody | XmlParamsBody | GemmaCallBody


@dataclass(frozen=True)
class Region:
    start: str
    body: Body
    end: str | None = None
    keep_start: bool = False
    anchored: bool = False
    repeat: bool = False
    """Further bodies may follow the first before ``end`` (whitespace between): MiniMax M1's
    ``<tool_calls>\n{call}\n{call}\n</tool_calls>``. A JSON body repeats when the next non-blank character
    is ``{``; anything else ends the region as a missing ``end`` does."""


@dataclass(frozen=True)
class OutputFormat:
    regions: tuple[Region, ...] = ()
    silent: tuple[str, ...] = ()
    think: tuple[str, str] | None = ("<think>", "</think>")
    dedupe_calls: bool = True
    continues: bool = False
    """The text continues a message (``continue_final_message``, Anthropic's prefill): its leading whitespace
    is part of the answer, not trimmed."""


PLAIN_TEXT = OutputFormat()
"""No calls at all: everything is content (``<think>`` still becomes reasoning)."""


def plain_format() -> OutputFormat:
    return PLAIN_TEXT
