"""Reasoning models (issue 4): the grammar lets the model think first when its template expects it, the
thoughts come back as reasoning_content (never parsed as a call, never lost)."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from tests.grammar.oracle import Oracle
from toolproxy.backends.scripted import ScriptedBackend, constant
from toolproxy.protocol import ChatCompletionRequest
from toolproxy.reasoning import scan_prefix, think_mode, with_thinking
from toolproxy.service import ChatService
from toolproxy.settings import Settings
from toolproxy.styles import get_style
from toolproxy.styles.base import CallPolicy, ToolSpec

WEATHER = ToolSpec(
    "get_weather", "Weather", {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
)
CALL = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
TOOLS = [
    {
        "type": "function",
        "function": {"name": WEATHER.name, "description": WEATHER.description, "parameters": WEATHER.parameters},
    }
]


@pytest.fixture(scope="module")
def oracle(model_path: str) -> Oracle:
    return Oracle(model_path)


def test_think_mode() -> None:
    template = "{{ '<think>' }}"
    assert think_mode("<|im_start|>assistant\n<think>\n", template) == "open"
    assert think_mode("<|im_start|>assistant\n", template) == "optional"
    assert think_mode("<|im_start|>assistant\n<think>\n\n</think>\n\n", template) is None  # switched off
    assert think_mode("<|im_start|>assistant\n<think>\n", None) is None
    assert think_mode("x", "no thinking here") is None
    assert scan_prefix("open") == "<think>" and scan_prefix("optional") == scan_prefix(None) == ""


@pytest.fixture(scope="module")
def grammars() -> dict[str, str]:
    base = get_style("hermes").grammar([WEATHER], CallPolicy("required"))
    assert base is not None
    return {"base": base, "optional": with_thinking(base, "optional"), "open": with_thinking(base, "open")}


def test_grammar_lets_the_model_think_first(oracle: Oracle, grammars: dict[str, str]) -> None:
    thought = "The user wants <b>Paris</b>; a call: <tool_call> is fine in thoughts.\n"
    optional, open_ = grammars["optional"], grammars["open"]
    assert oracle.accepts(optional, CALL)
    assert oracle.accepts(optional, f"<think>\n{thought}</think>\n\n{CALL}")
    assert not oracle.accepts(optional, f"<think>{thought}</think>{thought}")  # still a call is required
    assert not oracle.accepts(optional, f"<think>a</think> b </think>{CALL}")
    assert oracle.accepts(optional, f"\n<think></think>\n{CALL}")  # GLM 4.6's turns: a newline first
    assert not oracle.accepts(optional, f"\n\n\n<think></think>{CALL}")  # at most two blanks
    assert oracle.accepts(open_, f"{thought}</think>\n{CALL}")
    assert not oracle.accepts(open_, CALL)  # the prompt opened the block: it must be closed first
    assert not oracle.accepts(grammars["base"], f"<think>{thought}</think>{CALL}")


def test_unsafe_grammar_is_left_alone() -> None:
    odd = 'root ::= "a" root | "b"\n'
    assert with_thinking(odd, "optional") == odd


@pytest.mark.parametrize(
    ("template", "output"),
    [
        ("Qwen-Qwen3-0.6B", f"<think>\nThe user asks for Paris.\n</think>\n\n{CALL}"),  # optional
        ("NVIDIA-Nemotron-3-Nano-30B-A3B-BF16", "The user asks for Paris.\n</think>\n<tool_call>\n"  # opened;
         "<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n</function>\n</tool_call>"),  # own XML
    ],
)
def test_reasoning_content_and_call(shared: Path, template: str, output: str) -> None:
    path = shared / "chat-templates" / f"{template}.jinja"
    svc = ChatService(ScriptedBackend(constant(output)), Settings(chat_template=str(path)))
    request = ChatCompletionRequest.model_validate(
        {"model": "m", "messages": [{"role": "user", "content": "Weather in Paris?"}], "tools": TOOLS}
    )
    plan = svc.plan(request)
    assert plan.generation.grammar is not None and "think-block" in plan.generation.grammar
    answer = asyncio.run(svc.chat(request))
    message = answer.choices[0].message
    assert message.reasoning_content == "The user asks for Paris."
    calls = message.tool_calls or []
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [("get_weather", {"city": "Paris"})]
    assert answer.choices[0].finish_reason == "tool_calls"


def test_bounded_thoughts_then_the_call(oracle: Oracle) -> None:
    """Under required/named the thoughts are at most ``budget`` characters without "<": a "<" can only close
    the block, then the call is forced (issue 15)."""
    from toolproxy.reasoning import think_budget

    base = get_style("hermes").grammar([WEATHER], CallPolicy("required"))
    assert base is not None
    open_ = with_thinking(base, "open", 8)
    assert oracle.accepts(open_, f"12345678</think>\n{CALL}")
    assert oracle.accepts(open_, f"</think>{CALL}")
    assert not oracle.accepts(open_, f"123456789</think>{CALL}")  # over the budget
    assert not oracle.accepts(open_, f"a <tool_call></think>{CALL}")  # no call inside the thoughts
    assert not oracle.accepts(open_, "12345678</think>")  # the call must follow
    assert oracle.accepts(with_thinking(base, "open", 0), f"</think>{CALL}")
    assert with_thinking(base, "optional", 0) == base  # no room: the call at once
    assert think_budget(1024, 96) == 32 and think_budget(1024, 40) == 0 and think_budget(10, 4096) == 10


def test_call_budgets_share_max_tokens() -> None:
    """Raw string values (XML-parameter styles) share what max_tokens leaves after the call's fixed text with
    the thoughts: at most half to the thoughts, never below zero; without raw values the thoughts keep
    ``think_budget`` (issue 15)."""
    from toolproxy.reasoning import CLOSE_RESERVE, call_budgets, fixed_tokens, think_budget

    assert call_budgets(1024, 96, (40, 1), True) == (24, 24)
    assert call_budgets(1024, 96, (40, 2), False) == (0, 28)
    assert call_budgets(10, 96, (40, 1), True) == (10, 96 - 40 - CLOSE_RESERVE - 10)
    assert call_budgets(1024, 30, (40, 1), True) == (0, 0)
    assert call_budgets(1024, 96, None, True) == (think_budget(1024, 96), None)
    assert call_budgets(1024, 96, (40, 0), True) == (think_budget(1024, 96), None)  # enum strings only
    assert call_budgets(5000, 100_000, (40, 1), True) == (2000, 2000)
    assert fixed_tokens("abcd", 8) == 10 and fixed_tokens("abcde", None) == 3


def test_xml_string_values_bounded_under_required(shared: Path, oracle: Oracle) -> None:
    """Qwen3.5 (qwen3_coder, thinking) under tool_choice required at max_tokens 96: the thoughts and the raw
    city value are both bounded so the call fits; under auto the value stays unbounded."""
    path = shared / "chat-templates" / "Qwen3.5-4B.jinja"
    svc = ChatService(ScriptedBackend(constant("")), Settings(chat_template=str(path)))
    body = {"model": "m", "messages": [{"role": "user", "content": "Weather in Paris?"}], "tools": TOOLS,
            "max_tokens": 96}
    plan = svc.plan(ChatCompletionRequest.model_validate({**body, "tool_choice": "required"}))
    grammar = plan.generation.grammar
    assert grammar is not None
    value = re.search(r"^xml-raw-0-(\d+) ::=", grammar, re.MULTILINE)
    thoughts = re.search(r"^think-text ::= .*\{0,(\d+)\}$", grammar, re.MULTILINE)
    assert value is not None and thoughts is not None, grammar
    chars, think = int(value.group(1)), int(thoughts.group(1))
    assert chars > 0 and think > 0 and chars + think < 96

    def call(city: str) -> str:
        return ("</think>\n<tool_call>\n<function=get_weather>\n<parameter=city>\n"
                f"{city}\n</parameter>\n</function>\n</tool_call>")

    opened = "" if plan.prefix else "<think>\n"  # the template may leave the block for the model to open
    assert oracle.accepts(grammar, opened + "x" * think + call("P" * chars))
    assert not oracle.accepts(grammar, opened + call("P" * (chars + 1)))
    auto = svc.plan(ChatCompletionRequest.model_validate(body)).generation.grammar
    assert auto is not None and "xml-raw-0-" not in auto
