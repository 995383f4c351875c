"""Issue 15's round trip: tool calls rendered by each model's **own** chat template, read back by the scanner of
the style toolproxy chooses for that template (the service's choice: detected, else derived from the template,
else the fallback, :func:`toolproxy.styles.choice.choose_style`), and accepted by that style's grammar on
llama.cpp's own grammar engine.

For every template in ../shared/chat-templates and every case in :data:`CASES` (one call; two parallel calls; a
call after a tool result; string, integer, number, boolean, array and object arguments; a string holding quotes,
``<``, a newline and non-ASCII): render the conversation up to the assistant turn (with the generation prompt)
and the same conversation with the assistant turn holding the case's calls; what the second rendering adds after
the generation prompt, up to the template's end-of-turn marker, is the text the model was trained to write. That
text (after the style's generation prefix, and after ``<think>`` when the prompt opened a think block) goes
through the chosen style's scanner, once whole and once in 1-character chunks, and through the style's
grammars for the case's tools under ``required``, ``auto`` and (one call) ``required`` without parallel calls,
wrapped for thinking as the service wraps them. A template
*round-trips* a case when both scans come back as exactly the case's calls (argument strings equal, the
JSON equal to the case's arguments, no other content) and the grammar accepts exactly that text.

Where a case cannot hold for a family, :data:`EXPECTED_FAILURES` says why (xfail, strict: a fix shows up as a
failure to update the list). The counts (templates that round-trip per case / templates that render calls /
templates without a tool syntax) are printed by ``test_round_trip_count`` and by
``.venv/bin/python -m tests.test_roundtrip [-v]`` (``-v``: each failure). Since Muse Glimmer's derived syntax
writes its recipient header (Kimi K3 and MiniMax M3 have entries), of 71 templates, 59 render calls, 8 have no
tool syntax and 4 fail to render; round trip (scanner + grammar), the failures left are template limits:

=============  =====  ==================================================================================
case           of 59  not (see EXPECTED_FAILURES)
=============  =====  ==================================================================================
one            59
parallel       53     Llama 3.x x3 (one call a turn), gpt-oss / GigaChat 3 / 3.1 (first call only)
after_result   58     R1-Distill-Qwen (no call-section marker after a tool result)
types          59
tricky_string  58     LFM2.5 (a raw newline inside a Python string)
=============  =====  ==================================================================================

``test_history_round_trips``: what each style writes back into the prompt itself (``calls_text``) is what its
scanner reads and its grammar admits, for every case.
"""

from __future__ import annotations

import functools
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import shared_dir
from tests.grammar.oracle import Oracle
from toolproxy.models import smollm2_path
from toolproxy.native import render_native
from toolproxy.parsing import Scanner, collect, parse_text
from toolproxy.protocol import ChatMessage
from toolproxy.reasoning import TAGS, think_mode, with_thinking
from toolproxy.styles import get_style, style_names
from toolproxy.styles.base import CallPolicy, Style, ToolSpec
from toolproxy.styles.choice import StyleChoice, choose_style
from toolproxy.styles.common import Call
from toolproxy.styles.prompting import ComposedStyle
from toolproxy.templating import TemplateError


def _tool(name: str, description: str, properties: dict[str, Any]) -> ToolSpec:
    return ToolSpec(name, description, {"type": "object", "properties": properties, "required": list(properties)})


SPECS = [
    _tool("get_weather", "Weather forecast", {"city": {"type": "string"}, "days": {"type": "integer"}}),
    _tool("get_time", "Local time in a city", {"city": {"type": "string"}}),
    _tool("create_event", "Create a calendar event", {
        "title": {"type": "string"},
        "attendees": {"type": "integer"},
        "budget": {"type": "number"},
        "remote": {"type": "boolean"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "place": {"type": "object", "properties": {"room": {"type": "string"}, "floor": {"type": "integer"}},
                  "required": ["room", "floor"]},
    }),
]
TOOLS = [{"type": "function", "function": {"name": s.name, "description": s.description, "parameters": s.parameters}}
         for s in SPECS]
TRICKY = 'He said "hi" & <b>a < b</b>\nSão Paulo, café ✓'

Calls = tuple[tuple[str, dict[str, Any]], ...]


def _user(text: str) -> ChatMessage:
    return ChatMessage(role="user", content=text)


def _assistant(calls: Calls, first: int = 1) -> ChatMessage:
    return ChatMessage.model_validate({
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": f"call_{first + i}", "type": "function",
                        "function": {"name": name, "arguments": json.dumps(args, ensure_ascii=False)}}
                       for i, (name, args) in enumerate(calls)],
    })


@dataclass(frozen=True)
class Case:
    history: tuple[ChatMessage, ...]
    """The conversation before the assistant turn whose calls are recovered."""
    calls: Calls


WEATHER: Calls = (("get_weather", {"city": "Paris", "days": 3}),)
CASES: dict[str, Case] = {
    "one": Case((_user("Weather in Paris for the next 3 days?"),), WEATHER),
    "parallel": Case((_user("Weather in Paris for 3 days, and the time in Tokyo?"),),
                     (*WEATHER, ("get_time", {"city": "Tokyo"}))),
    "after_result": Case(
        (_user("Weather in Paris for the next 3 days, then the time there?"), _assistant(WEATHER),
         ChatMessage(role="tool", tool_call_id="call_1", content='{"forecast": "sunny, 24 C"}')),
        (("get_time", {"city": "Paris"}),)),
    "types": Case((_user("Book the remote standup."),), (("create_event", {
        "title": "Standup", "attendees": 4, "budget": 12.5, "remote": True, "tags": ["team", "daily"],
        "place": {"room": "B2", "floor": 3}}),)),
    "tricky_string": Case((_user("Weather for that odd city name, 2 days?"),),
                          (("get_weather", {"city": TRICKY, "days": 2}),)),
}

TEMPLATES = sorted((shared_dir() / "chat-templates").glob("*.jinja"))

_FIRST_CALL_ONLY = "the template renders only a turn's first call (message.tool_calls[0]): no parallel calls"
EXPECTED_FAILURES: dict[tuple[str, str], str] = {
    **{(stem, "parallel"): "the template raises 'This model only supports single tool-calls at once!'" for stem in (
        "meta-llama-Llama-3.1-8B-Instruct", "meta-llama-Llama-3.2-3B-Instruct", "meta-llama-Llama-3.3-70B-Instruct")},
    **{(stem, "parallel"): _FIRST_CALL_ONLY for stem in (
        "openai-gpt-oss-120b", "GigaChat3.1-10B-A1.8B", "GigaChat3-10B-A1.8B")},
    ("deepseek-ai-DeepSeek-R1-Distill-Qwen-32B", "after_result"):
        "the template writes a call after a tool result without its tool-calls-begin marker and without an assistant "
        "tag, and its prompt has no generation prompt there: no text a model is prompted to write",
    ("LFM2.5-8B-A1B", "tricky_string"):
        "the template writes a raw newline inside a quoted Python string (not Python): the scanner reads it, the "
        "grammar admits the escaped \\n only (every text the Python-literal grammar admits is literal_eval-able)",
}
"""(template stem, case) -> why that case cannot round-trip (yet)."""

@dataclass(frozen=True)
class Rendered:
    choice: StyleChoice
    prompt: str
    text: str  # what the model writes (end-of-turn cut off); "" when the template renders no call
    verdict: str  # "rendered" | "no call rendered" | "template fails"


def _boundary(prompt: str, full: str, generation: str) -> int:
    """Where the assistant's own text starts in ``full``: after the longest common prefix with the prompt, or,
    when the template writes the turns before it differently once an answer follows (Hermes 2 Pro's tool
    result), after the ``generation`` prompt found there; backed off to the start of a marker the common
    prefix ends inside (QwQ's prompt ends with ``<think>``, its history writes ``<tool_call>``: the common
    ``<t`` belongs to neither)."""
    i = 0
    while i < min(len(prompt), len(full)) and prompt[i] == full[i]:
        i += 1
    if i == len(prompt):
        return i
    if generation.strip():
        found = full.find(generation, max(0, i - len(generation)))
        if found >= 0:
            return found + len(generation)
    opened = full.rfind("<", 0, i)
    return opened if opened > full.rfind(">", 0, i) else i


def _overlap(prompt: str, text: str) -> str:
    """``text`` without what the prompt already ends with (DeepSeek V3.2's prompt closes ``<think></think>``,
    its history writes ``</think>`` after the assistant tag)."""
    k = next((k for k in range(len(text), 0, -1) if prompt.endswith(text[:k])), 0)
    return text[k:]


SENTINEL = "Zyxwv sentinel answer."
_MARKER = re.compile(r"<[^<>]+>|\[[^\[\]]+\]")


def _end_of_turn(template: str, history: list[ChatMessage]) -> list[str]:
    """The markers a template writes after an assistant turn's text (``<|im_end|>``, Command R's
    ``<|END_RESPONSE|><|END_OF_TURN_TOKEN|>``, MiniMax's ``[e~[``...), found by rendering a plain answer: the
    model stops (EOS / a stop string) where the first of them it writes begins."""
    answer = ChatMessage(role="assistant", content=SENTINEL)
    ends: list[str] = []
    for after in ([], [_user("And tomorrow?")]):  # Hunyuan 3 writes its end-of-turn only before a next turn
        try:
            full = render_native(template, [*history, answer, *after], TOOLS, "<s>", "</s>",
                                 add_generation_prompt=False)
        except TemplateError:
            continue
        end = full.split(SENTINEL, 1)[1].split("And tomorrow?")[0].strip() if SENTINEL in full else ""
        ends = _MARKER.findall(end) or ([end] if end else [])
        if ends:
            break
    return ends


END_OF_TURN: dict[str, list[str]] = {"Kimi-K3": ["<|close|>message<|sep|>"]}
"""Where a template's end-of-turn markers are pieces of its tags, which stand inside the calls too: the marker
that ends its turn (Kimi K3: ``<|close|>`` and ``<|sep|>`` close every element)."""


def _cut_end(text: str, ends: list[str], name: str, last: str) -> str:
    """``text`` up to the end-of-turn marker after the last call (its ``name``, then its ``last`` value: some
    templates write the next turn's opening after the marker; Kimi K3's markers also stand inside the calls),
    without an end-of-turn token (Llama's ``<|eom_id|>``) and the blank space around it. Harmony's ``<|call|>``
    stays: the grammar writes it."""
    after = max(0, text.rfind(name))
    after = text.find(last, after) + len(last) if last in text[after:] else after
    found = [text.find(e, after) for e in ends if text.find(e, after) >= 0]
    if found:
        text = text[: min(found)]
    text = text.rstrip()
    for eos in ("</s>", "<|eom_id|>", "<|eot_id|>", "<|im_end|>", "<|end|>", "<|tool_response>"):
        if text.endswith(eos):
            text = text[: -len(eos)].rstrip()
    return text


def _generation(template: str, history: list[ChatMessage], prompt: str) -> str:
    """What the generation prompt adds to the conversation (``<|im_start|>assistant\n``)."""
    try:
        return prompt.removeprefix(render_native(template, history, TOOLS, "<s>", "</s>",
                                                 add_generation_prompt=False))
    except TemplateError:
        return ""


@functools.cache
def chosen(path: Path) -> StyleChoice:
    """The call syntax the service speaks for the template: detected, else derived, else the fallback."""
    return choose_style(path.read_text(encoding="utf-8"))


@functools.cache
def render(path: Path, case_name: str) -> Rendered:
    template = path.read_text(encoding="utf-8")
    choice = chosen(path)
    case = CASES[case_name]
    history = list(case.history)
    try:
        prompt = render_native(template, history, TOOLS, "<s>", "</s>")
        full = render_native(template, [*history, _assistant(case.calls, first=len(history) + 1)], TOOLS,
                             "<s>", "</s>", add_generation_prompt=False)
    except TemplateError:
        return Rendered(choice, "", "", "template fails")
    generation = _generation(template, history, prompt)
    end = END_OF_TURN.get(path.stem) or _end_of_turn(template, history)
    text = _overlap(prompt, full[_boundary(prompt, full, generation):])
    last_value = str(list(case.calls[-1][1].values())[-1]).split("\n")[-1]
    text = _cut_end(text, end, case.calls[-1][0], last_value)
    first_value = str(next(iter(case.calls[0][1].values())))
    if first_value.split("\n")[0] not in text and case.calls[0][0] not in text:
        return Rendered(choice, prompt, "", "no call rendered")
    return Rendered(choice, prompt, text, "rendered")


@dataclass(frozen=True)
class Outcome:
    stem: str
    case: str
    style: str  # the chosen style's name (``derived``: derived from the template)
    verdict: str  # "ok" | "wrong" | "no call rendered" | "template fails"
    why: str = ""


def model_output(style: Style, prompt: str, text: str, template: str) -> tuple[str, str, str | None]:
    """(what the service feeds the scanner before the model's output, the output, the grammar's think mode):
    after the style's generation prefix (the service appends it to the prompt unless the prompt ends with it;
    the grammar follows it), or, when the prompt opened a think block (the service's ``think_mode``), after
    ``<think>``: a history turn written without its thoughts then stands for empty thoughts, ``</think>``
    and the calls."""
    prefix = style.generation_prefix(SPECS, CallPolicy("required"))
    if prefix:
        return prefix, text.removeprefix(prefix), None
    opener, closer = style.thinking or TAGS
    mode = think_mode(prompt, template, (opener, closer))
    if mode == "open":
        closed = closer in text and opener not in text.split(closer)[0]
        return opener, text if closed else closer + text, mode
    return "", text, mode


def scan(style: Style, fed: str) -> tuple[tuple[tuple[str, str], ...], str, str | None]:
    """(calls, content, why whole and 1-character chunks disagree) of the style's scanner."""
    fmt = style.output_format(SPECS)
    whole = parse_text(fmt, fed)
    scanner = Scanner(fmt)
    chunked = collect([event for c in fed for event in scanner.feed(c)] + scanner.finish())
    calls = tuple((c.name, c.arguments) for c in whole.calls)
    chunk_calls = tuple((c.name, c.arguments) for c in chunked.calls)
    differs = None if calls == chunk_calls else f"1-character chunks gave {chunk_calls}"
    return calls, (whole.content or "").strip(), differs


def _json(text: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


REQUIRED = CallPolicy("required")


def _grammar(oracle: Oracle, style: Style, mode: str | None, policy: CallPolicy = REQUIRED) -> Any:
    gbnf = style.grammar(SPECS, policy)
    assert gbnf is not None, style.name
    if mode is not None:
        gbnf = with_thinking(gbnf, "open" if mode == "open" else "optional", tags=style.thinking or TAGS)
    compiled = _compiled(oracle, gbnf)
    assert compiled is not None, f"llama.cpp cannot parse {style.name}'s grammar"
    return compiled


@functools.cache
def _compiled(oracle: Oracle, gbnf: str) -> Any:
    """A grammar text compiled once (the templates of a family share their style's grammars)."""
    return oracle.grammar(gbnf)


def outcome(path: Path, case_name: str, oracle: Oracle | None) -> Outcome:
    """One template x one case; the grammar is checked when an ``oracle`` is given."""
    r = render(path, case_name)
    name = r.choice.name
    if r.verdict != "rendered":
        return Outcome(path.stem, case_name, name, r.verdict)
    template = path.read_text(encoding="utf-8")
    style = r.choice.style()
    scan_prefix, output, mode = model_output(style, r.prompt, r.text, template)
    calls, content, differs = scan(style, scan_prefix + output)
    expected = CASES[case_name].calls
    if differs:
        return Outcome(path.stem, case_name, name, "wrong", differs)
    got = [(name, _json(args)) for name, args in calls]
    if got != list(expected) or content:
        return Outcome(path.stem, case_name, name, "wrong", f"{r.text[:300]!r} -> {list(calls)} + {content!r}")
    if oracle is not None:
        policies = [REQUIRED, CallPolicy("auto")]
        if len(expected) == 1:
            policies.append(CallPolicy("required", parallel=False))
        for policy in policies:
            if not _grammar(oracle, style, mode, policy).accepts(output):
                how = f"{policy.mode}{'' if policy.parallel else ', not parallel'}, thinking {mode}"
                return Outcome(path.stem, case_name, name, "wrong", f"grammar ({how}) refuses {output!r}")
    return Outcome(path.stem, case_name, name, "ok")


def _params() -> list[Any]:
    out = []
    for path in TEMPLATES:
        if render(path, "one").verdict != "rendered":
            continue  # counted by test_round_trip_count: a template without a tool syntax
        for case in CASES:
            why = EXPECTED_FAILURES.get((path.stem, case))
            marks = [pytest.mark.xfail(strict=True, reason=why)] if why else []
            out.append(pytest.param(path, case, marks=marks, id=f"{path.stem}-{case}"))
    return out


def bpe_oracle() -> Oracle:
    """The oracle on SmolLM2's byte-level BPE vocabulary: a SentencePiece vocabulary (gemma's) reads DeepSeek's
    ``▁`` markers back as spaces, so no grammar could accept them there."""
    return Oracle(smollm2_path())


@pytest.fixture(scope="module")
def roundtrip_oracle() -> Oracle:
    return bpe_oracle()


@pytest.mark.parametrize("path, case", _params())
def test_round_trip(roundtrip_oracle: Oracle, path: Path, case: str) -> None:
    result = outcome(path, case, roundtrip_oracle)
    assert result.verdict == "ok", result


COMPOSED = sorted(n for n in style_names() if isinstance(get_style(n), ComposedStyle))


@pytest.mark.parametrize("style_name", COMPOSED)
def test_history_round_trips(roundtrip_oracle: Oracle, style_name: str) -> None:
    """The calls a style writes back into the prompt itself (``calls_text``: the prompt is not the model's own
    template) are what its scanner reads and its grammar admits, for every case."""
    style = get_style(style_name)
    assert isinstance(style, ComposedStyle)
    for case_name, case in CASES.items():
        text = style.calls_text([Call(name, args) for name, args in case.calls])
        calls, content, differs = scan(style, text)
        assert differs is None and not content, (case_name, text)
        assert [(name, json.loads(args)) for name, args in calls] == list(case.calls), (case_name, text)
        assert _grammar(roundtrip_oracle, style, None).accepts(text), (case_name, text)


def counts(oracle: Oracle | None) -> tuple[dict[str, list[Outcome]], list[str], list[str]]:
    """(outcomes per case, templates that render calls, templates without a tool syntax or that fail)."""
    rendering = [p.stem for p in TEMPLATES if render(p, "one").verdict == "rendered"]
    without = [p.stem for p in TEMPLATES if render(p, "one").verdict != "rendered"]
    per_case = {case: [outcome(p, case, oracle) for p in TEMPLATES if p.stem in rendering] for case in CASES}
    return per_case, rendering, without


def report(oracle: Oracle | None) -> list[str]:
    per_case, rendering, without = counts(oracle)
    failing = [p.stem for p in TEMPLATES if render(p, "one").verdict == "template fails"]
    lines = [f"round trip ({'scanner + grammar' if oracle else 'scanner only'}), of {len(rendering)} of "
             f"{len(TEMPLATES)} templates that render calls ({len(without) - len(failing)} without a tool syntax, "
             f"{len(failing)} failing to render):"]
    for case, outcomes in per_case.items():
        ok = sum(o.verdict == "ok" for o in outcomes)
        lines.append(f"  {case:14} {ok} / {len(rendering)}")
    return lines


def test_round_trip_count(roundtrip_oracle: Oracle, capsys: pytest.CaptureFixture[str]) -> None:
    with capsys.disabled():
        print("\n" + "\n".join(report(roundtrip_oracle)))
    per_case, _, _ = counts(roundtrip_oracle)
    for case, outcomes in per_case.items():
        failing = {o.stem for o in outcomes if o.verdict != "ok"}
        assert failing == {stem for stem, c in EXPECTED_FAILURES if c == case}, case


# the families issue 15 names, and the fixes that made them round-trip
@pytest.mark.parametrize(
    "stem",
    [
        "Mistral-Small-3.2-24B-Instruct-2506",  # [TOOL_CALLS]NAME[CALL_ID]ID[ARGS]{...}: the id is not in the name
        "LFM2.5-8B-A1B",  # <|tool_call_start|>[get_weather(city='Paris', days=3)]<|tool_call_end|>
        "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B",  # function<sep>NAME + ```json fenced arguments
        "llama-cpp-deepseek-r1",
        "Qwen-QwQ-32B",
        "meetkai-functionary-medium-v3.2",
    ],
)
def test_named_family_round_trips(stem: str) -> None:
    result = outcome(shared_dir() / "chat-templates" / f"{stem}.jinja", "one", None)
    assert result.verdict == "ok", result


def main() -> None:
    """``python -m tests.test_roundtrip [-v]``: the counts; ``-v`` lists each failing template x case."""
    oracle = bpe_oracle()
    print("\n".join(report(oracle)))
    if "-v" in sys.argv:
        per_case, _, without = counts(oracle)
        for outcomes in per_case.values():
            for o in outcomes:
                if o.verdict != "ok":
                    print(f"  {o.case} {o.stem} ({o.style}): {o.verdict}: {o.why}")
        print("without a tool syntax:", ", ".join(without))


if __name__ == "__main__":
    main()
