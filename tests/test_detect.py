"""Style detection over every real chat template in ../shared/chat-templates (a table test), and rendering a
conversation with tools, an assistant tool call and a tool result with each template itself: it succeeds,
or fails with a clear TemplateError, never another exception."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import pytest

from tests.conftest import shared_dir
from toolproxy.detect import NO_TEMPLATE_STYLE, RULES, UNKNOWN_STYLE, detect_style, native_style
from toolproxy.native import render_native
from toolproxy.protocol import ChatMessage
from toolproxy.styles import get_style, style_names
from toolproxy.styles.base import CallPolicy
from toolproxy.templating import TemplateError, render_chat

# template file stem -> the style its family was trained on (every family of issue 4 + the fallbacks)
EXPECTED: dict[str, str] = {
    "NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use": "hermes",
    "NousResearch-Hermes-3-Llama-3.1-8B-tool_use": "hermes",
    "Qwen-Qwen2.5-7B-Instruct": "hermes",
    "Qwen-Qwen3-0.6B": "hermes",
    "Qwen-QwQ-32B": "hermes",
    "ibm-granite-granite-4.0": "hermes",
    "mistralai-Mistral-Nemo-Instruct-2407": "mistral",
    "Mistral-Small-3.2-24B-Instruct-2506": "mistral_v11",
    "unsloth-mistral-Devstral-Small-2507": "mistral_v11",
    "mistralai-Ministral-3-14B-Reasoning-2512": "mistral_v11",
    "meta-llama-Llama-3.1-8B-Instruct": "llama3",
    "meta-llama-Llama-3.2-3B-Instruct": "llama3",
    "meta-llama-Llama-3.3-70B-Instruct": "llama3",
    "meetkai-functionary-medium-v3.1": "functionary_v3.1",
    "meetkai-functionary-medium-v3.2": "functionary_v3.2",
    "LFM2-8B-A1B": "lfm2",
    "LFM2.5-8B-A1B": "lfm2",
    "deepseek-ai-DeepSeek-V3.1": "deepseek",
    "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B": "deepseek_r1",
    "deepseek-ai-DeepSeek-R1-Distill-Llama-8B": "deepseek_r1",
    "llama-cpp-deepseek-r1": "deepseek_r1",
    "unsloth-Apriel-1.5": "apriel",
    "Apriel-1.6-15b-Thinker-fixed": "apriel",
    # issue 15: JSON calls behind the family's own markers
    "GigaChat3.1-10B-A1.8B": "gigachat",
    "MiniMax-M1": "minimax_m1",
    "NVIDIA-Nemotron-Nano-v2": "nemotron_v2",
    "CohereForAI-c4ai-command-r7b-12-2024-tool_use": "command_r",
    "Cohere2MoE": "command_r",
    "moonshotai-Kimi-K2": "kimi_k2",
    "Kimi-K2-Instruct": "kimi_k2",
    "GigaChat3-10B-A1.8B": "gigachat3",
    "upstage-Solar-Open-100B": "solar",
    "openai-gpt-oss-120b": "harmony",
    "Apertus-8B-Instruct": "apertus",
    "llm-jp-llm-jp-4.1-8b-thinking": "harmony",
    # issue 15: parameters written one by one
    "Qwen3-Coder": "qwen3_coder",
    "Qwen3.5-4B": "qwen3_coder",
    "NVIDIA-Nemotron-3-Nano-30B-A3B-BF16": "qwen3_coder",
    "StepFun3.5-Flash": "qwen3_coder",
    "ByteDance-Seed-OSS": "seed_oss",
    "GLM-4.6": "glm",
    "GLM-4.7-Flash": "glm",
    "Spark2.5": "glm",
    "inclusionai-ling-3.0-flash": "glm",
    "poolside-Laguna-XS-2.1": "glm",
    "MiniMax-M2": "minimax_m2",
    "google-gemma-2-2b-it": UNKNOWN_STYLE,
    "microsoft-Phi-3.5-mini-instruct": UNKNOWN_STYLE,
}

TEMPLATES = sorted(p for p in (shared_dir() / "chat-templates").glob("*.jinja"))

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the current weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]
CONVERSATION = [
    ChatMessage(role="system", content="Be brief."),
    ChatMessage(role="user", content="Weather in Paris?"),
    ChatMessage(
        role="assistant",
        content=None,
        tool_calls=[
            {
                "id": "call_8f2a",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
            }
        ],
    ),
    ChatMessage(role="tool", tool_call_id="call_8f2a", content="21C and sunny"),
    ChatMessage(role="assistant", content="It is 21C."),
    ChatMessage(role="user", content="Thanks!"),
]


def test_the_table_covers_real_templates(shared: Path) -> None:
    names = {p.stem for p in TEMPLATES}
    assert len(names) >= 70
    assert set(EXPECTED) <= names


@pytest.mark.parametrize("stem", sorted(EXPECTED))
def test_detected_style(shared: Path, stem: str) -> None:
    template = (shared / "chat-templates" / f"{stem}.jinja").read_text(encoding="utf-8")
    assert detect_style(template) == EXPECTED[stem]


def test_detection_defaults_and_registry() -> None:
    assert detect_style(None) == NO_TEMPLATE_STYLE == "hermes"
    assert detect_style("") == "hermes"
    assert detect_style("{% for m in messages %}{{ m.content }}{% endfor %}") == UNKNOWN_STYLE
    assert detect_style("[BEGIN OF AVAILABLE TOOLS]{{ tools | tojson }}[END OF AVAILABLE TOOLS]") == "xlam"
    assert detect_style("Respond as [func_name1(params_name1=params_value1)]") == "pythonic"
    assert {r.style for r in RULES} | {UNKNOWN_STYLE, NO_TEMPLATE_STYLE} <= set(style_names())


def test_every_template_gets_a_registered_style() -> None:
    names = set(style_names())
    for path in TEMPLATES:
        assert detect_style(path.read_text(encoding="utf-8")) in names, path.name


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.stem)
def test_template_renders_tools_calls_and_results_or_fails_clearly(path: Path) -> None:
    template = path.read_text(encoding="utf-8")
    try:
        prompt = render_native(template, CONVERSATION, TOOLS, "<s>", "</s>")
    except TemplateError as exc:  # a clear, typed refusal (400), never a crash
        assert exc.message
        return
    assert "Weather in Paris?" in prompt and "Thanks!" in prompt
    assert "21C and sunny" in prompt
    # the raw renderer fails only with TemplateError too, whatever shape the messages have
    with contextlib.suppress(TemplateError):
        render_chat(template, [m.model_dump(exclude_none=True) for m in CONVERSATION], tools=TOOLS)


def _squeeze(text: str) -> str:
    """Whitespace, quote style and call ids do not matter (LFM2.5 writes 'Paris', Mistral keeps ids)."""
    return re.sub(r'"id":"[^"]*"', "", "".join(text.split()).replace("'", '"'))


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.stem)
def test_exact_detection_means_the_template_writes_the_style_syntax(path: Path) -> None:
    """Where the model's own template is used for a style (``native_style``), the call it renders in the
    history is the style's own rendering of that call (so history and grammar agree)."""
    template = path.read_text(encoding="utf-8")
    style_name = native_style(template)
    if style_name is None:
        assert detect_style(template) in (UNKNOWN_STYLE, *(r.style for r in RULES if not r.exact))
        return
    try:
        prompt = render_native(template, CONVERSATION, TOOLS)
    except TemplateError:  # the style renders the conversation itself then (Kimi K2 Instruct's list.append)
        return
    style = get_style(style_name)
    turns = style.prepare_messages(CONVERSATION, [], CallPolicy("none"))
    canonical = next(t["content"] for t in turns if t["role"] == "assistant" and "Paris" in t["content"])
    call_part = canonical[canonical.index("get_weather") - 12 :]  # the call syntax around the name
    assert _squeeze(call_part) in _squeeze(prompt) or _squeeze(canonical) in _squeeze(prompt), (canonical, prompt)


def test_inexact_families_are_listed() -> None:
    inexact = {p.stem for p in TEMPLATES if native_style(p.read_text(encoding="utf-8")) is None}
    assert {"deepseek-ai-DeepSeek-R1-Distill-Qwen-32B", "LFM2-8B-A1B"} <= inexact
    assert not {"Qwen-Qwen2.5-7B-Instruct", "meta-llama-Llama-3.1-8B-Instruct", "LFM2.5-8B-A1B", "Qwen3-Coder",
                "GLM-4.6", "MiniMax-M2", "MiniMax-M3", "Kimi-K3"} & inexact
