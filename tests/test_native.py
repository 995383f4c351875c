"""The model's own chat template (issue 4): the service renders the original OpenAI messages + tools with it
when the chosen style is the one detected from it, falls back to the style's own rendering otherwise, and
parses the family's exact output. The scripted backend stands in for a Qwen / Llama / Functionary GGUF whose
template comes from ../shared via --chat-template (only the model's output is scripted)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from toolproxy.backends.scripted import ScriptedBackend, constant
from toolproxy.native import Shape, hf_messages, native_prompt, render_native
from toolproxy.protocol import ChatCompletionRequest, ChatMessage
from toolproxy.service import ChatService
from toolproxy.settings import Settings
from toolproxy.templating import TemplateError

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]
HISTORY = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Weather in Paris?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": "21C"},
    {"role": "user", "content": "And in Rome?"},
]


def service(shared: Path, template: str | None, output: str, style: str | None = None) -> ChatService:
    path = str(shared / "chat-templates" / f"{template}.jinja") if template else None
    return ChatService(ScriptedBackend(constant(output)), Settings(style=style, chat_template=path))


def request(**extra: object) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate({"model": "m", "messages": HISTORY, "tools": TOOLS, **extra})


def test_qwen_template_renders_the_original_conversation(shared: Path) -> None:
    output = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Rome"}}\n</tool_call>'
    svc = service(shared, "Qwen-Qwen2.5-7B-Instruct", output)
    assert svc.default_style == "hermes"
    plan = svc.plan(request())
    assert plan.prompt.startswith("<|im_start|>system\nBe brief.\n\n# Tools")
    assert plan.prompt.endswith("<|im_start|>user\nAnd in Rome?<|im_end|>\n<|im_start|>assistant\n")
    assert "<tools>" in plan.prompt and '"name": "get_weather"' in plan.prompt
    assert '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>' in plan.prompt
    assert "<tool_response>\n21C\n</tool_response>" in plan.prompt
    answer = asyncio.run(svc.chat(request()))
    calls = answer.choices[0].message.tool_calls or []
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [("get_weather", {"city": "Rome"})]


def test_llama3_detected_and_parsed(shared: Path) -> None:
    svc = service(shared, "meta-llama-Llama-3.1-8B-Instruct", '{"name": "get_weather", "parameters": {"city": "Rome"}}')
    assert svc.default_style == "llama3"
    plan = svc.plan(request())
    assert "<|start_header_id|>ipython<|end_header_id|>" in plan.prompt  # the tool result in Llama's own role
    answer = asyncio.run(svc.chat(request()))
    calls = answer.choices[0].message.tool_calls or []
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [("get_weather", {"city": "Rome"})]


def test_functionary_v32_prefix_is_not_doubled(shared: Path) -> None:
    svc = service(shared, "meetkai-functionary-medium-v3.2", 'get_weather\n{"city": "Rome"}')
    assert svc.default_style == "functionary_v3.2"
    plan = svc.plan(request())
    assert plan.prompt.endswith("<|start_header_id|>assistant<|end_header_id|>\n\n>>>")
    assert not plan.prompt.endswith(">>>>>>")
    assert "namespace functions" in plan.prompt  # the template's own TypeScript rendering
    answer = asyncio.run(svc.chat(request()))
    calls = answer.choices[0].message.tool_calls or []
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [("get_weather", {"city": "Rome"})]


def test_another_style_than_the_template_uses_the_style_rendering(shared: Path) -> None:
    svc = service(shared, "Qwen-Qwen2.5-7B-Instruct", "ok")
    plan = svc.plan(request(style="mistral"))
    assert "[AVAILABLE_TOOLS]" in plan.prompt and "<|im_start|>" in plan.prompt


def test_no_template_defaults_to_hermes(shared: Path) -> None:
    assert service(shared, None, "ok").default_style == "hermes"
    assert service(shared, "meta-llama-Llama-3.1-8B-Instruct", "ok", style="generic").default_style == "generic"


def test_mistral_template_gets_nine_character_ids(shared: Path) -> None:
    template = (shared / "chat-templates" / "mistralai-Mistral-Nemo-Instruct-2407.jinja").read_text(encoding="utf-8")
    messages = [ChatMessage.model_validate(m) for m in HISTORY[:4]]  # Mistral: the tool result, then the model
    with_long_ids = hf_messages(messages)
    try:
        from toolproxy.templating import render_chat

        render_chat(template, with_long_ids, tools=TOOLS)
        refused = False
    except TemplateError:
        refused = True
    assert refused  # the template demands 9-character ids ...
    prompt = render_native(template, messages, TOOLS)  # ... which render_native provides
    assert "[TOOL_CALLS]" in prompt and "[TOOL_RESULTS]" in prompt and "call_1" not in prompt


def test_shapes_fold_roles_and_stringify_arguments() -> None:
    messages = [ChatMessage.model_validate(m) for m in HISTORY]
    folded = hf_messages(messages, Shape(args_as_string=True, fold_roles=True))
    assert [m["role"] for m in folded] == ["user", "assistant", "user"]
    assert folded[0]["content"].startswith("Be brief.\n\nWeather in Paris?")
    assert folded[1]["tool_calls"][0]["function"]["arguments"] == '{"city": "Paris"}'
    assert "21C" in folded[2]["content"] and "And in Rome?" in folded[2]["content"]
    assert hf_messages(messages)[2]["tool_calls"][0]["function"]["arguments"] == {"city": "Paris"}


def test_native_prompt_declines_when_it_does_not_apply(shared: Path) -> None:
    messages = [ChatMessage.model_validate(m) for m in HISTORY]
    qwen = (shared / "chat-templates" / "Qwen-Qwen2.5-7B-Instruct.jinja").read_text(encoding="utf-8")
    phi = (shared / "chat-templates" / "microsoft-Phi-3.5-mini-instruct.jinja").read_text(encoding="utf-8")
    assert native_prompt(None, "hermes", messages, TOOLS) is None
    assert native_prompt(qwen, "mistral", messages, TOOLS) is None
    assert native_prompt(phi, "generic", messages, TOOLS) is None  # no known format: the style renders
    refusing = "{{ raise_exception('no tools here') }}<tool_call>"
    assert native_prompt(refusing, "hermes", messages, TOOLS) is None
    assert native_prompt(qwen, "hermes", messages, TOOLS) is not None


def test_models_endpoint_reports_the_detected_style(shared: Path, tmp_path: Path) -> None:
    import httpx

    from tests.servers import running_server
    from toolproxy.app import create_app

    templates = shared / "chat-templates"
    path = str(templates / "mistralai-Mistral-Nemo-Instruct-2407.jinja")
    plain = tmp_path / "chatml.jinja"  # a ChatML template without tools (SmolLM2's kind)
    plain.write_text("{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
                     "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    for settings, style, source, detail in (
        (Settings(chat_template=path), "mistral", "detected", "Mistral Nemo / Mixtral"),
        (Settings(), "hermes", "fallback", "the model has no chat template"),
        (Settings(chat_template=str(plain)), "functionary", "fallback", "no known tool-call syntax"),
        (Settings(chat_template=path, style="xlam"), "xlam", "configured", None),
    ):
        app = create_app(settings, backend_factory=lambda _: ScriptedBackend(constant("ok")))
        with running_server(app) as url:
            card = httpx.get(f"{url}/v1/models").json()["data"][0]
        assert (card["style"], card["style_source"]) == (style, source)
        assert card["style_detail"] is None if detail is None else detail in card["style_detail"]

