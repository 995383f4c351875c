"""Real clients on real HTTP against the real embedded model: the openai SDK's Responses API, the OpenAI
Agents SDK, and the anthropic SDK's Messages API. Greedy decoding, small max tokens, tool_choice forcing
the branch under test (the bundled 270M model is tiny)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import WEATHER, model_server
from toolproxy.backends.base import Backend

pytestmark = pytest.mark.slow

QUESTION = "What is the weather in Paris right now?"
TOOL = {"name": WEATHER["name"], "description": WEATHER["description"], "input_schema": WEATHER["parameters"]}


def _openai(url: str) -> Any:
    from openai import OpenAI

    return OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)


def _anthropic(url: str) -> Any:
    from anthropic import Anthropic

    return Anthropic(base_url=url, api_key="unused", max_retries=0)


# ------------------------------------------------------------------------------------------ Responses API


@pytest.mark.parametrize("choice", ["required", {"type": "function", "name": "get_weather"}])
def test_responses_function_call(embedded_api: str, choice: Any) -> None:
    response = _openai(embedded_api).responses.create(model="any", input=QUESTION, tools=[WEATHER],
                                                      tool_choice=choice, max_output_tokens=48)
    calls = [item for item in response.output if item.type == "function_call"]
    assert calls and calls[0].name == "get_weather" and calls[0].call_id.startswith("call_")
    assert isinstance(json.loads(calls[0].arguments)["city"], str)
    assert response.usage is not None and response.usage.output_tokens > 0


def test_responses_text_under_none(embedded_api: str) -> None:
    response = _openai(embedded_api).responses.create(model="any", input="Say hello.", tools=[WEATHER],
                                                      tool_choice="none", max_output_tokens=16)
    assert [item.type for item in response.output] == ["message"]
    assert response.output_text


@pytest.mark.parametrize("choice", ["required", "none"])
def test_responses_stream_reassembles_to_the_response(embedded_api: str, choice: str) -> None:
    client = _openai(embedded_api)
    kwargs: dict[str, Any] = {"model": "any", "input": QUESTION, "tools": [WEATHER], "tool_choice": choice,
                              "max_output_tokens": 32}
    plain = client.responses.create(**kwargs)
    events = list(client.responses.create(stream=True, **kwargs))
    final = events[-1].response
    assert events[0].type == "response.created" and events[-1].type in ("response.completed", "response.incomplete")
    assert [e.sequence_number for e in events] == list(range(len(events)))
    done = [e.item for e in events if e.type == "response.output_item.done"]
    assert [item.model_dump() for item in done] == [item.model_dump() for item in final.output]
    for item in final.output:
        if item.type == "function_call":
            deltas = [e.delta for e in events if e.type == "response.function_call_arguments.delta"
                      and e.item_id == item.id]
            assert "".join(deltas) == item.arguments
        else:
            deltas = [e.delta for e in events if e.type == "response.output_text.delta" and e.item_id == item.id]
            assert "".join(deltas) == item.content[0].text

    def shape(output: list[Any]) -> list[dict[str, Any]]:
        return [{k: v for k, v in item.model_dump().items() if k not in ("id", "call_id")} for item in output]

    assert shape(final.output) == shape(plain.output)  # greedy: the same answer both ways


def test_previous_response_id_survives_a_restart(model_path: str, model_backend: Backend, tmp_path: Path) -> None:
    db = tmp_path / "responses.sqlite3"
    with model_server(model_path, model_backend, db) as (url, _):
        first = _openai(url).responses.create(model="any", input="My name is Ada. Say hi.", max_output_tokens=12)
    with model_server(model_path, model_backend, db) as (url, backend):
        client = _openai(url)
        assert client.responses.retrieve(first.id).output_text == first.output_text
        second = client.responses.create(model="any", previous_response_id=first.id, input="What is my name?",
                                         max_output_tokens=12)
        assert second.previous_response_id == first.id and second.status in ("completed", "incomplete")
        prompt = backend.prompts[-1]
        assert "My name is Ada." in prompt and first.output_text.strip() in prompt and "What is my name?" in prompt
        client.responses.delete(first.id)
        from openai import NotFoundError

        with pytest.raises(NotFoundError):
            client.responses.retrieve(first.id)


# ------------------------------------------------------------------------------------------ Agents SDK


async def test_agents_sdk_runs_a_tool_to_an_answer(embedded_api: str) -> None:
    from agents import Agent, ModelSettings, OpenAIResponsesModel, RunHooks, Runner, function_tool, set_tracing_disabled
    from openai import AsyncOpenAI

    set_tracing_disabled(True)
    cities: list[str] = []

    @function_tool
    def get_weather(city: str) -> str:
        """Get the current weather in a city."""
        cities.append(city)
        return f"It is sunny and 21 C in {city}."

    class AnswerAfterTheTool(RunHooks[Any]):
        async def on_tool_end(self, context: Any, agent: Any, tool: Any, result: str) -> None:
            agent.model_settings = ModelSettings(tool_choice="none", max_tokens=24)

    client = AsyncOpenAI(base_url=f"{embedded_api}/v1", api_key="unused", max_retries=0)
    agent = Agent(name="weather", instructions="Answer weather questions with the get_weather tool.",
                  tools=[get_weather], model=OpenAIResponsesModel(model="any", openai_client=client),
                  model_settings=ModelSettings(tool_choice="required", max_tokens=48),
                  reset_tool_choice=False)  # the hook decides: the SDK's reset would leave it at auto
    result = await Runner.run(agent, QUESTION, max_turns=3, hooks=AnswerAfterTheTool())
    assert cities and all(isinstance(city, str) and city for city in cities)
    assert isinstance(result.final_output, str) and result.final_output.strip()


# ------------------------------------------------------------------------------------------ Anthropic SDK


def test_anthropic_tool_use_and_tool_result_round_trip(embedded_api: str) -> None:
    client = _anthropic(embedded_api)
    user = {"role": "user", "content": QUESTION}
    message = client.messages.create(model="any", max_tokens=64, messages=[user], tools=[TOOL],
                                     tool_choice={"type": "any", "disable_parallel_tool_use": True})
    assert message.stop_reason == "tool_use"
    [use] = [block for block in message.content if block.type == "tool_use"]
    assert use.name == "get_weather" and isinstance(use.input["city"], str)
    answer = client.messages.create(
        model="any", max_tokens=16, tools=[TOOL], tool_choice={"type": "none"},
        messages=[user, {"role": "assistant", "content": [b.model_dump() for b in message.content]},
                  {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id,
                                                "content": "sunny, 21 C"}]}])
    assert answer.stop_reason in ("end_turn", "max_tokens")
    assert [block.type for block in answer.content] == ["text"] and answer.content[0].text


def test_anthropic_stream_input_json_deltas(embedded_api: str) -> None:
    client = _anthropic(embedded_api)
    partial = ""
    with client.messages.stream(model="any", max_tokens=64, messages=[{"role": "user", "content": QUESTION}],
                                tools=[TOOL], tool_choice={"type": "tool", "name": "get_weather",
                                                           "disable_parallel_tool_use": True}) as stream:
        for event in stream:
            if event.type == "content_block_delta" and event.delta.type == "input_json_delta":
                partial += event.delta.partial_json
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    [use] = [block for block in final.content if block.type == "tool_use"]
    assert json.loads(partial) == use.input and isinstance(use.input["city"], str)


def test_anthropic_stop_sequence(embedded_api: str) -> None:
    message = _anthropic(embedded_api).messages.create(
        model="any", max_tokens=32, stop_sequences=[" ", "\n"],
        messages=[{"role": "user", "content": "Say: hello world, how are you?"}])
    assert message.stop_reason == "stop_sequence" and message.stop_sequence in (" ", "\n")
    assert " " not in message.content[0].text.strip()


def test_anthropic_count_tokens(embedded_api: str) -> None:
    counted = _anthropic(embedded_api).messages.count_tokens(model="any", messages=[{"role": "user",
                                                                                      "content": QUESTION}])
    assert counted.input_tokens > 5
