"""Reasoning models: let the model think (``<think>...</think>``) before the style's constrained answer.

The scanner already turns a leading think block into ``reasoning_content`` (``OutputFormat.think``). What the
grammar must allow depends on the chat template:

- ``"open"``: the prompt ends inside an opened think block (QwQ, DeepSeek R1 and other templates whose
  generation prompt ends with ``<think>``): the output starts with thoughts, then ``</think>``, then the
  answer. The scanner is fed ``<think>`` first so it knows it is inside the block.
- ``"optional"``: the template knows ``<think>`` (Qwen3, GLM, ...): the output may start with one block.
- ``None``: no thinking (or the prompt ends with a closed, empty block: thinking switched off); the grammar
  is left alone.

:func:`with_thinking` wraps a style's grammar (its ``root`` becomes ``answer``) without touching the style.
"""

from __future__ import annotations

import re
from typing import Literal

from toolproxy.grammar import GrammarBuilder
from toolproxy.styles.grammar_kit import text_excluding

OPEN = "<think>"
CLOSE = "</think>"
ThinkMode = Literal["open", "optional"]

_RULE = re.compile(r"^([a-zA-Z0-9-]+) ::= ", re.MULTILINE)


def think_mode(prompt: str, template: str | None) -> ThinkMode | None:
    if not template or OPEN not in template:
        return None
    tail = prompt.rstrip()
    if tail.endswith(OPEN):
        return "open"
    if tail.endswith(CLOSE):  # the template closed the block itself (thinking switched off)
        return None
    return "optional"


def scan_prefix(mode: ThinkMode | None) -> str:
    """What the scanner must be fed before the output (the think block the prompt opened)."""
    return OPEN if mode == "open" else ""


def with_thinking(grammar: str, mode: ThinkMode) -> str:
    """``grammar`` preceded by a think block (required when ``open``: its opener is in the prompt already).
    The grammar is returned unchanged when its rules cannot be renamed safely."""
    names = _RULE.findall(grammar)
    rest = grammar.split("::=", 1)[-1]  # every rule body, the root's included
    if not names or names[0] != "root" or re.search(r"(?<![a-zA-Z0-9-])root(?![a-zA-Z0-9-])", rest):
        return grammar
    b = GrammarBuilder()
    thoughts = text_excluding(b, "think-text", [CLOSE])
    extra = b.build(f'{thoughts} "{CLOSE}" [ \\t\\n]*', root="think-block")
    extra_names = set(_RULE.findall(extra))
    if extra_names & set(names) or "answer" in names:
        return grammar
    answer = grammar.replace("root ::= ", "answer ::= ", 1)
    block = f'"{OPEN}" [ \\t\\n]* think-block' if mode == "optional" else "think-block"
    head = f"root ::= ( {block} )? answer" if mode == "optional" else f"root ::= {block} answer"
    return f"{head}\n{answer}{extra}"
