"""Families whose calls write each parameter as its own element (issue 15): one class, :class:`XmlParams`, and
one small subclass of data per family. A string value is raw text, any other value JSON, as the families'
templates write them.

================  ===========================================================================================
style             the model writes (as its own chat template writes calls)
================  ===========================================================================================
``qwen3_coder``   ``<tool_call>\\n<function=NAME>\\n<parameter=k>\\nv\\n</parameter>\\n</function>\\n</tool_call>``
                  per call (Qwen3-Coder, Qwen3.5, Nemotron 3 Nano, StepFun 3.5 Flash)
``seed_oss``      the same inside ``<seed:tool_call>``, values without the newlines (Seed-OSS)
``glm``           ``<tool_call>NAME\\n<arg_key>k</arg_key>\\n<arg_value>v</arg_value>\\n</tool_call>`` per call
                  (GLM 4.5-4.7, Spark 2.5, Ling 3.0, Laguna)
``minimax_m2``    ``<minimax:tool_call>\\n<invoke name="NAME">\\n<parameter name="k">v</parameter>\\n</invoke>\\n``
                  ``...</minimax:tool_call>`` (MiniMax M2)
================  ===========================================================================================

Grammar: ``auto`` = text (which cannot contain the call marker), then optionally the calls; ``required`` (and
a named tool) = the calls; ``none`` = text; ``parallel`` false = one call. A call writes the tool's required
parameters (in the schema's order), then any of its optional ones; a string parameter is raw text that
cannot contain the value's closing marker (one of its ``enum`` values when it has one), any other parameter
its JSON-schema grammar. A schema that is not a plain object of properties admits any parameter names with
raw values. A raw string value is bounded (:func:`~toolproxy.styles.grammar_kit.bounded_text_excluding`) by its
schema's ``maxLength`` / ``minLength``, and under required/named by ``CallPolicy.value_chars``, which the service
sets from ``max_tokens`` so that the call always fits (:meth:`XmlParams.call_cost`, toolproxy/reasoning.py).
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from toolproxy.errors import UnsupportedSchema
from toolproxy.grammar import GrammarBuilder, gbnf_literal
from toolproxy.parsing.format import OutputFormat, Region, XmlParamsBody
from toolproxy.protocol import ChatMessage
from toolproxy.styles.base import CallPolicy, ToolSpec
from toolproxy.styles.common import Call, dumps
from toolproxy.styles.grammar_kit import bounded_text_excluding, text_excluding
from toolproxy.styles.prompting import ComposedStyle
from toolproxy.styles.pyliteral import PyLiteralGrammar

BOUND_LIMIT = 2000  # llama.cpp's largest exact repetition count


def _is_string_schema(schema: Any) -> bool:
    """A schema of strings only: ``type`` string, or no type and an ``enum`` of strings (written raw, as the
    templates write a string value)."""
    if not isinstance(schema, dict):
        return False
    kind = schema.get("type")
    enum = schema.get("enum")
    if kind is None and isinstance(enum, list) and enum and all(isinstance(e, str) for e in enum):
        return True
    return kind == "string" or (isinstance(kind, list) and kind == ["string"])


def _properties(tool: ToolSpec) -> dict[str, Any] | None:
    """The tool's parameters as ``{name: schema}``, or None when its schema is not a plain object of them."""
    schema = tool.parameters or {}
    plain = {"type", "properties", "required", "additionalProperties", "description", "title", "$schema"}
    if not isinstance(schema, dict) or set(schema) - plain:
        return None
    props = schema.get("properties") or {}
    return props if isinstance(props, dict) else None


class XmlParams(ComposedStyle):
    """Data: the region's markers, how a call and its parameters are written (see
    :class:`~toolproxy.parsing.format.XmlParamsBody`); ``NL`` is the layout between elements, ``PER_CALL``:
    one region per call (else all calls in one region)."""

    REGION_OPEN: ClassVar[str]
    REGION_CLOSE: ClassVar[str]
    NAME_OPEN: ClassVar[str] = ""
    NAME_CLOSE: ClassVar[str] = ">"
    PARAM_OPEN: ClassVar[str]
    KEY_CLOSE: ClassVar[str]
    VALUE_OPEN: ClassVar[str] = ""
    VALUE_CLOSE: ClassVar[str]
    NAME_SEP: ClassVar[str] = ""  # after a bare name (Hunyuan's <tool_sep:opensource>)
    CALL_CLOSE: ClassVar[str] = ""
    TRIM_NEWLINE: ClassVar[bool] = False
    NL: ClassVar[str] = "\n"
    LOOSE_NL: ClassVar[bool] = False  # the grammar admits the layout newlines or none (GLM 4.6 vs 4.7)
    PER_CALL: ClassVar[bool] = True
    REGION_SEP: ClassVar[str | None] = None  # between two calls' regions (None: ``NL``); silent unless blank
    HEADER: ClassVar[str] = ""
    """Before each call's region (``PER_CALL`` only), ``{name}`` standing for the call's name (Muse Glimmer's
    recipient `` to={name}<|message|>``, derived): written in history and grammar (tied to the call's tool),
    silent to the scanner (one silent marker per tool)."""
    CDATA: ClassVar[bool] = False  # a string holding ``<``, ``&`` or a newline is wrapped in <![CDATA[...]]>
    OUTER: ClassVar[tuple[str, str] | tuple[()]] = ()
    """Markers around all the calls, outside their regions (Hunyuan's ``<tool_calls:opensource>``): written in
    history and grammar, silent to the scanner."""
    STRING_ATTR: ClassVar[tuple[str, str]] = ("", "")
    """Written after a parameter's key for a string value / any other value (DSML's ``string="true"``); the
    scanner ignores what stands between ``KEY_CLOSE`` and ``VALUE_OPEN``."""
    LEAD: ClassVar[int] = 0  # blank lines the template writes before the calls (GLM / Laguna 1, DSML 2)
    PY_VALUES: ClassVar[bool] = False
    """The template writes non-string values with Jinja's ``| string`` (Python's ``True``, ``['a', 'b']``): the
    grammar admits that spelling besides JSON, the scanner reads both."""
    VALUE_GAP: ClassVar[bool] = True  # the layout newline between the key's end and ``VALUE_OPEN`` (GLM)
    INDEX: ClassVar[tuple[str, str] | tuple[()]] = ()
    """Around the call's 1-based index after ``NAME_CLOSE`` (Kimi K3's `` index="1"<|sep|>``): the scanner
    ignores what stands up to the second."""
    TYPE_ATTR: ClassVar[str] = ""
    """After a parameter's key, ``{}`` the value's JSON type (string, number, boolean, null, array, object), as
    Kimi K3 writes `` type="number"``: the grammar ties it to the schema's type, the scanner ignores it."""
    SAID: ClassVar[tuple[str, str] | tuple[()]] = ()
    """Markers the answer's text always stands between, before the calls (Kimi K3's response channel): silent
    to the scanner; the grammar writes them (the opener optional: a prompt without thinking ends with it)."""
    KEYED_CLOSE: ClassVar[bool] = False  # ``VALUE_CLOSE`` + the key + ``KEY_CLOSE`` ends a value (MiniMax M3)
    CALL_NL: ClassVar[str | None] = None  # the layout after ``CALL_CLOSE`` and a shared region's opener (None: NL)
    THINK: ClassVar[tuple[str, str] | None] = ("<think>", "</think>")
    TOOL_RESULT: ClassVar[str] = "<tool_response>\n{content}\n</tool_response>"

    # ------------------------------------------------------------------ rendering

    def _value_text(self, value: Any) -> str:
        text = value if isinstance(value, str) else dumps(value)
        if self.CDATA and isinstance(value, str) and any(c in value for c in "<&\n"):
            text = f"<![CDATA[{text}]]>"
        return f"\n{text}\n" if self.TRIM_NEWLINE else text

    def _call_text(self, call: Call, index: int = 1) -> str:
        nl = self.NL
        args = call.arguments if isinstance(call.arguments, dict) else {}
        params = "".join(
            f"{self.PARAM_OPEN}{k}{self.KEY_CLOSE}{self.STRING_ATTR[0 if isinstance(v, str) else 1]}"
            f"{self.TYPE_ATTR.format(json_type(v)) if self.TYPE_ATTR else ''}"
            f"{nl if self.VALUE_OPEN and self.VALUE_GAP else ''}{self.VALUE_OPEN}"
            f"{self._value_text(v)}{self.VALUE_CLOSE}{k + self.KEY_CLOSE if self.KEYED_CLOSE else ''}{nl}"
            for k, v in args.items()
        )
        numbered = f"{self.INDEX[0]}{index}{self.INDEX[1]}" if self.INDEX else ""
        head = (f"{self.NAME_OPEN}{call.name}{self.NAME_CLOSE}{numbered}{nl}" if self.NAME_OPEN
                else f"{call.name}{self.NAME_SEP}{nl}")
        return f"{head}{params}{self.CALL_CLOSE + self._call_nl() if self.CALL_CLOSE else ''}"

    def calls_text(self, calls: list[Call]) -> str:
        nl = self.NL
        if self.PER_CALL:
            lead = nl if self.NAME_OPEN else ""
            text = self._region_sep().join(f"{self._header(c.name)}{self.REGION_OPEN}{lead}{self._call_text(c)}"
                                           f"{self.REGION_CLOSE}" for c in calls)
        else:
            written = "".join(self._call_text(c, i) for i, c in enumerate(calls, 1))
            text = f"{self.REGION_OPEN}{self._call_nl()}{written}{self.REGION_CLOSE}"
        text = f"{self.OUTER[0]}{nl}{text}{nl}{self.OUTER[1]}" if self.OUTER else text
        return f"{self.SAID[0]}{self.SAID[1]}{text}" if self.SAID else text

    def _assistant(self, text: str, calls: list[Call], _: ChatMessage) -> str:
        if self.SAID:
            return f"{self.SAID[0]}{text}{self.SAID[1]}" + (self.calls_text(calls)[len("".join(self.SAID)):]
                                                            if calls else "")
        return "\n".join(part for part in (text, self.calls_text(calls) if calls else "") if part)

    # ------------------------------------------------------------------ grammar

    def _region_sep(self) -> str:
        return self.NL if self.REGION_SEP is None else self.REGION_SEP

    def _header(self, name: str) -> str:
        return self.HEADER.replace("{name}", name)

    def _call_nl(self) -> str:
        return self.NL if self.CALL_NL is None else self.CALL_NL

    def _call_nl_rule(self) -> str:
        if self.CALL_NL is None:
            return self._nl()
        return gbnf_literal(self.CALL_NL) if self.CALL_NL else ""

    def _nl(self) -> str:
        if not self.NL:
            return ""
        return f"{gbnf_literal(self.NL)}?" if self.LOOSE_NL else gbnf_literal(self.NL)

    def _param(self, b: GrammarBuilder, raw: str, tool: ToolSpec, key: str | None, schema: Any,
               chars: int | None = None) -> str:
        nl = self._nl()
        name = gbnf_literal(key) if key is not None else text_key(b, self.KEY_CLOSE)
        is_string = key is None or _is_string_schema(schema)
        if is_string:
            enum = schema.get("enum") if isinstance(schema, dict) else None
            if isinstance(enum, list) and enum and all(isinstance(e, str) for e in enum):
                value = "( " + " | ".join(gbnf_literal(e) for e in enum) + " )"
            else:
                value = self._raw_value(b, raw, schema, chars)
        else:
            value = self._typed_value(b, schema, f"{tool.name}-{key}")
        trim = gbnf_literal("\n") if self.TRIM_NEWLINE else ""
        gap = nl if self.VALUE_OPEN and self.VALUE_GAP else ""
        attr = self.STRING_ATTR[0 if is_string else 1]
        close = gbnf_literal(self.VALUE_CLOSE)
        if self.KEYED_CLOSE:
            close = (gbnf_literal(self.VALUE_CLOSE + key + self.KEY_CLOSE) if key is not None
                     else f"{close} {name} {gbnf_literal(self.KEY_CLOSE)}")
        return (f"{gbnf_literal(self.PARAM_OPEN)} {name} {gbnf_literal(self.KEY_CLOSE + attr)} "
                f"{self._type_attr(schema, is_string)} {gap} "
                f"{gbnf_literal(self.VALUE_OPEN) if self.VALUE_OPEN else ''} {trim} {value} {trim} {close} {nl}")

    def _typed_value(self, b: GrammarBuilder, schema: Any, name: str) -> str:
        """A non-string parameter's value: its schema's JSON (or the Python literal, ``PY_VALUES``)."""
        value = b.add_schema(schema if isinstance(schema, dict | bool) else {}, name)
        return self._or_python(b, value, schema, f"{name}-py") if self.PY_VALUES else value

    def _type_attr(self, schema: Any, is_string: bool) -> str:
        """``TYPE_ATTR`` for a value of this schema: the schema's JSON types, any but string when it names none
        (a value of a non-string schema is written as JSON)."""
        if not self.TYPE_ATTR:
            return ""
        if is_string:
            return gbnf_literal(self.TYPE_ATTR.format("string"))
        kind = schema.get("type") if isinstance(schema, dict) else None
        named = {JSON_TYPES[k] for k in (kind if isinstance(kind, list) else [kind]) if isinstance(k, str)
                 and k in JSON_TYPES} - {"string"}
        kinds = sorted(named) or sorted(set(JSON_TYPES.values()) - {"string"})
        return "( " + " | ".join(gbnf_literal(self.TYPE_ATTR.format(k)) for k in kinds) + " )"

    def _or_python(self, b: GrammarBuilder, json_value: str, schema: Any, name: str) -> str:
        """A non-string value as JSON or as the Python literal ``str()`` writes (``True``, ``['a', 'b']``);
        JSON only where the schema has no Python-literal grammar."""
        try:
            python = PyLiteralGrammar(b).value(schema, name, "")
        except UnsupportedSchema:
            return json_value
        return f"( {json_value} | {python} )"

    def _raw_value(self, b: GrammarBuilder, raw: str, schema: Any, chars: int | None) -> str:
        """A raw string value: at most the schema's ``maxLength`` characters (exactly: no ``<`` then) and at
        most ``chars`` units (:func:`bounded_text_excluding`), else ``raw`` (unbounded)."""
        lo = schema.get("minLength", 0) if isinstance(schema, dict) else 0
        top = schema.get("maxLength") if isinstance(schema, dict) else None
        exact = isinstance(top, int) and (chars is None or top <= chars)
        bounds = [n for n in (top, chars) if isinstance(n, int) and not isinstance(n, bool)]
        if not bounds or not isinstance(lo, int) or isinstance(lo, bool):
            return raw
        hi = max(lo, min(bounds))
        if hi > BOUND_LIMIT:
            return raw
        try:
            return bounded_text_excluding(b, f"xml-raw-{lo}-{hi}{'-exact' if exact else ''}", self.VALUE_CLOSE,
                                          lo, hi, pairs=not exact)
        except ValueError:  # a closing marker without a bounded form: unbounded, as before
            return raw

    def call_cost(self, tools: list[ToolSpec]) -> tuple[str, int] | None:
        """The longest call's text with empty raw values, the longest enum value or an 8-digit number for
        the others (a guess: their grammars are unbounded), and the most raw string values in one call."""
        fixed, strings = "", 0
        for tool in tools:
            props = _properties(tool)
            if props is None:
                continue
            args = {k: _sample(s) for k, s in props.items()}
            text = "\n" * self.LEAD + self.calls_text([Call(name=tool.name, arguments=args)])
            fixed = max(fixed, text, key=lambda t: len(t.encode()))
            strings = max(strings, sum(1 for k, s in props.items() if args[k] == "" and _is_string_schema(s)))
        return (fixed, strings) if fixed else None

    def _call(self, b: GrammarBuilder, raw: str, tool: ToolSpec, chars: int | None = None) -> str:
        props = _properties(tool)
        if props is None:
            params = f"( {self._param(b, raw, tool, None, None)} )*"
        else:
            required = [k for k in (tool.parameters.get("required") or []) if k in props]
            parts = [self._param(b, raw, tool, k, props[k], chars) for k in required]
            parts += [f"( {self._param(b, raw, tool, k, s, chars)} )?" for k, s in props.items()
                      if k not in required]
            params = " ".join(parts)
        nl = self._nl()
        numbered = (f"{gbnf_literal(self.INDEX[0])} [1-9] [0-9]{{0,2}} {gbnf_literal(self.INDEX[1])}" if self.INDEX
                    else "")
        head = (f"{gbnf_literal(self.NAME_OPEN + tool.name + self.NAME_CLOSE)} {numbered} {nl}" if self.NAME_OPEN
                else f"{gbnf_literal(tool.name + self.NAME_SEP)} {nl}")
        close = f"{gbnf_literal(self.CALL_CLOSE)} {self._call_nl_rule()}" if self.CALL_CLOSE else ""
        return b.add_rule(f"call-{tool.name}", f"{head} {params} {close}")

    def _calls(self, b: GrammarBuilder, tools: list[ToolSpec], parallel: bool, chars: int | None = None) -> str:
        raw = text_excluding(b, "xml-raw", [self.VALUE_CLOSE])  # one rule for every raw string value
        if self.PY_VALUES:  # the Python-literal rules first: the JSON rules' identical bodies then share them
            PyLiteralGrammar(b).base("py-any")
        each = [self._call(b, raw, t, chars) for t in tools]
        call = b.add_rule("call", " | ".join(each))
        nl = self._nl()
        lead = nl if self.NAME_OPEN else ""
        if self.PER_CALL:
            # with a HEADER, each tool's region is written after its own header
            heads = ([(gbnf_literal(self._header(t.name) + self.REGION_OPEN), c)
                      for t, c in zip(tools, each, strict=True)]
                     if self.HEADER else [(gbnf_literal(self.REGION_OPEN), call)])
            one = b.add_rule("call-region", " | ".join(f"{head} {lead} {c} {gbnf_literal(self.REGION_CLOSE)}"
                                                       for head, c in heads))
            sep = self._region_sep()
            gap = f"{gbnf_literal(sep)}?" if sep else ""  # StepFun 3.5 writes the regions back to back
            calls = f"{one} ( {gap} {one} )*" if parallel else one
        else:
            many = f"{call}+" if parallel else call
            calls = f"{gbnf_literal(self.REGION_OPEN)} {self._call_nl_rule()} {many} {gbnf_literal(self.REGION_CLOSE)}"
        if self.OUTER:
            calls = f"{gbnf_literal(self.OUTER[0])} {nl} {calls} {nl} {gbnf_literal(self.OUTER[1])}"
        return b.add_rule("calls", calls)

    def grammar(self, tools: list[ToolSpec], policy: CallPolicy) -> str | None:
        b = GrammarBuilder(policy.layout)
        text = text_excluding(b, "text", [self.REGION_OPEN, *self.OUTER[:1], *self.SAID])
        said = f"( {gbnf_literal(self.SAID[0])} )? " if self.SAID else ""
        if self.SAID:
            text = b.add_rule("said", f"{said}{text} {gbnf_literal(self.SAID[1])}")
        if policy.mode == "none" or not tools:
            return b.build(text)
        calls = self._calls(b, tools, policy.parallel, policy.value_chars)
        if policy.mode == "required":
            if self.SAID:
                return b.build(f"{said}{gbnf_literal(self.SAID[1])} {calls}")
            return b.build(f'"\\n"{{0,{self.LEAD}}} {calls}' if self.LEAD else calls)
        return b.build(f"{text} {calls}?")

    # ------------------------------------------------------------------ parsing

    def output_format(self, tools: list[ToolSpec]) -> OutputFormat:
        strings = tuple(
            (t.name, tuple(k for k, s in (_properties(t) or {}).items() if _is_string_schema(s))) for t in tools
        )
        body = XmlParamsBody(
            param_open=self.PARAM_OPEN, key_close=self.KEY_CLOSE, value_close=self.VALUE_CLOSE,
            name_open=self.NAME_OPEN, name_close=self.NAME_CLOSE, value_open=self.VALUE_OPEN,
            call_close=self.CALL_CLOSE, trim_newline=self.TRIM_NEWLINE, strings=strings, name_sep=self.NAME_SEP,
            cdata=self.CDATA, name_tail=self.INDEX[1] if self.INDEX else "", keyed_close=self.KEYED_CLOSE,
            **self._nesting(tools),
        )
        return OutputFormat(regions=(Region(self.REGION_OPEN, body, end=self.REGION_CLOSE),), think=self.THINK,
                            silent=(*self.OUTER, *self.SAID, *self._silent_headers(tools)))

    def _silent_headers(self, tools: list[ToolSpec]) -> tuple[str, ...]:
        """Each tool's ``HEADER`` and a ``REGION_SEP`` that is not blank (Muse Glimmer's
        ``<|eom|><|start|>assistant``), when there is a header."""
        if not self.HEADER:
            return ()
        sep = self._region_sep()
        return (*(self._header(t.name) for t in tools), *((sep,) if sep.strip() else ()))

    def _nesting(self, tools: list[ToolSpec]) -> dict[str, Any]:
        """The body's ``nested`` and ``schemas`` (none: values are JSON)."""
        return {}


JSON_TYPES = {"string": "string", "integer": "number", "number": "number", "boolean": "boolean", "null": "null",
              "array": "array", "object": "object"}
"""A JSON Schema type -> the JSON type of its values (Kimi K3's ``type`` attribute)."""


def json_type(value: Any) -> str:
    """The JSON type of ``value`` as Kimi K3's template names it."""
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "object" if isinstance(value, dict) else "array"


def _sample(schema: Any) -> Any:
    """A value standing for a parameter's longest text in :meth:`XmlParams.call_cost`: "" for a raw
    string, the longest enum value, else an 8-character number."""
    enum = schema.get("enum") if isinstance(schema, dict) else None
    if isinstance(enum, list) and enum:
        return max(enum, key=lambda e: len(e if isinstance(e, str) else dumps(e)))
    return "" if _is_string_schema(schema) else 12345678


def text_key(b: GrammarBuilder, close: str) -> str:
    """A parameter name: non-empty, no ``<`` or the key's closing marker."""
    first = json.dumps(close[0])[1:-1].replace("]", "\\]")
    return b.add_rule("xml-key", f"[^<{first}\\n]+")


class Qwen3Coder(XmlParams):
    name: ClassVar[str] = "qwen3_coder"
    description: ClassVar[str] = "<tool_call><function=NAME><parameter=k>v</parameter></function> (Qwen3-Coder)"
    REGION_OPEN = "<tool_call>"
    REGION_CLOSE = "</tool_call>"
    NAME_OPEN = "<function="
    PARAM_OPEN = "<parameter="
    KEY_CLOSE = ">"
    VALUE_CLOSE = "</parameter>"
    CALL_CLOSE = "</function>"
    TRIM_NEWLINE = True
    PY_VALUES = True  # booleans written True / False


class SeedOss(Qwen3Coder):
    name: ClassVar[str] = "seed_oss"
    description: ClassVar[str] = "<seed:tool_call><function=NAME><parameter=k>v</parameter> (Seed-OSS)"
    REGION_OPEN = "<seed:tool_call>"
    REGION_CLOSE = "</seed:tool_call>"
    TRIM_NEWLINE = False
    THINK = ("<seed:think>", "</seed:think>")


class Glm(XmlParams):
    name: ClassVar[str] = "glm"
    description: ClassVar[str] = "<tool_call>NAME<arg_key>k</arg_key><arg_value>v</arg_value></tool_call> (GLM 4.5+)"
    REGION_OPEN = "<tool_call>"
    REGION_CLOSE = "</tool_call>"
    PARAM_OPEN = "<arg_key>"
    KEY_CLOSE = "</arg_key>"
    VALUE_OPEN = "<arg_value>"
    VALUE_CLOSE = "</arg_value>"
    LOOSE_NL = True
    LEAD = 1


class MiniMaxM2(XmlParams):
    name: ClassVar[str] = "minimax_m2"
    description: ClassVar[str] = '<minimax:tool_call><invoke name="NAME"><parameter name="k">v</parameter> (MiniMax M2)'
    REGION_OPEN = "<minimax:tool_call>"
    REGION_CLOSE = "</minimax:tool_call>"
    NAME_OPEN = '<invoke name="'
    NAME_CLOSE = '">'
    PARAM_OPEN = '<parameter name="'
    KEY_CLOSE = '">'
    VALUE_CLOSE = "</parameter>"
    CALL_CLOSE = "</invoke>"
    PER_CALL = False


DSML = "\uff5cDSML\uff5c"  # the full-width bars DeepSeek writes


class Dsml(MiniMaxM2):
    """DeepSeek V3.2's DSML (``DSML`` between full-width bars): ``<DSML invoke name="NAME">`` with
    ``<DSML parameter name="k" string="true">v`` (``string="false"``: the value is JSON)."""

    name: ClassVar[str] = "dsml"
    description: ClassVar[str] = f'<{DSML}function_calls><{DSML}invoke name="NAME">... (DeepSeek V3.2)'
    REGION_OPEN = f"<{DSML}function_calls>"
    REGION_CLOSE = f"</{DSML}function_calls>"
    NAME_OPEN = f'<{DSML}invoke name="'
    PARAM_OPEN = f'<{DSML}parameter name="'
    KEY_CLOSE = '"'
    VALUE_OPEN = ">"
    VALUE_CLOSE = f"</{DSML}parameter>"
    CALL_CLOSE = f"</{DSML}invoke>"
    STRING_ATTR = (' string="true"', ' string="false"')
    VALUE_GAP = False
    LEAD = 2


class DsmlV4(Dsml):
    name: ClassVar[str] = "dsml_v4"
    description: ClassVar[str] = f'<{DSML}tool_calls><{DSML}invoke name="NAME">... (DeepSeek V4)'
    REGION_OPEN = f"<{DSML}tool_calls>"
    REGION_CLOSE = f"</{DSML}tool_calls>"


HY = ":opensource"


class Hunyuan3(XmlParams):
    """Tencent Hunyuan 3 (Hy3): GLM's shape with ``:opensource`` tags, a separator after the name and the calls
    inside ``<tool_calls:opensource>``."""

    name: ClassVar[str] = "hunyuan"
    description: ClassVar[str] = f"<tool_calls{HY}><tool_call{HY}>NAME<tool_sep{HY}><arg_key{HY}>k... (Hunyuan 3)"
    REGION_OPEN = f"<tool_call{HY}>"
    REGION_CLOSE = f"</tool_call{HY}>"
    NAME_SEP = f"<tool_sep{HY}>"
    PARAM_OPEN = f"<arg_key{HY}>"
    KEY_CLOSE = f"</arg_key{HY}>"
    VALUE_OPEN = f"<arg_value{HY}>"
    VALUE_CLOSE = f"</arg_value{HY}>"
    OUTER = (f"<tool_calls{HY}>", f"</tool_calls{HY}>")
    THINK = (f"<think{HY}>", f"</think{HY}>")


class MiniCpm5(XmlParams):
    """MiniCPM5: ``<function name="NAME"><param name="k">v</param></function>`` per call, no layout inside a call,
    non-string values as Jinja's ``| string`` writes them, a string holding ``<``, ``&`` or a newline in CDATA."""

    name: ClassVar[str] = "minicpm5"
    description: ClassVar[str] = '<function name="NAME"><param name="k">v</param></function> (MiniCPM5)'
    REGION_OPEN = '<function name="'
    REGION_CLOSE = "</function>"
    NAME_SEP = '">'
    PARAM_OPEN = '<param name="'
    KEY_CLOSE = '">'
    VALUE_CLOSE = "</param>"
    NL = ""
    REGION_SEP = "\n"
    PY_VALUES = True
    CDATA = True


def _k3_open(tag: str) -> str:
    return f"<|open|>{tag}<|sep|>"


def _k3_close(tag: str) -> str:
    return f"<|close|>{tag}<|sep|>"


class KimiK3(XmlParams):
    """Kimi K3's tagged messages: thoughts, then the answer's text in a response channel, then
    ``<|open|>tools<|sep|>`` with one ``<|open|>call tool="NAME" index="1"<|sep|>`` per call, each argument
    ``<|open|>argument key="k" type="string"<|sep|>v<|close|>argument<|sep|>`` (a string raw, any other value
    JSON, its JSON type named), no layout."""

    name: ClassVar[str] = "kimi_k3"
    description: ClassVar[str] = ('<|open|>tools<|sep|><|open|>call tool="NAME" index="1"<|sep|><|open|>argument '
                                  'key="k" type="string"<|sep|>v... (Kimi K3)')
    REGION_OPEN = _k3_open("tools")
    REGION_CLOSE = _k3_close("tools")
    NAME_OPEN = '<|open|>call tool="'
    NAME_CLOSE = '"'
    INDEX = (' index="', '"<|sep|>')
    PARAM_OPEN = '<|open|>argument key="'
    KEY_CLOSE = '"'
    TYPE_ATTR = ' type="{}"'
    VALUE_OPEN = "<|sep|>"
    VALUE_GAP = False
    VALUE_CLOSE = _k3_close("argument")
    CALL_CLOSE = _k3_close("call")
    NL = ""
    PER_CALL = False
    SAID = (_k3_open("response"), _k3_close("response"))
    THINK = (_k3_open("think"), _k3_close("think"))
    thinking = THINK
    TOOL_RESULT = '<|open|>message role="tool"<|sep|>{content}<|close|>message<|sep|>'


MM = "]<]minimax[>["  # the separator token MiniMax M3 writes before every element tag of a call


class MiniMaxM3(XmlParams):
    """MiniMax M3: ``MM<tool_call>\\n`` then per call ``MM<invoke name="NAME">``, each parameter
    ``MM<k>v MM</k>`` (MM: :data:`MM`), ``MM</invoke>\\n``, then ``MM</tool_call>``. A string is raw text; an
    array's items are ``MM<item>..MM</item>`` elements, an object's keys elements of their own (recursively, as
    the template's ``to_xml`` writes them); numbers as Python writes them, booleans ``true``/``false``, a null
    field omitted. An answer without thoughts starts with ``</mm:think>``."""

    name: ClassVar[str] = "minimax_m3"
    description: ClassVar[str] = f'{MM}<tool_call>\\n{MM}<invoke name="NAME">{MM}<k>v{MM}</k>... (MiniMax M3)'
    REGION_OPEN = f"{MM}<tool_call>"
    REGION_CLOSE = f"{MM}</tool_call>"
    NAME_OPEN = f'{MM}<invoke name="'
    NAME_CLOSE = '">'
    PARAM_OPEN = f"{MM}<"
    KEY_CLOSE = ">"
    VALUE_CLOSE = f"{MM}</"
    KEYED_CLOSE = True
    CALL_CLOSE = f"{MM}</invoke>"
    NL = ""
    CALL_NL = "\n"
    PER_CALL = False
    THINK = ("<mm:think>", "</mm:think>")
    thinking = THINK
    TOOL_RESULT = "<response>{content}</response>"

    def _value_text(self, value: Any) -> str:
        return _to_xml(value)

    def _call_text(self, call: Call, index: int = 1) -> str:
        args = call.arguments
        if isinstance(args, dict):  # the template omits a null field
            call = Call(name=call.name, arguments={k: v for k, v in args.items() if v is not None})
        return super()._call_text(call, index)

    def _typed_value(self, b: GrammarBuilder, schema: Any, name: str) -> str:
        return _xml_value(b, schema, name)

    def _nesting(self, tools: list[ToolSpec]) -> dict[str, Any]:
        schemas = tuple((tool.name, key, json.dumps(schema)) for tool in tools
                        for key, schema in (_properties(tool) or {}).items())
        return {"nested": MM, "schemas": schemas}


def _to_xml(value: Any) -> str:
    """A value as MiniMax M3's template's ``to_xml`` writes it."""
    if isinstance(value, dict):
        return "".join(f"{MM}<{k}>{_to_xml(v)}{MM}</{k}>" for k, v in value.items() if v is not None)
    if isinstance(value, list):
        return "".join(f"{MM}<item>{_to_xml(v)}{MM}</item>" for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


_PLAIN_OBJECT = {"type", "properties", "required", "additionalProperties", "description", "title"}


def _xml_value(b: GrammarBuilder, schema: Any, name: str) -> str:
    """The grammar of a value written as :func:`_to_xml` writes it: an array of items / an object of its
    properties (required ones in order, then any optional ones) as elements, a string as raw text without
    :data:`MM` (one of its enum values when it has them); any other schema (numbers, booleans, unions, ``$ref``)
    its JSON grammar, which the scanner reads as JSON."""
    kind = schema.get("type") if isinstance(schema, dict) else None
    if kind == "array" and isinstance(schema, dict):
        item = _xml_value(b, schema.get("items", {}), f"{name}-item")
        one = f"{gbnf_literal(MM + '<item>')} {item} {gbnf_literal(MM + '</item>')}"
        lo, hi = schema.get("minItems", 0), schema.get("maxItems")
        bounded = isinstance(lo, int) and 0 <= lo <= BOUND_LIMIT and (
            hi is None or (isinstance(hi, int) and lo <= hi <= BOUND_LIMIT))
        times = (f"{{{lo},{'' if hi is None else hi}}}" if bounded and (lo or hi is not None) else "*")
        return b.add_rule(name, f"( {one} ){times}")
    props = schema.get("properties") if isinstance(schema, dict) else None
    if kind == "object" and isinstance(props, dict) and props and not set(schema) - _PLAIN_OBJECT:
        required = [k for k in schema.get("required") or [] if k in props]

        def element(k: str) -> str:
            value = _xml_value(b, props[k], f"{name}-{k}")
            return f"{gbnf_literal(f'{MM}<{k}>')} {value} {gbnf_literal(f'{MM}</{k}>')}"

        parts = [element(k) for k in required] + [f"( {element(k)} )?" for k in props if k not in required]
        return b.add_rule(name, " ".join(parts))
    if _is_string_schema(schema):
        enum = schema.get("enum")
        if isinstance(enum, list) and enum and all(isinstance(e, str) for e in enum):
            return "( " + " | ".join(gbnf_literal(e) for e in enum) + " )"
        return text_excluding(b, "mm-text", [MM])
    return b.add_schema(schema if isinstance(schema, dict | bool) else {}, name)
