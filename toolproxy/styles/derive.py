"""Deriving an unseen template's call syntax by rendering probe calls through it (issue 15, item 3).

First shape only: XML-parameter calls with the name inside a marker (``<X:invoke name="NAME">`` then one
``<X:parameter name="k">v</X:parameter>`` per argument), the shape of MiniMax M2 and Muse Glimmer's ATEM.
Probe conversations with distinctive names and values are rendered; the text around the name, the key and
the value gives the markers (one element per line); the result is an :class:`XmlParams` subclass, accepted
only when it writes every probe's calls exactly as the template does. Anything else: ``None`` (the caller
falls back). Parallel calls are checked only for one-region templates (Muse Glimmer writes a
turn per call, not derived yet). Used when detection falls back (style ``derived``, source ``derived``) by
:func:`toolproxy.styles.choice.choose_style`, the choice the service and the round-trip test share.
"""

from __future__ import annotations

from dataclasses import dataclass
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

    def detail(self) -> str:
        """The derived markers, as ``GET /v1/models`` and the start-up log report them."""
        return (f"derived from the chat template: {self.region_open}{self.name_open}NAME{self.name_close}"
                f"{self.param_open}KEY{self.key_close}VALUE{self.value_close}{self.call_close}{self.region_close}"
                f"{' (one region per call)' if self.per_call else ''}")

    def style_class(self) -> type[XmlParams]:
        attrs: dict[str, Any] = {
            "name": DERIVED_STYLE, "description": f"derived from the chat template: {self.region_open}...",
            "REGION_OPEN": self.region_open, "REGION_CLOSE": self.region_close, "NAME_OPEN": self.name_open,
            "NAME_CLOSE": self.name_close, "PARAM_OPEN": self.param_open, "KEY_CLOSE": self.key_close,
            "VALUE_CLOSE": self.value_close, "CALL_CLOSE": self.call_close, "PER_CALL": self.per_call,
        }
        return type("DerivedXmlParams", (XmlParams,), attrs)


def _render(template: str, calls: tuple[Call, ...]) -> str:
    tool_calls = [{"id": f"call_{i}", "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                  for i, c in enumerate(calls)]
    messages: list[dict[str, Any]] = [{"role": "user", "content": "zq question"},
                {"role": "assistant", "content": None, "tool_calls": tool_calls}]
    return render_chat(template, messages, add_generation_prompt=False)


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
    except InvalidRequest:
        return None
    found = _markers(renderings[0])
    if found is None or not all(v for v in found.__dict__.values() if isinstance(v, str)):
        return None
    for per_call in (False, True):
        candidate = Derived(**{**found.__dict__, "per_call": per_call})
        style = candidate.style_class()()
        n = 2 if per_call else 3
        checked = zip(PROBES[:n], renderings[:n], strict=True)
        if all(style.calls_text(list(calls)) in text for calls, text in checked):
            return candidate
    return None
