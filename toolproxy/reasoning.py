"""Reasoning models: let the model think (``<think>...</think>``) before the style's constrained answer.

The scanner already turns a leading think block into ``reasoning_content`` (``OutputFormat.think``). What the
grammar must allow depends on the chat template:

- ``"open"``: the prompt ends inside an opened think block (QwQ, DeepSeek R1 and other templates whose
  generation prompt ends with ``<think>``): the output starts with thoughts, then ``</think>``, then the
  answer. The scanner is fed ``<think>`` first so it knows it is inside the block.
- ``"optional"``: the template knows ``<think>`` (Qwen3, GLM, ...): the output may start with one block,
  after at most two blank characters (GLM 4.6's prompt ends ``<|assistant|>``, its turns ``\n<think>``; the
  scanner skips blank space before the opener too).
  An empty block may also be written as its closer alone (MiniMax M3 starts an answer without thoughts
  with ``</mm:think>``): the scanner reads that as no reasoning.
- ``None``: no thinking (or the prompt ends with a closed, empty block: thinking switched off); the grammar
  is left alone.

The tags are ``<think>``/``</think>`` unless a style names its own (``Style.thinking``: Kimi K3's
``<|open|>think<|sep|>``, MiniMax M3's ``<mm:think>``); every function here takes them as ``tags``.

:func:`with_thinking` wraps a style's grammar (its ``root`` becomes ``answer``) without touching the style.

Under ``tool_choice`` required or a named tool the call must come within ``max_tokens`` (issue 15), so the
thoughts are *bounded* (:func:`think_budget`): at most ``n`` characters of printable ASCII and whitespace without
``<`` (one character is at least one token's worth of output, so ``n`` characters cost at most ``n`` tokens), then
the grammar forces ``</think>`` and the call. A ``<`` in the thoughts can only begin ``</think>``: a model that
starts writing its call inside the thinking closes the block by doing so, and only the call after the block
counts (nothing inside the block is ever parsed as a call). Pure GBNF: the embedded backend and llama-server
alike.

The call itself must fit too: where a style writes string arguments as raw text (the XML-parameter families,
``Style.call_cost``), those values are bounded as well (``CallPolicy.value_chars``, :func:`call_budgets`): the
call's fixed text is counted in the model's tokens plus a quarter (the sampler need not pick the tokenizer's
own split), or at :data:`BYTES_PER_TOKEN` bytes a token where the backend cannot count, and what ``max_tokens``
leaves is shared between the thoughts (at most half, at most the budget) and the string values (the rest, split
evenly; one character of a value is at least one token's worth, as for the thoughts).
"""

from __future__ import annotations

import re
from typing import Literal

from toolproxy.grammar import GrammarBuilder, gbnf_literal
from toolproxy.styles.grammar_kit import text_excluding

OPEN = "<think>"
CLOSE = "</think>"
Tags = tuple[str, str]
TAGS: Tags = (OPEN, CLOSE)
ThinkMode = Literal["open", "optional"]

# budget (tokens) for OpenAI's reasoning_effort; "minimal"/"none" think not at all
EFFORT_BUDGETS = {"none": 0, "minimal": 0, "low": 256, "medium": 1024, "high": 2000}
MAX_BUDGET = 2000  # llama.cpp's largest exact repetition count
CALL_RESERVE = 64  # tokens kept for the closing tag and the call itself
CLOSE_RESERVE = 8  # tokens for </think> and the bounded space after it
BYTES_PER_TOKEN = 2  # a call's fixed text (markers, names, keys): 2.1-3.2 bytes a token on both bundled models
_PRINTABLE = (" ", "~")  # the characters of bounded thoughts: printable ASCII and whitespace, but the closer's first
_LEAD = "[ \\t\\n]{0,2}"  # blank before an optional block: GLM 4.6 writes a newline before <think>

_RULE = re.compile(r"^([a-zA-Z0-9-]+) ::= ", re.MULTILINE)


def think_mode(prompt: str, template: str | None, tags: Tags = TAGS) -> ThinkMode | None:
    """How the grammar must admit a think block after ``prompt``: ``open`` whenever the prompt ends with the
    opener (Kimi K3's template builds its ``<|open|>think<|sep|>`` from pieces, so the opener need not be in the
    template's text), ``optional`` when the template knows the opener, else None."""
    opener, closer = tags
    if not template:
        return None
    tail = prompt.rstrip()
    if tail.endswith(opener):
        return "open"
    if opener not in template or tail.endswith(closer):  # closed by the template itself: thinking switched off
        return None
    return "optional"


def scan_prefix(mode: ThinkMode | None, tags: Tags = TAGS) -> str:
    """What the scanner must be fed before the output (the think block the prompt opened)."""
    return tags[0] if mode == "open" else ""


def _bounded_char(excluded: str) -> str:
    """A character class of printable ASCII and whitespace without ``excluded`` ("<" for every tag so far)."""
    lo, hi = (ord(c) for c in _PRINTABLE)
    x = ord(excluded)
    spans = [(lo, x - 1), (x + 1, hi)] if lo <= x <= hi else [(lo, hi)]

    def char(code: int) -> str:
        c = chr(code)
        return "\\" + c if c in "\\]" else c

    ranges = "".join(char(a) if a == b else f"{char(a)}-{char(b)}" for a, b in spans if a <= b)
    return f"[\\t\\n{ranges}]"


def think_budget(budget: int, max_tokens: int) -> int:
    """Characters of thought allowed so that the thoughts, the closing tag and the call fit ``max_tokens``."""
    return max(0, min(budget, MAX_BUDGET, max_tokens - CALL_RESERVE))


def fixed_tokens(text: str, counted: int | None) -> int:
    """Tokens a call's fixed ``text`` may take: the backend's count (``counted``) plus a quarter, else its bytes
    at :data:`BYTES_PER_TOKEN`."""
    if counted is not None:
        return counted + -(-counted // 4)
    return -(-len(text.encode()) // BYTES_PER_TOKEN)


def call_budgets(budget: int, max_tokens: int, cost: tuple[int, int] | None, thinks: bool) -> tuple[int, int | None]:
    """(characters of thought, characters per raw string value or None: unbounded) under required/named.
    ``cost``: (tokens of the longest call's fixed text (:func:`fixed_tokens`), its raw values) from
    ``Style.call_cost``; ``thinks``: the template may think. Without raw values the thoughts keep
    :func:`think_budget`."""
    if cost is None or cost[1] == 0:
        return think_budget(budget, max_tokens), None
    fixed, values = cost
    left = max_tokens - fixed - (CLOSE_RESERVE if thinks else 0)
    thoughts = max(0, min(budget, MAX_BUDGET, left // 2)) if thinks else 0
    return thoughts, max(0, min(MAX_BUDGET, (left - thoughts) // values))


def with_thinking(grammar: str, mode: ThinkMode, budget: int | None = None, tags: Tags = TAGS) -> str:
    """``grammar`` preceded by a think block (required when ``open``: its opener is in the prompt already;
    when ``optional``, a bare closer stands for an empty block); ``budget``: at most that many characters of
    thought (module docstring), ``None`` unbounded. The grammar is returned unchanged when its rules cannot
    be renamed safely."""
    opener, closer = (gbnf_literal(t) for t in tags)
    names = _RULE.findall(grammar)
    rest = grammar.split("::=", 1)[-1]  # every rule body, the root's included
    if not names or names[0] != "root" or re.search(r"(?<![a-zA-Z0-9-])root(?![a-zA-Z0-9-])", rest):
        return grammar
    b = GrammarBuilder()
    if budget is None:
        thoughts = text_excluding(b, "think-text", [tags[1]])
    elif budget == 0 and mode == "optional":
        return grammar  # no room to think: the call at once
    else:
        thoughts = b.add_rule("think-text", f"{_bounded_char(tags[1][0])}{{0,{budget}}}" if budget else '""')
    space = "[ \\t\\n]*" if budget is None else "[ \\t\\n]{0,4}"  # bounded: no endless blank lines
    extra = b.build(f"{thoughts} {closer} {space}", root="think-block")
    extra_names = set(_RULE.findall(extra))
    if extra_names & set(names) or "answer" in names:
        return grammar
    answer = grammar.replace("root ::= ", "answer ::= ", 1)
    block = f"{_LEAD} {opener} {space} think-block | {_LEAD} {closer} {space}" if mode == "optional" \
        else "think-block"
    head = f"root ::= ( {block} )? answer" if mode == "optional" else f"root ::= {block} answer"
    return f"{head}\n{answer}{extra}"
