"""The SDKs' own stream accumulators and models accept what the front doors send (scripted backend: fast, every
block kind): openai's responses.stream(), anthropic's messages.stream(), the Agents SDK streaming a run."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.api.conftest import HERMES_CALL, WEATHER
from tests.hardening.conftest import Proxy
from toolproxy.backends.base import GenerationRequest
from toolproxy.backends.scripted import Script

THOUGHT_CALL = ('I will look it up.", "next_step": {"tool_calls": [{"name": "get_weather", "arguments": '
                '{"city": "Paris"}}]}}')  # thoughtful_steps, after its forced prefix
TOOL = {"name": WEATHER["name"], "description": WEATHER["description"], "input_schema": WEATHER["parameters"]}


def test_openai_responses_stream_helper(fresh: Proxy) -> None:
    from openai import OpenAI

    fresh.script = Script(text=THOUGHT_CALL, chunk_size=4)
    client = OpenAI(base_url=f"{fresh.url}/v1", api_key="unused", max_retries=0)
    with client.responses.stream(model="any", input="Weather in Paris?", tools=[WEATHER],  # type: ignore[list-item]
                                 extra_body={"style": "thoughtful_steps"}) as stream:
        arguments = "".join(e.delta for e in stream if e.type == "response.function_call_arguments.delta")
        final = stream.get_final_response()
    assert [item.type for item in final.output] == ["reasoning", "function_call"]
    assert final.output[0].content[0].text == "I will look it up."  # type: ignore[union-attr,index]
    assert json.loads(arguments) == json.loads(final.output[1].arguments) == {"city": "Paris"}  # type: ignore[union-attr]
    stored = client.responses.retrieve(final.id).output
    assert [i.model_dump() for i in stored] == [i.model_dump(exclude={"parsed_arguments"}) for i in final.output]


def test_anthropic_stream_accumulator(fresh: Proxy) -> None:
    from anthropic import Anthropic

    fresh.script = Script(text=THOUGHT_CALL, chunk_size=4)
    client = Anthropic(base_url=fresh.url, api_key="unused", max_retries=0)
    with client.messages.stream(model="any", max_tokens=64, messages=[{"role": "user", "content": "Paris?"}],
                                tools=[TOOL], extra_body={"style": "thoughtful_steps"}) as stream:  # type: ignore[list-item]
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == ""
    assert [block.type for block in final.content] == ["thinking", "tool_use"]
    assert final.content[1].input == {"city": "Paris"}  # type: ignore[union-attr]
    assert final.stop_reason == "tool_use" and final.usage.output_tokens > 0


async def test_agents_sdk_streamed_run(fresh: Proxy) -> None:
    from agents import Agent, OpenAIResponsesModel, Runner, function_tool, set_tracing_disabled
    from openai import AsyncOpenAI

    def handler(request: GenerationRequest) -> Script:
        answered = "sunny in Paris" in request.prompt
        return Script(text="It is sunny in Paris." if answered else HERMES_CALL)

    fresh.backend._handler = handler  # type: ignore[union-attr]
    set_tracing_disabled(True)

    @function_tool
    def get_weather(city: str) -> str:
        """Get the current weather in a city."""
        return f"sunny in {city}"

    client = AsyncOpenAI(base_url=f"{fresh.url}/v1", api_key="unused", max_retries=0)
    agent = Agent(name="weather", tools=[get_weather], model=OpenAIResponsesModel(model="any", openai_client=client))
    run = Runner.run_streamed(agent, "Weather in Paris?", max_turns=3)
    kinds: list[Any] = [event.type async for event in run.stream_events()]
    assert "raw_response_event" in kinds and run.final_output == "It is sunny in Paris."
    fresh.backend._handler = fresh.handler  # type: ignore[union-attr]


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_sdk_error_is_typed(fresh: Proxy, stream: bool) -> None:
    from anthropic import Anthropic, BadRequestError

    client = Anthropic(base_url=fresh.url, api_key="unused", max_retries=0)
    with pytest.raises(BadRequestError) as caught:
        client.messages.create(model="any", max_tokens=8, stream=stream, tool_choice={"type": "any"},
                               messages=[{"role": "user", "content": "hi"}])
    assert "at least one tool" in str(caught.value)
