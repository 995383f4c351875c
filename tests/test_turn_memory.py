"""A follow-up turn's prompt is an exact extension of the previous prompt + the model's own output, so
llama.cpp's prompt cache reuses all of it (the model's spelling of its call is replayed, not re-rendered)."""

from __future__ import annotations

import json

import httpx

from tests.servers import running_server
from toolproxy.app import create_app
from toolproxy.backends.base import GenerationRequest
from toolproxy.backends.scripted import Script, ScriptedBackend
from toolproxy.protocol import ChatMessage
from toolproxy.settings import Settings
from toolproxy.turn_memory import TurnMemory

TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
# the model's own spelling: no spaces, no newlines (the style would re-render it differently)
RAW = '<tool_call>{"name":"get_weather","arguments":{"city":"Paris"}}</tool_call>'


def test_second_turn_prompt_extends_the_first_turn_and_its_output() -> None:
    answers = iter([RAW, "It is sunny in Paris."])
    backend_box: list[ScriptedBackend] = []

    def handler(_: GenerationRequest) -> Script:
        return Script(text=next(answers))

    def factory(_: Settings) -> ScriptedBackend:
        backend_box.append(ScriptedBackend(handler))
        return backend_box[0]

    with running_server(create_app(Settings(style="hermes"), backend_factory=factory)) as url:
        messages: list[dict[str, object]] = [{"role": "user", "content": "Weather in Paris?"}]
        first = httpx.post(f"{url}/v1/chat/completions", json={"messages": messages, "tools": TOOLS}).json()
        message = first["choices"][0]["message"]
        call = message["tool_calls"][0]
        assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}
        messages += [message, {"role": "tool", "tool_call_id": call["id"], "content": "sunny"}]
        second = httpx.post(f"{url}/v1/chat/completions", json={"messages": messages, "tools": TOOLS}).json()
        assert second["choices"][0]["message"]["content"] == "It is sunny in Paris."
    prompts = [r.prompt for r in backend_box[0].requests]
    assert prompts[1].startswith(prompts[0] + RAW), "turn 2 must replay turn 1's prompt + output verbatim"


def test_unknown_or_edited_calls_are_rendered_normally() -> None:
    memory = TurnMemory(capacity=2)
    memory.remember(["call_a"], "RAW-A", [("f", "{}")])
    ours = ChatMessage.model_validate({"role": "assistant", "tool_calls": [
        {"id": "call_a", "type": "function", "function": {"name": "f", "arguments": "{}"}}]})
    other = ChatMessage.model_validate({"role": "assistant", "tool_calls": [
        {"id": "call_x", "type": "function", "function": {"name": "f", "arguments": "{}"}}]})
    replayed = memory.replay([ours, other])
    assert getattr(replayed[0], "raw_output", None) == "RAW-A"
    assert getattr(replayed[1], "raw_output", None) is None
    edited = ChatMessage.model_validate({"role": "assistant", "tool_calls": [
        {"id": "call_a", "type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}}]})
    assert memory.recall(edited) is None  # same id, other arguments: not replayed
    memory.remember(["call_b"], "B", [("f", "{}")])
    memory.remember(["call_c"], "C", [("f", "{}")])  # capacity 2: call_a is forgotten (LRU)
    assert memory.recall(ours) is None and len(memory) == 2
