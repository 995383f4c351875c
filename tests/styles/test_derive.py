"""Issue 15 item 3 (first shape): a template's XML-invoke call syntax derived by rendering probe calls."""

from __future__ import annotations

import json
from pathlib import Path

from tests.test_roundtrip import SPECS
from toolproxy.parsing import parse_text
from toolproxy.styles.base import ToolSpec
from toolproxy.styles.derive import NAME, derive
from toolproxy.styles.xml_params import MiniMaxM2

TEMPLATES = Path("/work/shared/chat-templates")


def _read(name: str) -> str:
    return (TEMPLATES / f"{name}.jinja").read_text()


def test_muse_glimmer_is_derived_and_its_rendered_call_scans_back() -> None:
    found = derive(_read("muse-glimmer"))
    assert found is not None
    assert (found.region_open, found.name_open, found.param_open) == (
        "<atem:function_calls>", '<atem:invoke name="', '<atem:parameter name="')
    assert (found.value_close, found.call_close, found.region_close) == (
        "</atem:parameter>", "</atem:invoke>", "</atem:function_calls>")
    assert (found.per_call, found.header, found.region_sep) == (
        True, " to={name}<|message|>", "<|eom|><|start|>assistant")
    style = found.style_class()()
    text = '<atem:function_calls>\n<atem:invoke name="get_weather">\n' \
           '<atem:parameter name="city">Paris</atem:parameter>\n</atem:invoke>\n</atem:function_calls>'
    parsed = parse_text(style.output_format(SPECS), text)
    assert [(c.name, json.loads(c.arguments)) for c in parsed.calls] == [("get_weather", {"city": "Paris"})]


def test_derived_markers_equal_the_minimax_m2_entry() -> None:
    found = derive(_read("MiniMax-M2"))
    assert found is not None
    entry = MiniMaxM2
    assert (found.region_open, found.region_close, found.name_open, found.name_close, found.param_open,
            found.key_close, found.value_close, found.call_close, found.per_call) == (
        entry.REGION_OPEN, entry.REGION_CLOSE, entry.NAME_OPEN, entry.NAME_CLOSE, entry.PARAM_OPEN,
        entry.KEY_CLOSE, entry.VALUE_CLOSE, entry.CALL_CLOSE, entry.PER_CALL)
    assert NAME not in entry.REGION_OPEN


def test_template_of_another_shape_is_not_derived() -> None:
    assert derive(_read("HuggingFaceTB-SmolLM3-3B")) is None
    assert derive("{% for m in messages %}{{ m.content }}{% endfor %}") is None


def test_service_uses_and_reports_the_derived_syntax_over_http() -> None:
    import httpx

    from tests.servers import running_server
    from toolproxy.app import create_app
    from toolproxy.backends.scripted import ScriptedBackend, constant
    from toolproxy.settings import Settings

    output = (' to=get_weather<|message|><atem:function_calls>\n<atem:invoke name="get_weather">\n'
              '<atem:parameter name="city">Paris</atem:parameter>\n</atem:invoke>\n</atem:function_calls>')
    settings = Settings(chat_template=str(TEMPLATES / "muse-glimmer.jinja"))
    app = create_app(settings, backend_factory=lambda _: ScriptedBackend(constant(output)))
    tool = {"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
    with running_server(app) as url:
        card = httpx.get(f"{url}/v1/models").json()["data"][0]
        reply = httpx.post(f"{url}/v1/chat/completions", json={
            "model": "m", "messages": [{"role": "user", "content": "weather in Paris?"}], "tools": [tool],
            "max_tokens": 64}).json()
    assert (card["style"], card["style_source"]) == ("derived", "derived")
    assert ' to=NAME<|message|><atem:function_calls><atem:invoke name="' in card["style_detail"]
    calls = reply["choices"][0]["message"]["tool_calls"]
    assert [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in calls] == [
        ("get_weather", {"city": "Paris"})]


def test_muse_glimmers_own_rendering_of_a_string_and_an_integer_scans_back() -> None:
    from toolproxy.styles.derive import KEY, KEY2, NUMBER, PROBES, VALUE, _render

    template = _read("muse-glimmer")
    found = derive(template)
    assert found is not None
    text = _render(template, PROBES[1])
    start = text.rfind("<atem:function_calls>")
    fed = text[start:text.rfind("</atem:function_calls>") + len("</atem:function_calls>")]
    tool = SPECS[0]
    parsed = parse_text(found.style_class()().output_format([tool]), fed.replace(NAME, tool.name))
    assert [(c.name, json.loads(c.arguments)) for c in parsed.calls] == [(tool.name, {KEY: VALUE, KEY2: NUMBER})]


def test_the_choice_is_detected_else_derived_else_the_fallback() -> None:
    from toolproxy.detect import NO_TEMPLATE_STYLE, UNKNOWN_STYLE
    from toolproxy.styles.choice import choose_style
    from toolproxy.styles.derive import DERIVED_STYLE

    detected = choose_style(_read("MiniMax-M2"))  # derivable too, but its family's markers come first
    assert (detected.name, detected.source, detected.derived) == ("minimax_m2", "detected", None)
    derived = choose_style(_read("muse-glimmer"))
    assert (derived.name, derived.source) == (DERIVED_STYLE, "derived")
    assert derived.detail is not None and '<atem:invoke name="NAME">' in derived.detail
    style = derived.style()
    assert style.name == DERIVED_STYLE
    assert [r.start for r in style.output_format(SPECS).regions] == ["<atem:function_calls>"]
    assert (choose_style(None).name, choose_style(None).source) == (NO_TEMPLATE_STYLE, "fallback")
    unknown = choose_style(_read("HuggingFaceTB-SmolLM3-3B"))
    assert (unknown.name, unknown.source, unknown.derived) == (UNKNOWN_STYLE, "fallback", None)


def test_muse_glimmers_header_and_separator_are_written_and_read_back() -> None:
    """Its recipient header `` to=NAME<|message|>`` and ``<|eom|><|start|>assistant`` between two calls: the
    derived style writes the parallel probe as the template does, and its scanner reads the template's
    rendering back as both calls and no content, whole and in 1-character chunks."""
    from toolproxy.parsing import Scanner, collect
    from toolproxy.styles.derive import KEY, KEY2, NAME2, NUMBER, PROBES, VALUE, _render
    from toolproxy.styles.xml_params import XmlParams

    template = _read("muse-glimmer")
    found = derive(template)
    assert found is not None
    style = found.style_class()()
    assert isinstance(style, XmlParams)
    calls = list(PROBES[2])
    rendering = _render(template, PROBES[2])
    written = style.calls_text(calls)
    assert written.startswith(" to=zq_probe_alpha<|message|><atem:function_calls>") and written in rendering
    said = rendering[rendering.find(" to="):rendering.rfind("<|eot|>")]
    tools = [ToolSpec(NAME, "", {"type": "object", "properties": {KEY: {"type": "string"}}}),
             ToolSpec(NAME2, "", {"type": "object", "properties": {KEY2: {"type": "integer"}}})]
    fmt = style.output_format(tools)
    whole = parse_text(fmt, said)
    scanner = Scanner(fmt)
    chunked = collect([event for c in said for event in scanner.feed(c)] + scanner.finish())
    for parsed in (whole, chunked):
        assert [(c.name, json.loads(c.arguments)) for c in parsed.calls] == [(NAME, {KEY: VALUE}),
                                                                              (NAME2, {KEY2: NUMBER})]
        assert not (parsed.content or "").strip()
