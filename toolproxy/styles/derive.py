"""Deriving an unseen template's call syntax by rendering probe calls through it (issue 15, item 3).

First shape only: XML-parameter calls with the name inside a marker (``<X:invoke name="NAME">`` then one
``<X:parameter name="k">v</X:parameter>`` per argument), the shape of MiniMax M2 and Muse Glimmer's ATEM.
Probe conversations with distinctive names and values are rendered; the text around the name, the key and
the value gives the markers (one element per line); what the template writes from its generation prompt to
the region, when it holds the call's name, is a header before each call's region (Muse Glimmer's recipient
`` to=NAME<|message|>``); for a template that writes a region per call, what stands between two calls'
regions is the separator (Muse Glimmer's ``<|eom|><|start|>assistant``). The result is an :class:`XmlParams`
subclass, accepted only when it writes every probe's calls exactly as the template does (the parallel probe
unchecked only for a region per call whose separator is not found). Anything else: ``None`` (the caller
falls back). Used when detection falls back (style ``derived``, source ``derived``) by
:func:`toolproxy.styles.choice.choose_style`, the choice the service and the round-trip test share.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from toolproxy.errors import InvalidRequest
from toolproxy.styles.common import Call
from toolproxy.styles.xml_params import XmlParams
from toolproxy.templating import render_chat

DERIVED_STYLE = "derived"
NAME = "zq_probe_alpha"
NAME2 = "zq_probe_beta"
KEY = "zq_key_one"
KEY2 = "zq_key_two"
VALUE = "zq value one"
NUMBER = 4217

PROBES: tuple[tuple[Call, ...], ...] = (
    (Call(NAME, {KEY: VALUE}),),
    (Call(NAME, {KEY: VALUE, KEY2: NUMBER}),),
    (Call(NAME, {KEY: VALUE}), Call(NAME2, {KEY2: NUMBER})),
)


@dataclass(frozen=True)
class Derived:
    """Markers found in a template's rendering of probe calls."""

    region_open: str
    region_close: str
    name_open: str
    name_close: str
    param_open: str
    key_close: str
    value_close: str
    call_close: str
    per_call: bool
    header: str = ""  # before each call's region, ``{name}`` for its name ("": none)
    region_sep: str | None = None  # between two calls' regions, when derived (None: the default layout)

    def detail(self) -> str:
        """The derived markers, as ``GET /v1/models`` and the start-up log report them."""
        between = f", {self.region_sep!r} between" if self.region_sep is not None else ""
        return (f"derived from the chat template: {self.header.replace('{name}', 'NAME')}{self.region_open}"
                f"{self.name_open}NAME{self.name_close}{self.param_open}KEY{self.key_close}VALUE{self.value_close}"
                f"{self.call_close}{self.region_close}{f' (one region per call{between})' if self.per_call else ''}")

    def style_class(self) -> type[XmlParams]:
        attrs: dict[str, Any] = {
            "name": DERIVED_STYLE, "description": f"derived from the chat template: {self.region_open}...",
            "REGION_OPEN": self.region_open, "REGION_CLOSE": self.region_close, "NAME_OPEN": self.name_open,
            "NAME_CLOSE": self.name_close, "PARAM_OPEN": self.param_open, "KEY_CLOSE": self.key_close,
            "VALUE_CLOSE": self.value_close, "CALL_CLOSE": self.call_close, "PER_CALL": self.per_call,
            "HEADER": self.header, "REGION_SEP": self.region_sep,
        }
        return type("DerivedXmlParams", (XmlParams,), attrs)


QUESTION: dict[str, Any] = {"role": "user", "content": "zq question"}
MARKERS = ("region_open", "region_close", "name_open", "name_close", "param_open", "key_close", "value_close",
           "call_close")
"""The markers every derived syntax has (non-empty)."""


def _render(template: str, calls: tuple[Call, ...]) -> str:
    tool_calls = [{"id": f"call_{i}", "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                  for i, c in enumerate(calls)]
    messages: list[dict[str, Any]] = [QUESTION, {"role": "assistant", "content": None, "tool_calls": tool_calls}]
    return render_chat(template, messages, add_generation_prompt=False)


def _header(template: str, rendering: str, region_open: str) -> str:
    """What the one-call ``rendering`` writes after the generation prompt, before the region, with ``{name}``
    for the call's name; "" when that holds no name (or the rendering does not follow the prompt)."""
    prompt = render_chat(template, [QUESTION], add_generation_prompt=True)
    if not rendering.startswith(prompt) or region_open not in rendering[len(prompt):]:
        return ""
    said = rendering[len(prompt):]
    before = said[:said.find(region_open)]
    return before.replace(NAME, "{name}") if before.count(NAME) == 1 else ""


def _region_sep(candidate: Derived, parallel: str) -> str | None:
    """What the ``parallel`` probe's rendering writes between its two calls' regions, None when either region
    is not there as ``candidate`` writes it."""
    style = candidate.style_class()()
    first, second = (style.calls_text([call]) for call in PROBES[2])
    at = parallel.find(first)
    after = parallel.find(second, at + len(first)) if at >= 0 else -1
    return parallel[at + len(first):after] if after >= 0 else None


def _markers(text: str) -> Derived | None:
    at_name = text.rfind(NAME)
    at_key = text.find(KEY, at_name)
    at_value = text.find(VALUE, at_key)
    if min(at_name, at_key, at_value) < 0:
        return None
    head = text[:at_name].split("\n")
    middle = text[at_name + len(NAME):at_key].split("\n")
    tail = text[at_value + len(VALUE):].split("\n")
    if len(head) < 2 or len(middle) != 2 or len(tail) < 3:
        return None
    region_open = head[-2][head[-2].rfind("<"):]
    region_close = tail[2][:tail[2].find(">") + 1]
    return Derived(region_open=region_open, name_open=head[-1], name_close=middle[0], param_open=middle[1],
                   key_close=text[at_key + len(KEY):at_value], value_close=tail[0], call_close=tail[1],
                   region_close=region_close, per_call=True)


def derive(template: str) -> Derived | None:
    """The template's call syntax, or None when its renderings match no supported shape."""
    try:
        renderings = [_render(template, calls) for calls in PROBES]
        found = _markers(renderings[0])
        if found is None or not all(getattr(found, marker) for marker in MARKERS):
            return None
        found = replace(found, header=_header(template, renderings[0], found.region_open))
    except InvalidRequest:
        return None
    per_call = replace(found, per_call=True)
    sep = _region_sep(per_call, renderings[2])
    candidates = [(replace(found, per_call=False), 3), *([(replace(per_call, region_sep=sep), 3)] if sep else []),
                  (per_call, 2)]  # (the syntax, how many probes it must write as the template does)
    for candidate, n in candidates:
        style = candidate.style_class()()
        checked = zip(PROBES[:n], renderings[:n], strict=True)
        if all(style.calls_text(list(calls)) in text for calls, text in checked):
            return candidate
    return None
