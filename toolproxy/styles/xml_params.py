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
    if not isinstance(schema, dict):
        return False
    kind = schema.get("type")
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
    REGION_SEP: ClassVar[str | None] = None  # between two calls' regions (None: ``NL``)
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
    THINK: ClassVar[tuple[str, str] | None] = ("<think>", "</think>")
    TOOL_RESULT: ClassVar[str] = "<tool_response>\n{content}\n</tool_response>"

    # ------------------------------------------------------------------ rendering

    def _value_text(self, value: Any) -> str:
        text = value if isinstance(value, str) else dumps(value)
        if self.CDATA and isinstance(value, str) and any(c in value for c in "<&\n"):
            text = f"<![CDATA[{text}]]>"
        return f"\n{text}\n" if self.TRIM_NEWLINE else text

    def _call_text(self, call: Call) -> str:
        nl = self.NL
        args = call.arguments if isinstance(call.arguments, dict) else {}
        params = "".join(
            f"{self.PARAM_OPEN}{k}{self.KEY_CLOSE}{self.STRING_ATTR[0 if isinstance(v, str) else 1]}"
            f"{nl if self.VALUE_OPEN and self.VALUE_GAP else ''}{self.VALUE_OPEN}"
            f"{self._value_text(v)}{self.VALUE_CLOSE}{nl}"
            for k, v in args.items()
        )
        head = (f"{self.NAME_OPEN}{call.name}{self.NAME_CLOSE}{nl}" if self.NAME_OPEN
                else f"{call.name}{self.NAME_SEP}{nl}")
        return f"{head}{params}{self.CALL_CLOSE + nl if self.CALL_CLOSE else ''}"

    def calls_text(self, calls: list[Call]) -> str:
        nl = self.NL
        if self.PER_CALL:
            lead = nl if self.NAME_OPEN else ""
            text = self._region_sep().join(f"{self.REGION_OPEN}{lead}{self._call_text(c)}{self.REGION_CLOSE}"
                                           for c in calls)
        else:
            text = f"{self.REGION_OPEN}{nl}{''.join(self._call_text(c) for c in calls)}{self.REGION_CLOSE}"
        return f"{self.OUTER[0]}{nl}{text}{nl}{self.OUTER[1]}" if self.OUTER else text

    def _assistant(self, text: str, calls: list[Call], _: ChatMessage) -> str:
        return "\n".join(part for part in (text, self.calls_text(calls) if calls else "") if part)

    # ------------------------------------------------------------------ grammar

    def _region_sep(self) -> str:
        return self.NL if self.REGION_SEP is None else self.REGION_SEP

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
            value = b.add_schema(schema if isinstance(schema, dict | bool) else {}, f"{tool.name}-{key}")
            if self.PY_VALUES:
                value = self._or_python(b, value, schema, f"{tool.name}-{key}-py")
        trim = gbnf_literal("\n") if self.TRIM_NEWLINE else ""
        gap = nl if self.VALUE_OPEN and self.VALUE_GAP else ""
        attr = self.STRING_ATTR[0 if is_string else 1]
        return (f"{gbnf_literal(self.PARAM_OPEN)} {name} {gbnf_literal(self.KEY_CLOSE + attr)} {gap} "
                f"{gbnf_literal(self.VALUE_OPEN) if self.VALUE_OPEN else ''} {trim} {value} {trim} "
                f"{gbnf_literal(self.VALUE_CLOSE)} {nl}")

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
        head = (f"{gbnf_literal(self.NAME_OPEN + tool.name + self.NAME_CLOSE)} {nl}" if self.NAME_OPEN
                else f"{gbnf_literal(tool.name + self.NAME_SEP)} {nl}")
        close = f"{gbnf_literal(self.CALL_CLOSE)} {nl}" if self.CALL_CLOSE else ""
        return b.add_rule(f"call-{tool.name}", f"{head} {params} {close}")

    def _calls(self, b: GrammarBuilder, tools: list[ToolSpec], parallel: bool, chars: int | None = None) -> str:
        raw = text_excluding(b, "xml-raw", [self.VALUE_CLOSE])  # one rule for every raw string value
        if self.PY_VALUES:  # the Python-literal rules first: the JSON rules' identical bodies then share them
            PyLiteralGrammar(b).base("py-any")
        call = b.add_rule("call", " | ".join(self._call(b, raw, t, chars) for t in tools))
        nl = self._nl()
        lead = nl if self.NAME_OPEN else ""
        if self.PER_CALL:
            one = b.add_rule("call-region", f"{gbnf_literal(self.REGION_OPEN)} {lead} {call} "
                                            f"{gbnf_literal(self.REGION_CLOSE)}")
            sep = self._region_sep()
            gap = f"{gbnf_literal(sep)}?" if sep else ""  # StepFun 3.5 writes the regions back to back
            calls = f"{one} ( {gap} {one} )*" if parallel else one
        else:
            many = f"{call}+" if parallel else call
            calls = f"{gbnf_literal(self.REGION_OPEN)} {nl} {many} {gbnf_literal(self.REGION_CLOSE)}"
        if self.OUTER:
            calls = f"{gbnf_literal(self.OUTER[0])} {nl} {calls} {nl} {gbnf_literal(self.OUTER[1])}"
        return b.add_rule("calls", calls)

    def grammar(self, tools: list[ToolSpec], policy: CallPolicy) -> str | None:
        b = GrammarBuilder(policy.layout)
        text = text_excluding(b, "text", [self.REGION_OPEN, *self.OUTER[:1]])
        if policy.mode == "none" or not tools:
            return b.build(text)
        calls = self._calls(b, tools, policy.parallel, policy.value_chars)
        if policy.mode == "required":
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
            cdata=self.CDATA,
        )
        return OutputFormat(regions=(Region(self.REGION_OPEN, body, end=self.REGION_CLOSE),), think=self.THINK,
                            silent=self.OUTER)


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
