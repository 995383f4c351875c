"""Checking a literal JSON value against a conjunction of subschemas (enum filtering, property names).

Used only on constants the schema itself spells out (enum/const values, property names), through the
``jsonschema`` validator on the same document. ``None`` means "could not tell": callers then pick the
sound side (drop the value, or assume the stricter case).
"""

from __future__ import annotations

from typing import Any

from toolproxy.grammar.facts import Conj, negated_members
from toolproxy.grammar.resolver import DEFAULT_BASE, Document


class Checker:
    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self._validators: dict[str, Any] = {}
        self._failed = False

    def _validator(self, pointer: str) -> Any:
        found = self._validators.get(pointer)
        if found is not None:
            return found
        import jsonschema
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT202012

        root = self.doc.root
        resource = Resource.from_contents(root, default_specification=DRAFT202012)
        registry: Any = Registry().with_resource(DEFAULT_BASE, resource)
        base = DEFAULT_BASE
        if isinstance(root, dict) and isinstance(root.get("$id"), str):
            base = root["$id"]
            registry = registry.with_resource(base, resource)
        cls = jsonschema.Draft202012Validator
        validator = cls(
            {"$ref": f"{base}#{pointer}"}, registry=registry, format_checker=cls.FORMAT_CHECKER
        )
        self._validators[pointer] = validator
        return validator

    def valid(self, value: Any, conj: Conj) -> bool | None:
        try:
            for member in conj:
                if member.startswith("!"):
                    inner = self.valid(value, negated_members(member))
                    if inner is None:
                        return None
                    if inner:
                        return False
                elif not self._validator(member).is_valid(value):
                    return False
            return True
        except Exception:
            return None
