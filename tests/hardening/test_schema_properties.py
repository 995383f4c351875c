"""Property tests over generated JSON Schemas: the compiler either refuses (``UnsupportedSchema``) or emits a
grammar llama.cpp parses that is *sound* — near-miss invalid instances (mutations of valid ones, judged by
jsonschema with format checking) are rejected by llama.cpp's own grammar engine (the oracle of
tests/grammar). Valid instances come from hypothesis-jsonschema; how many the grammar accepts is printed
(completeness is the JSON-Schema-Test-Suite's job, tests/grammar/test_suite_jsts.py)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument, Unsatisfiable
from hypothesis_jsonschema import from_schema

from tests.grammar.jsts import variants
from tests.grammar.oracle import Oracle
from toolproxy.errors import UnsupportedSchema
from toolproxy.grammar import schema_to_gbnf

# hypothesis-jsonschema cannot follow some $refs (recursive ones, refs it moved while canonicalising)
_RefResolutionError = jsonschema.exceptions._RefResolutionError
SCHEMAS = int(os.environ.get("TOOLPROXY_PROPERTY_EXAMPLES", "120"))  # per run (derandomized: deterministic)
INSTANCES = 4  # valid instances drawn per compiled schema

Schema = dict[str, Any]

_names = st.sampled_from(["a", "b", "id", "name", "x_y", "Zz"])
_patterns = st.sampled_from(["^[a-z]+$", "^[0-9]{2,4}$", "^a", "b$", "^[A-Z][a-z]*$", "^(ab|cd)+$", "x", "^.{0,3}$"])
_formats = st.sampled_from(["date", "date-time", "time", "email", "uuid", "ipv4", "ipv6", "uri", "hostname"])
_scalars = st.one_of(st.none(), st.booleans(), st.integers(-100, 100), st.sampled_from([0.5, -2.25, 1e3]),
                     st.text(alphabet="abcxyz \"\\é", max_size=5))


def _optional(base: Schema, **options: st.SearchStrategy[Any]) -> st.SearchStrategy[Schema]:
    return st.fixed_dictionaries(base, optional=options)  # type: ignore[arg-type]


_leaves: st.SearchStrategy[Schema] = st.one_of(
    _optional({"type": st.just("string")}, minLength=st.integers(0, 4), maxLength=st.integers(0, 10),
              pattern=_patterns),
    _optional({"type": st.just("string"), "format": _formats}),
    _optional({"type": st.just("integer")}, minimum=st.integers(-50, 50), maximum=st.integers(-50, 50),
              exclusiveMinimum=st.integers(-50, 50), multipleOf=st.integers(1, 7)),
    _optional({"type": st.just("number")}, minimum=st.integers(-10, 10), maximum=st.sampled_from([0, 2.5, 100])),
    st.just({"type": "boolean"}),
    st.just({"type": "null"}),
    st.lists(_scalars, min_size=1, max_size=4, unique_by=lambda v: json.dumps(v)).map(lambda e: {"enum": e}),
    _scalars.map(lambda c: {"const": c}),
    st.sampled_from([{}, True, {"type": ["string", "null"]}, {"type": ["integer", "boolean"]}]),
)


def _extend(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Schema]:
    objects = st.dictionaries(_names, children, max_size=3).flatmap(lambda props: _optional(
        {"type": st.just("object"), "properties": st.just(props)},
        required=st.lists(st.sampled_from(sorted(props)), unique=True) if props else st.just([]),
        additionalProperties=st.one_of(st.booleans(), children),
    ))
    return st.one_of(
        _optional({"type": st.just("array"), "items": children}, minItems=st.integers(0, 2),
                  maxItems=st.integers(0, 4)),
        st.lists(children, min_size=1, max_size=2).map(lambda p: {"type": "array", "prefixItems": p, "items": False}),
        objects,
        st.lists(children, min_size=2, max_size=3).map(lambda s: {"anyOf": s}),
        st.lists(children, min_size=2, max_size=3).map(lambda s: {"oneOf": s}),
        st.lists(children, min_size=2, max_size=2).map(lambda s: {"allOf": s}),
        children.map(lambda s: {"not": s}),
        children.map(lambda d: {"$defs": {"d": d}, "type": "object", "properties": {"p": {"$ref": "#/$defs/d"}},
                                "required": ["p"]}),
    )


schemas: st.SearchStrategy[Any] = st.recursive(_leaves, _extend, max_leaves=6)


# --------------------------------------------------------------------------- near misses


def near_misses(value: Any, depth: int = 0) -> Iterator[Any]:
    """Small changes of ``value`` (at the top and one or two levels down): most break a schema it satisfied."""
    yield from (None, True, 0, 1.5, "x", [], {})
    if isinstance(value, str):
        yield from (value + "!", value + "a", value[:-1], value * 3, value.upper(), " " + value)
    elif isinstance(value, bool):
        yield not value
    elif isinstance(value, int | float):
        yield from (value + 1, value - 1, value + 0.5, -value, value * 10, str(value))
    elif isinstance(value, list):
        yield from (value[:-1], [*value, value[0] if value else None], [*value, "zz"], value[::-1])
        if depth < 2:
            for i, item in enumerate(value[:3]):
                for changed in near_misses(item, depth + 1):
                    yield [*value[:i], changed, *value[i + 1:]]
    elif isinstance(value, dict):
        yield {**value, "zz_extra": 1}
        for key in list(value)[:4]:
            yield {k: v for k, v in value.items() if k != key}
            if depth < 2:
                for changed in near_misses(value[key], depth + 1):
                    yield {**value, key: changed}


def _validator(schema: Any) -> jsonschema.protocols.Validator:
    cls = jsonschema.Draft202012Validator
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


@pytest.fixture(scope="module")
def tally() -> dict[str, int]:
    return {"schemas": 0, "refused": 0, "compiled": 0, "valid": 0, "valid_accepted": 0, "invalid": 0}


@settings(max_examples=SCHEMAS, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(schema=schemas, data=st.data())
def test_compiler_refuses_or_is_sound(oracle: Oracle, tally: dict[str, int], schema: Any, data: st.DataObject) -> None:
    tally["schemas"] += 1
    try:
        gbnf = schema_to_gbnf(schema)
    except UnsupportedSchema:
        tally["refused"] += 1
        return  # refusing is always allowed; any other exception fails the test
    grammar = oracle.grammar(gbnf)
    assert grammar is not None, f"llama.cpp cannot parse the grammar of {json.dumps(schema)}:\n{gbnf}"
    tally["compiled"] += 1
    validator = _validator(schema)
    with grammar:
        try:
            instances = [data.draw(from_schema(schema)) for _ in range(INSTANCES)]
        except (InvalidArgument, Unsatisfiable, _RefResolutionError):
            instances = []  # hypothesis-jsonschema cannot generate for it (recursive $ref), or nothing satisfies it
        seeds = instances or [None, 0, "", [], {}]
        for value in instances:
            tally["valid"] += 1
            tally["valid_accepted"] += any(grammar.accepts(t) for t in variants(value, schema))
        checked: set[str] = set()
        for seed in seeds:
            for miss in near_misses(seed):
                key = json.dumps(miss, sort_keys=True)
                if key in checked or validator.is_valid(miss):
                    continue
                checked.add(key)
                tally["invalid"] += 1
                admitted = [t for t in variants(miss, schema) if grammar.accepts(t)]
                assert not admitted, f"unsound: {json.dumps(schema)} admits invalid {admitted[0]}\n{gbnf}"


def test_property_run_figures(tally: dict[str, int]) -> None:
    """Printed after the property run (same module): what was exercised."""
    if not tally["schemas"]:
        pytest.skip("run together with test_compiler_refuses_or_is_sound")
    print(f"\ngenerated schemas {tally['schemas']}: compiled {tally['compiled']}, refused {tally['refused']}; "
          f"valid instances accepted {tally['valid_accepted']}/{tally['valid']}; "
          f"near-miss invalid instances rejected {tally['invalid']}/{tally['invalid']}")
    assert tally["compiled"] >= tally["schemas"] // 2
    assert tally["invalid"] >= tally["compiled"]  # every compiled schema met invalid instances
