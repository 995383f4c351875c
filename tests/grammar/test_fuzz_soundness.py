"""Soundness on random schemas: whatever llama.cpp's engine accepts under the compiled grammar must be
valid for the ``jsonschema`` validator (random values, fixed seeds; patterns kept to plain ASCII ones
where Python's re and ECMA-262 agree, multipleOf kept exact in binary floating point)."""

from __future__ import annotations

import random
from typing import Any

import jsonschema
import pytest

from tests.grammar.jsts import variants
from tests.grammar.oracle import Oracle
from toolproxy.errors import UnsupportedSchema
from toolproxy.grammar import schema_to_gbnf

KEYS = ["a", "b", "c", "ab", "ba", "a\n"]
SCALARS: list[Any] = [None, True, False, 0, 1, -1, 2, 3, 2.5, -0.5, 10, 0.25, 1.5, -3,
                      "", "a", "ab", "abc", "b", "aa", "a\n", "é", '"']  # fmt: skip
NUMBERS = ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"]
COUNTS = ["minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties",
          "minContains", "maxContains"]  # fmt: skip
SUBSCHEMA = ["items", "contains", "additionalProperties", "propertyNames", "not",
             "unevaluatedProperties", "unevaluatedItems"]  # fmt: skip
LISTS = ["allOf", "anyOf", "oneOf"]
TYPES: list[Any] = ["null", "boolean", "integer", "number", "string", "array", "object",
                    ["integer", "string"], ["array", "object", "null"]]  # fmt: skip
KINDS = ["type", "enum", "const", "multipleOf", "prefixItems", "uniqueItems", "properties", "required",
         "dependentRequired", "dependentSchemas", "patternProperties", "if", *NUMBERS, *COUNTS, *SUBSCHEMA,
         *LISTS]  # fmt: skip


class Gen:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def value(self, depth: int = 0) -> Any:
        r = self.rng.random()
        if depth > 2 or r < 0.5:
            return self.rng.choice(SCALARS)
        if r < 0.75:
            return [self.value(depth + 1) for _ in range(self.rng.randint(0, 4))]
        return {k: self.value(depth + 1) for k in self.rng.sample(KEYS, self.rng.randint(0, 3))}

    def schema(self, depth: int = 0) -> Any:
        rng = self.rng
        if depth > 3 or rng.random() < 0.15:
            leaves: list[Any] = [True, False, {}, {"type": "integer"}, {"type": "string"},
                                 {"const": self.value(2)}, {"type": "array", "items": {"$ref": "#"}}]  # fmt: skip
            return rng.choice(leaves)
        out: dict[str, Any] = {}
        for _ in range(rng.randint(1, 3)):
            k = rng.choice(KINDS)
            if k == "type":
                out[k] = rng.choice(TYPES)
            elif k == "enum":
                out[k] = [self.value(1) for _ in range(rng.randint(1, 4))]
            elif k == "const":
                out[k] = self.value(1)
            elif k in NUMBERS:
                out[k] = rng.choice([0, 1, 2, -1, 2.5])
            elif k == "multipleOf":
                out[k] = rng.choice([1, 2, 3, 0.5])
            elif k in COUNTS:
                out[k] = rng.randint(0, 3)
            elif k in SUBSCHEMA:
                out[k] = self.schema(depth + 1)
            elif k == "prefixItems":
                out[k] = [self.schema(depth + 1) for _ in range(rng.randint(1, 2))]
            elif k == "uniqueItems":
                out[k] = True
            elif k == "properties":
                out[k] = {n: self.schema(depth + 1) for n in rng.sample(KEYS, rng.randint(1, 3))}
            elif k == "patternProperties":
                out[k] = {rng.choice(["^a", "b", "^c$", "a$"]): self.schema(depth + 1)}
            elif k == "required":
                out[k] = rng.sample(KEYS, rng.randint(1, 2))
            elif k == "dependentRequired":
                out[k] = {rng.choice(KEYS): rng.sample(KEYS, 1)}
            elif k == "dependentSchemas":
                out[k] = {rng.choice(KEYS): self.schema(depth + 1)}
            elif k in LISTS:
                out[k] = [self.schema(depth + 1) for _ in range(rng.randint(1, 3))]
            elif k == "if":
                out["if"] = self.schema(depth + 1)
                out["then"] = self.schema(depth + 1)
                if rng.random() < 0.7:
                    out["else"] = self.schema(depth + 1)
        return out


@pytest.mark.parametrize("seed", range(3))
def test_random_schemas_are_sound(oracle: Oracle, seed: int) -> None:
    gen = Gen(seed)
    compiled = 0
    for _ in range(60):
        schema = gen.schema()
        try:
            gbnf = schema_to_gbnf(schema)
        except UnsupportedSchema:
            continue
        compiled += 1
        grammar = oracle.grammar(gbnf)
        assert grammar is not None, gbnf
        validator = jsonschema.Draft202012Validator(schema)
        with grammar:
            for _ in range(20):
                value = gen.value()
                admitted = [t for t in variants(value, schema)[:2] if grammar.accepts(t)]
                if admitted:
                    try:
                        ok = validator.is_valid(value)
                    except RecursionError:
                        continue
                    assert ok, (schema, admitted[0])
    assert compiled >= 40
