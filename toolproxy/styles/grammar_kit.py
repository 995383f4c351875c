"""GBNF pieces every style needs: free text that cannot contain a call marker, and JSON call objects
whose ``arguments`` are constrained by each tool's schema (one alternative per tool).

``UnsupportedSchema`` from the compiler is not caught here: the service relaxes the refused tool to
``{"type": "object"}`` and validates its arguments with jsonschema afterwards.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from toolproxy.grammar import GrammarBuilder, gbnf_literal
from toolproxy.styles.base import ToolSpec


def args_schema(tool: ToolSpec) -> dict[str, Any] | bool:
    """The tool's parameters schema, forced to admit objects only (arguments are always an object)."""
    schema: dict[str, Any] = tool.parameters
    if not schema:
        return {"type": "object"}
    if isinstance(schema, dict) and "type" not in schema:
        return {**schema, "type": "object"}
    return schema


def args_rule(builder: GrammarBuilder, tool: ToolSpec) -> str:
    return builder.add_schema(args_schema(tool), f"{tool.name}-args")


def json_call_rule(
    builder: GrammarBuilder,
    tools: Sequence[ToolSpec],
    *,
    name_key: str = "name",
    args_key: str = "arguments",
    escaped_underscores: bool = False,
) -> str:
    """``{"name": "T", "arguments": ARGS-of-T}`` for each tool T, as one rule of alternatives.
    ``escaped_underscores`` also admits ``"get\\_weather"`` (Mixtral writes names markdown-escaped)."""
    ws, colon, comma = (builder.fragment(f) for f in ("jws", "jws-colon", "jws-comma"))
    alternatives: list[str] = []
    for tool in tools:
        names = [gbnf_literal(json.dumps(tool.name, ensure_ascii=False))]
        if escaped_underscores and "_" in tool.name:
            names.append(gbnf_literal(json.dumps(tool.name, ensure_ascii=False).replace("_", "\\_")))
        name = names[0] if len(names) == 1 else "( " + " | ".join(names) + " )"
        body = (
            f'"{{" {ws} {gbnf_literal(json.dumps(name_key))} {ws} ":" {colon} {name} {ws} "," {comma} '
            f'{gbnf_literal(json.dumps(args_key))} {ws} ":" {colon} {args_rule(builder, tool)} {ws} "}}"'
        )
        alternatives.append(builder.add_rule(f"call-{tool.name}", body))
    return builder.add_rule("call", " | ".join(alternatives))


def repeat(builder: GrammarBuilder, name: str, item: str, separator: str, *, many: bool) -> str:
    """``item`` once, or (``many``) one or more times separated by ``separator`` (a GBNF sequence)."""
    if not many:
        return item
    return builder.add_rule(name, f"{item} ( {separator} {item} )*")


# ---------------------------------------------------------------------- free text


def _class_char(c: str) -> str:
    if c in "\\]^-[":
        return "\\" + c
    if c == "\n":
        return "\\n"
    if c == "\r":
        return "\\r"
    if c == "\t":
        return "\\t"
    return c


def _automaton(markers: Sequence[str]) -> tuple[list[str], dict[str, dict[str, str | None]]]:
    """States = proper prefixes of the markers; ``delta[state][c]`` = next state, None = a marker
    would be complete (forbidden). Characters outside the markers' alphabet lead back to ""."""
    prefixes = sorted({m[:k] for m in markers for k in range(len(m))}, key=lambda p: (len(p), p))
    alphabet = sorted({c for m in markers for c in m})
    delta: dict[str, dict[str, str | None]] = {}
    for state in prefixes:
        row: dict[str, str | None] = {}
        for c in alphabet:
            grown = state + c
            if any(grown.endswith(m) for m in markers):
                row[c] = None
                continue
            row[c] = next(grown[i:] for i in range(len(grown) + 1) if grown[i:] in prefixes or i == len(grown))
        delta[state] = row
    return prefixes, delta


def text_excluding(builder: GrammarBuilder, name: str, markers: Sequence[str]) -> str:
    """Any text (possibly empty) that contains none of ``markers``: the scanner will never see a call
    marker inside it. Equivalent states are merged so the rule set is small and deterministic."""
    states, delta = _automaton(markers)
    alphabet = sorted({c for m in markers for c in m})
    alias = {s: s for s in states}

    def body(state: str) -> tuple[tuple[str, str], ...]:
        groups: dict[str, list[str]] = {}
        for c in alphabet:
            target = delta[state][c]
            if target is not None:
                groups.setdefault(alias[target], []).append(c)
        groups.setdefault(alias[""], [])
        return tuple(sorted((t, "".join(cs)) for t, cs in groups.items()))

    while True:  # merge states with identical transitions until none are left
        seen: dict[tuple[tuple[str, str], ...], str] = {}
        merged = False
        for state in states:
            if alias[state] != state:
                continue
            key = body(state)
            if key in seen:
                for s in states:
                    if alias[s] == state:
                        alias[s] = seen[key]
                merged = True
            else:
                seen[key] = state
        if not merged:
            break
    live = [s for s in states if alias[s] == s]
    names = {s: f"{name}-{i}" if i else name for i, s in enumerate(live)}
    for state in live:
        groups = dict(body(state))
        stay = "".join(c for c in alphabet if delta[state][c] is not None and alias[delta[state][c] or ""] == alias[""])
        excluded = "".join(_class_char(c) for c in alphabet if c not in stay)
        alternatives = [f"[^{excluded}] {names[alias['']]}"]
        alternatives += [
            f"[{''.join(_class_char(c) for c in chars)}] {names[target]}"
            for target, chars in sorted(groups.items())
            if target != alias[""] and chars
        ]
        rule_body = "| " + " | ".join(alternatives)
        got = builder.add_rule(names[state], rule_body)
        if got != names[state]:
            raise ValueError(f"grammar rule name {names[state]!r} is already taken")
    return name


def bounded_text_excluding(builder: GrammarBuilder, name: str, marker: str, lo: int, hi: int, *,
                           pairs: bool = True) -> str:
    """``lo`` to ``hi`` units of text that cannot contain ``marker`` (whose first two characters differ, as in
    ``</parameter>`` or Kimi K3's ``<|close|>argument<|sep|>``), for a raw value whose length must be bounded. A
    unit is one character other than the marker's first, or (``pairs``) that first character with the one after
    it, which neither continues the marker nor starts it again: ``<`` then anything but ``/`` and ``<``. So the
    text holds no ``</``, no ``<<`` and does not end with ``<``: the marker cannot start inside it, wherever else
    its first character recurs; with ``pairs`` false it holds no ``<`` at all and ``hi`` counts characters
    exactly. ``hi`` at most llama.cpp's repetition limit (2000)."""
    first = marker[0]
    if len(marker) < 2 or marker[1] == first or not 0 <= lo <= hi:
        raise ValueError(f"no bounded text for the marker {marker!r} ({lo}..{hi})")
    head = _class_char(first)
    unit = f"[^{head}]"
    if pairs:
        unit = builder.add_rule(f"{name}-unit", f"{unit} | {gbnf_literal(first)} [^{head}{_class_char(marker[1])}]")
    if hi == 0:
        return builder.add_rule(name, '""')
    return builder.add_rule(name, f"{unit}{{{lo},{hi}}}" if (lo, hi) != (0, 1) else f"{unit}?")
