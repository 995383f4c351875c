"""Run the JSON-Schema-Test-Suite (draft 2020-12) through the compiler and the llama.cpp oracle."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.grammar.oracle import Oracle
from toolproxy.errors import UnsupportedSchema
from toolproxy.grammar import schema_to_gbnf


def suite_files(shared: Path) -> list[Path]:
    root = shared / "jsonschema-test-suite" / "draft2020-12"
    return sorted(root.glob("*.json")) + sorted((root / "optional" / "format").glob("*.json"))


@dataclass
class GroupResult:
    name: str
    compiled: bool
    reason: str = ""
    valid_total: int = 0
    valid_accepted: int = 0
    invalid_total: int = 0
    unsound: list[str] = field(default_factory=list)  # invalid instances the grammar admitted
    missed: list[str] = field(default_factory=list)  # valid instances it rejected


def _property_rank(schema: Any) -> dict[str, int]:
    rank: dict[str, int] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "properties" and isinstance(value, dict):
                    for name in value:
                        rank.setdefault(name, len(rank))
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return rank


def _reorder(value: Any, rank: dict[str, int]) -> Any:
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: (0, rank[k]) if k in rank else (1, 0))
        return {k: _reorder(value[k], rank) for k in keys}
    if isinstance(value, list):
        return [_reorder(v, rank) for v in value]
    return value


def variants(value: Any, schema: Any) -> list[str]:
    ordered = _reorder(value, _property_rank(schema))
    out: list[str] = []
    for v in (value, ordered):
        for seps in ((",", ":"), (", ", ": ")):
            text = json.dumps(v, ensure_ascii=False, separators=seps)
            if text not in out:
                out.append(text)
    return out


def run_group(oracle: Oracle, name: str, group: dict[str, Any]) -> GroupResult:
    schema = group["schema"]
    try:
        gbnf = schema_to_gbnf(schema)
    except UnsupportedSchema as exc:
        res = GroupResult(name, False, reason=f"{exc.pointer}: {exc.reason}")
        res.valid_total = sum(1 for t in group["tests"] if t["valid"])
        res.invalid_total = len(group["tests"]) - res.valid_total
        return res
    grammar = oracle.grammar(gbnf)
    if grammar is None:
        raise AssertionError(f"{name}: llama.cpp could not parse the grammar:\n{gbnf}")
    res = GroupResult(name, True)
    with grammar:
        for test in group["tests"]:
            texts = variants(test["data"], schema)
            if test["valid"]:
                res.valid_total += 1
                if any(grammar.accepts(t) for t in texts):
                    res.valid_accepted += 1
                else:
                    res.missed.append(texts[0])
            else:
                res.invalid_total += 1
                admitted = [t for t in texts if grammar.accepts(t)]
                if admitted:
                    res.unsound.append(admitted[0])
    return res


def all_groups(shared: Path) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in suite_files(shared):
        rel = path.relative_to(shared / "jsonschema-test-suite" / "draft2020-12").as_posix()
        for group in json.loads(path.read_text(encoding="utf-8")):
            out.append((f"{rel}: {group['description']}", group))
    return out
