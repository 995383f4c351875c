"""Reasoning models (issue 4): the grammar lets the model think first when its template expects it, the
thoughts come back as reasoning_content (never parsed as a call, never lost)."""

from __future__ import annotations

import asyncio
import json
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
