"""Invalid Unicode in a request is a 400 naming the field, never a 500 (issue 14).

A lone surrogate is valid JSON (``"\\ud800"``) but not Unicode text; so are the raw bytes ``ED A0 80`` and a
lone surrogate code unit of a UTF-16 body (Python's json decodes them with ``surrogatepass``). Bytes that are not
UTF-8 at all fail the JSON decoding. Each kind is put into every string (and object key) of a rich request, as a
property test; a properly paired surrogate escape (an emoji written by ``json.dumps``) must still be answered."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hardening.conftest import Proxy, openai_error, start_proxy
from toolproxy.settings import Settings
from toolproxy.unicode_check import lone_surrogate, unicode_problem

CHAT: dict[str, Any] = {
    "model": "scripted",
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}], "name": "ann"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "21C"},
        {"role": "user", "content": "And tomorrow?"},
    ],
    "tools": [{"type": "function", "function": {
        "name": "get_weather", "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string", "description": "a city", "enum": ["Paris", "Rome"]},
            "unit": {"type": "string", "pattern": "^[cf]$", "default": "c"}},
            "required": ["city"]}}}],
    "tool_choice": "auto",
    "stop": ["\n\n", "END"],
    "user": "u-1",
    "style": "hermes",
}
JSON_FORMAT: dict[str, Any] = {
    "messages": [{"role": "user", "content": "A city?"}],
    "response_format": {"type": "json_schema", "json_schema": {
        "name": "city", "description": "one city",
        "schema": {"type": "object", "properties": {"name": {"type": "string", "const": "Paris"}}}}},
}
COMPLETION: dict[str, Any] = {"prompt": ["Once upon", " a time"], "stop": "END", "grammar": 'root ::= "x"'}
BODIES = {"/v1/chat/completions": [CHAT, JSON_FORMAT], "/v1/completions": [COMPLETION]}
PLAIN_KEY = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")


@pytest.fixture(scope="module")
def served() -> Iterator[Proxy]:
    with start_proxy(Settings(style="hermes")) as running:
        yield running


def _member(path: str, key: str) -> str:
    if PLAIN_KEY.fullmatch(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key)}]"


def _locations(value: Any, path: str = "") -> Iterator[tuple[str, tuple[Any, ...], bool]]:
    """(field path, route to the value, is a key) of every string and object key under ``value``."""
    def walk(node: Any, path: str, route: tuple[Any, ...]) -> Iterator[tuple[str, tuple[Any, ...], bool]]:
        if isinstance(node, str):
            yield path, route, False
        elif isinstance(node, dict):
            for key, item in node.items():
                yield path, (*route, key), True
                yield from walk(item, _member(path, key), (*route, key))
        elif isinstance(node, list):
            for i, item in enumerate(node):
                yield from walk(item, f"{path}[{i}]", (*route, i))

    yield from walk(value, path, ())


LOCATIONS = [(url, n, *loc) for url, bodies in BODIES.items() for n, body in enumerate(bodies)
             for loc in _locations(body)]
MARK = "\U0010fffd"  # stands for the injected text until the body is encoded


def _inject(body: Any, route: tuple[Any, ...], is_key: bool, text: str) -> Any:
    out = copy.deepcopy(body)
    parent = out
    for step in route[:-1]:
        parent = parent[step]
    last = route[-1]
    if is_key:
        rebuilt = {(k + text if k == last else k): v for k, v in parent.items()}
        parent.clear()
        parent.update(rebuilt)
    else:
        parent[last] = parent[last] + text
    return out


def _post(proxy: Proxy, url: str, content: bytes) -> httpx.Response:
    return httpx.post(f"{proxy.url}{url}", content=content, headers={"content-type": "application/json"}, timeout=30)


# ------------------------------------------------------------------------------------------ the fields, one by one


FIELDS = [
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "\ud800 hi"}]}, "messages[0].content"),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": [{"type": "text", "text": "a\udfff"}]}]},
     "messages[0].content[0].text"),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi", "name": "\udc00\ud800"}]},
     "messages[0].name"),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}], "stop": ["ok", "\ud83d"]}, "stop[1]"),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}], "tools": [
        {"type": "function", "function": {"name": "f", "description": "x\ud800"}}]}, "tools[0].function.description"),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}], "tools": [
        {"type": "function", "function": {"name": "f\ud800"}}]}, "tools[0].function.name"),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}], "tools": [
        {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {
            "a": {"enum": ["\udbff"]}}}}}]}, "tools[0].function.parameters.properties.a.enum[0]"),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}], "response_format": {
        "type": "json_schema", "json_schema": {"name": "r", "schema": {"const": "\udc80"}}}},
     "response_format.json_schema.schema.const"),
    ("/v1/completions", {"prompt": "\ud800 hi"}, "prompt"),
    ("/v1/completions", {"prompt": ["ok", "\ud800"]}, "prompt[1]"),
    ("/v1/completions", {"prompt": "hi", "grammar": 'root ::= "\ud800"'}, "grammar"),
]


@pytest.mark.parametrize(("url", "body", "param"), FIELDS, ids=[f[2] for f in FIELDS])
def test_a_lone_surrogate_is_a_400_naming_the_field(served: Proxy, url: str, body: dict[str, Any],
                                                    param: str) -> None:
    error = openai_error(_post(served, url, json.dumps(body).encode()), 400)
    assert error["param"] == param
    assert error["code"] == "invalid_unicode"
    assert error["type"] == "invalid_request_error"


def test_the_reported_case_and_a_key(served: Proxy) -> None:
    raw = b'{"messages": [{"role": "user", "content": "\\ud800 hi"}]}'
    error = openai_error(_post(served, "/v1/chat/completions", raw), 400)
    assert error["param"] == "messages[0].content" and "U+D800" in error["message"]
    schema = {"type": "object", "properties": {"ci\ud800ty": {"type": "string"}}}
    body = {"messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function", "function": {
        "name": "f", "parameters": schema}}]}
    error = openai_error(_post(served, "/v1/chat/completions", json.dumps(body).encode()), 400)
    assert error["param"] == "tools[0].function.parameters.properties" and "a key in" in error["message"]
    assert served.chat().status_code == 200  # and the server answers normally afterwards


def test_every_post_route_of_the_app_checks_its_body(served: Proxy) -> None:
    """The check is app-wide: every route in the OpenAPI document (included routers too: a front door added
    later) refuses a lone surrogate before its handler or its body model looks at the request, in its own
    error shape."""
    paths = served.app.openapi()["paths"]
    posts = [path for path, operations in paths.items() if "post" in operations and "{" not in path]
    assert {"/v1/chat/completions", "/v1/completions"} <= set(posts)
    for path in posts:
        response = _post(served, path, b'{"model": "m\\udc00"}')
        assert response.status_code == 400, (path, response.text)
        assert "model" in response.text and "U+DC00" in response.text, (path, response.text)


def test_paired_surrogate_escapes_and_plain_bodies_pass_without_a_second_parse() -> None:
    assert unicode_problem(json.dumps({"content": "weather \U0001f324 ok"}).encode()) is None  # \ud83c\udf24
    assert unicode_problem(b'{"content": "\\\\ud800 is how you write it"}') is None  # an escaped backslash
    assert unicode_problem(b"not json \\ud800") is None
    assert lone_surrogate({"a": ["ok", {"b": "x\udfffy"}]}) == ("a[1].b", "\udfff", False)


# ------------------------------------------------------------------------------------------ the family, as a property

SURROGATES = st.integers(0xD800, 0xDFFF).map(chr)
LONE = st.one_of(
    SURROGATES,
    st.tuples(st.integers(0xDC00, 0xDFFF), st.integers(0xD800, 0xDBFF)).map(lambda p: chr(p[0]) + chr(p[1])),
    st.tuples(st.integers(0xD800, 0xDBFF), st.sampled_from("ax\ud800 ")).map(lambda p: chr(p[0]) + p[1]),
)
BAD_UTF8 = st.sampled_from([b"\xff", b"\xc0\x80", b"\xe2\x82", b"\xf4\x90\x80\x80", b"\x80", b"\xed\xa0"])
ENCODINGS = ("escaped", "cesu-8", "utf-16")
tally: dict[str, int] = {}


@settings(max_examples=120, derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(where=st.sampled_from(LOCATIONS), data=st.data())
def test_any_string_with_invalid_unicode_is_a_400_never_a_500(served: Proxy, where: tuple[Any, ...],
                                                              data: st.DataObject) -> None:
    url, n, path, route, is_key = where
    body = BODIES[url][n]
    kind = data.draw(st.sampled_from(["lone", "bad-utf8", "paired"]), label="kind")
    if kind == "lone":
        text = data.draw(LONE, label="lone")
        encoding = data.draw(st.sampled_from(ENCODINGS), label="encoding")
        doc = _inject(body, route, is_key, text)
        if encoding == "escaped":
            content = json.dumps(doc).encode()
        else:
            codec = "utf-8" if encoding == "cesu-8" else "utf-16-le"
            content = json.dumps(doc, ensure_ascii=False).encode(codec, "surrogatepass")
        response = _post(served, url, content)
        error = openai_error(response, 400)
        assert error["code"] == "invalid_unicode", error
        assert error["param"] == (path or None), (error, path)
        assert ("a key in" in error["message"]) == is_key
    elif kind == "bad-utf8":
        raw = data.draw(BAD_UTF8, label="bytes")
        doc = _inject(body, route, is_key, MARK)
        content = json.dumps(doc, ensure_ascii=False).encode().replace(MARK.encode(), raw)
        openai_error(_post(served, url, content), 400)
    else:  # a character outside the BMP, escaped as a surrogate pair: valid, answered as usual
        doc = _inject(body, route, is_key, "\U0001f324")
        response = _post(served, url, json.dumps(doc).encode())
        assert response.status_code < 500, response.text[:500]
        if is_key or route[-1] not in ("content", "text"):
            pass  # a changed name, schema or grammar may be refused for its own reasons (never a 500)
        else:
            assert response.status_code == 200, response.text[:500]
    tally[kind] = tally.get(kind, 0) + 1


def test_the_property_ran_every_kind() -> None:
    print(f"\ninvalid-unicode property: {tally}")
    assert all(tally.get(kind, 0) >= 10 for kind in ("lone", "bad-utf8", "paired")), tally
