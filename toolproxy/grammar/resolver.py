"""Locating subschemas: JSON pointers, ``$id`` bases, ``$anchor`` and local ``$ref`` resolution.

Every subschema is identified by its absolute JSON pointer inside the document given to the compiler.
References that leave the document (remote ``$ref``) are refused, never fetched.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urldefrag, urljoin

from toolproxy.errors import UnsupportedSchema

DEFAULT_BASE = "https://toolproxy.invalid/schema.json"

_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
_SCHEMA_ONE = (
    "not", "if", "then", "else", "contains", "additionalProperties", "propertyNames",
    "unevaluatedProperties", "unevaluatedItems", "items", "additionalItems",
)  # fmt: skip


def escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def child(pointer: str, *tokens: str | int) -> str:
    return pointer + "".join("/" + escape(str(t)) for t in tokens)


def split(pointer: str) -> list[str]:
    if not pointer:
        return []
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


class Document:
    """One schema document: subschema lookup by pointer and ``$ref`` resolution."""

    def __init__(self, schema: Any) -> None:
        self.root = schema
        self.resources: dict[str, str] = {}  # absolute URI (no fragment) -> pointer
        self.anchors: dict[str, str] = {}  # absolute URI with #anchor -> pointer
        self.bases: dict[str, str] = {}  # pointer -> base URI
        self.dynamic_names: dict[str, int] = {}  # $dynamicAnchor name -> how many in the document
        self.dynamic_anchors: dict[str, str] = {}  # absolute URI with #name -> pointer ($dynamicAnchor)
        self.name_rank: dict[str, int] = {}  # property names in the order the schema first mentions them
        self._index(schema, "", DEFAULT_BASE, 0)

    def _index(self, node: Any, pointer: str, base: str, depth: int) -> None:
        if depth > 200:
            raise UnsupportedSchema(pointer, "schema nesting is deeper than 200 levels")
        if not isinstance(node, dict):
            return
        ident = node.get("$id")
        if isinstance(ident, str):
            base = urljoin(base, ident)
            uri, _ = urldefrag(base)
            self.resources.setdefault(uri, pointer)
        elif pointer == "":
            self.resources.setdefault(DEFAULT_BASE, "")
        self.bases[pointer] = base
        self._rank_names(node)
        uri, _ = urldefrag(base)
        for key in ("$anchor", "$dynamicAnchor"):
            anchor = node.get(key)
            if isinstance(anchor, str):
                self.anchors.setdefault(f"{uri}#{anchor}", pointer)
                if key == "$dynamicAnchor":
                    self.dynamic_names[anchor] = self.dynamic_names.get(anchor, 0) + 1
                    self.dynamic_anchors.setdefault(f"{uri}#{anchor}", pointer)
        for key in _SCHEMA_MAPS:
            sub = node.get(key)
            if isinstance(sub, dict):
                for name, value in sub.items():
                    self._index(value, child(pointer, key, name), base, depth + 1)
        for key in _SCHEMA_LISTS:
            sub = node.get(key)
            if isinstance(sub, list):
                for i, value in enumerate(sub):
                    self._index(value, child(pointer, key, i), base, depth + 1)
        for key in _SCHEMA_ONE:
            if key in node:
                self._index(node[key], child(pointer, key), base, depth + 1)

    def _rank_names(self, node: dict[str, Any]) -> None:
        names: list[Any] = list(node.get("properties") or {}) if isinstance(node.get("properties"), dict) else []
        if isinstance(node.get("required"), list):
            names.extend(node["required"])
        for key in ("dependentRequired", "dependencies"):
            deps = node.get(key)
            if isinstance(deps, dict):
                for name, needed in deps.items():
                    if isinstance(needed, list):
                        names.extend(needed)  # what a property needs usually comes before it
                    names.append(name)
        for name in names:
            if isinstance(name, str):
                self.name_rank.setdefault(name, len(self.name_rank))

    def at(self, pointer: str) -> Any:
        node = self.root
        for token in split(pointer):
            if isinstance(node, dict) and token in node:
                node = node[token]
            elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
                node = node[int(token)]
            else:
                raise UnsupportedSchema(pointer, "reference points to nothing")
        return node

    def base_of(self, pointer: str) -> str:
        if pointer in self.bases:
            return self.bases[pointer]
        node, base = self.root, DEFAULT_BASE
        if isinstance(node, dict) and isinstance(node.get("$id"), str):
            base = urljoin(base, node["$id"])
        for token in split(pointer):
            node = node.get(token) if isinstance(node, dict) else None
            if isinstance(node, dict) and isinstance(node.get("$id"), str):
                base = urljoin(base, node["$id"])
        return base

    def _dynamic(self, uri: str, name: str) -> str | None:
        """Dynamic resolution where it does not depend on the path: evaluation always starts in the
        document's root resource, so when that resource declares ``$dynamicAnchor: name`` (and the
        initial target is a "bookend" dynamic anchor), it is the outermost match and wins."""
        initial = self.dynamic_anchors.get(f"{uri}#{name}")
        if initial is None:
            return None  # no bookend: behaves like $ref
        root_uri = urldefrag(self.base_of(""))[0]
        return self.dynamic_anchors.get(f"{root_uri}#{name}", initial if self.dynamic_names[name] == 1 else None)

    def resolve(self, ref: str, at: str, *, dynamic: bool = False) -> str:
        """The pointer a ``$ref`` (or ``$dynamicRef``) found at ``at`` refers to.

        A ``$dynamicRef`` is resolved statically where its dynamic resolution cannot depend on the
        evaluation path (see ``_dynamic``); otherwise it is refused.
        """
        base = self.base_of(at)
        if ref.startswith("#"):  # also right for bases urljoin does not understand (urn:, tag:)
            target = urldefrag(base)[0] + ref
        else:
            target = urljoin(base, ref)
        uri, fragment = urldefrag(target)
        fragment = unquote(fragment)
        if dynamic and fragment and not fragment.startswith("/"):
            found = self._dynamic(uri, fragment)
            if found is not None:
                return found
            if self.dynamic_names.get(fragment, 0) > 1:
                raise UnsupportedSchema(child(at, "$dynamicRef"), "dynamic scope resolution is ambiguous")
        if fragment and not fragment.startswith("/"):
            found = self.anchors.get(f"{uri}#{fragment}")
            if found is None:
                raise UnsupportedSchema(child(at, "$ref"), f"unknown anchor or remote reference {ref!r}")
            return found
        resource = self.resources.get(uri)
        if resource is None:
            raise UnsupportedSchema(child(at, "$ref"), f"remote reference {ref!r} is not fetched")
        pointer = resource + fragment
        self.at(pointer)  # must exist
        return pointer
