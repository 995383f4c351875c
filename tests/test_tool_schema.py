"""Client tool schemas (BFCL dialect, nullable, missing parameters) -> standard JSON Schema."""

from __future__ import annotations

import jsonschema
import pytest

from toolproxy.errors import InvalidRequest
from toolproxy.tool_schema import normalize_parameters, normalize_schema


def test_bfcl_types_are_mapped() -> None:
    schema = normalize_parameters(
        {"type": "dict", "properties": {
            "a": {"type": "float"}, "b": {"type": "tuple", "items": {"type": "str"}},
            "c": {"type": "any"}, "d": {"type": "list", "items": {"type": "int"}}, "e": {"type": "bool"}}},
        tool="t",
    )
    props = schema["properties"]
    assert schema["type"] == "object"
    assert props["a"] == {"type": "number"}
    assert props["b"] == {"type": "array", "items": {"type": "string"}}
    assert props["c"] == {}
    assert props["d"]["items"] == {"type": "integer"}
    assert props["e"] == {"type": "boolean"}


def test_missing_parameters_means_no_arguments() -> None:
    schema = normalize_parameters(None, tool="t")
    jsonschema.validate({}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"x": 1}, schema)


def test_nullable_adds_null() -> None:
    schema = normalize_schema({"type": "string", "enum": ["a"], "nullable": True})
    assert schema["type"] == ["string", "null"] and schema["enum"] == ["a", None]


def test_objects_are_closed_only_where_sound() -> None:
    schema = normalize_parameters({"type": "object", "properties": {
        "a": {"type": "object", "properties": {"x": {"type": "integer"}}},
        "b": {"allOf": [{"properties": {"x": {}}}, {"properties": {"y": {}}}]},
        "c": {"not": {"properties": {"x": {}}}},
        "d": {"type": "object", "properties": {"x": {}}, "additionalProperties": {"type": "integer"}}}}, tool="t")
    assert schema["additionalProperties"] is False
    assert schema["properties"]["a"]["additionalProperties"] is False
    assert all("additionalProperties" not in sub for sub in schema["properties"]["b"]["allOf"])
    assert "additionalProperties" not in schema["properties"]["c"]["not"]
    assert schema["properties"]["d"]["additionalProperties"] == {"type": "integer"}
    # a value valid against the closed schema is valid against the original one
    jsonschema.validate({"a": {"x": 1}, "b": {"x": 1, "y": 2}}, schema)


@pytest.mark.parametrize("bad", [{"type": "wizard"}, {"type": 3}, "not a schema", {"type": "string"}])
def test_bad_parameters_are_invalid_requests(bad: object) -> None:
    with pytest.raises(InvalidRequest):
        normalize_parameters(bad, tool="t")  # type: ignore[arg-type]


def test_depth_limit() -> None:
    deep: dict[str, object] = {"type": "object"}
    for _ in range(200):
        deep = {"type": "object", "properties": {"x": deep}}
    with pytest.raises(InvalidRequest):
        normalize_parameters(deep, tool="t")
