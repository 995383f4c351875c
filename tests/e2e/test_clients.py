"""Real clients (openai, LangChain, LlamaIndex, curl) against toolproxy on the real embedded model."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city"],
        },
    },
}
QUESTION = "What is the weather in Paris right now?"


def test_openai_client_tool_call(embedded_url: str) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=f"{embedded_url}/v1", api_key="unused")
    response = client.chat.completions.create(
        model="any",
        messages=[{"role": "user", "content": QUESTION}],
        tools=[WEATHER],  # type: ignore[list-item]
        tool_choice="required",
        max_tokens=96,
    )
    choice = response.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]  # type: ignore[index]
    assert call.id.startswith("call_")
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    args = json.loads(call.function.arguments)  # type: ignore[union-attr]
    assert isinstance(args["city"], str)
    assert set(args) <= {"city", "unit"}
    assert response.usage is not None and response.usage.completion_tokens > 0


def test_openai_client_streaming_tool_call(embedded_url: str) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=f"{embedded_url}/v1", api_key="unused")
    stream = client.chat.completions.create(
        model="any",
        messages=[{"role": "user", "content": QUESTION}],
        tools=[WEATHER],  # type: ignore[list-item]
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        max_tokens=96,
        stream=True,
    )
    name, args, finish, ids = None, "", None, []
    for chunk in stream:
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        for tc in delta.tool_calls or []:
            if tc.id:
                ids.append(tc.id)
            if tc.function and tc.function.name:
                name = tc.function.name
            if tc.function and tc.function.arguments:
                args += tc.function.arguments
        finish = chunk.choices[0].finish_reason or finish
    assert name == "get_weather" and len(ids) == 1
    assert "city" in json.loads(args)
    assert finish == "tool_calls"


def test_langchain_bind_tools(embedded_url: str) -> None:
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(base_url=f"{embedded_url}/v1", api_key="unused", model="any", max_tokens=96,  # type: ignore[arg-type]
                     temperature=0)
    message = llm.bind_tools([WEATHER], tool_choice="get_weather").invoke(QUESTION)
    assert message.tool_calls, message
    call = message.tool_calls[0]
    assert call["name"] == "get_weather"
    assert isinstance(call["args"]["city"], str)


def test_langchain_streaming(embedded_url: str) -> None:
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(base_url=f"{embedded_url}/v1", api_key="unused", model="any", max_tokens=96,  # type: ignore[arg-type]
                     temperature=0, streaming=True)
    bound = llm.bind_tools([WEATHER], tool_choice="required")
    merged = None
    for chunk in bound.stream(QUESTION):
        merged = chunk if merged is None else merged + chunk
    assert merged is not None and merged.tool_calls  # type: ignore[attr-defined]
    assert merged.tool_calls[0]["name"] == "get_weather"  # type: ignore[attr-defined]


def test_llamaindex_openai_like(embedded_url: str) -> None:
    from llama_index.core.tools import FunctionTool
    from llama_index.llms.openai_like import OpenAILike

    def get_weather(city: str) -> str:
        """Get the current weather in a city."""
        return f"sunny in {city}"

    llm = OpenAILike(model="any", api_base=f"{embedded_url}/v1", api_key="unused", is_chat_model=True,
                     is_function_calling_model=True, max_tokens=96, temperature=0)
    tool = FunctionTool.from_defaults(fn=get_weather)
    response = llm.chat_with_tools([tool], user_msg=QUESTION, tool_required=True)
    calls = llm.get_tool_calls_from_response(response, error_on_no_tool_call=True)
    assert calls[0].tool_name == "get_weather"
    assert isinstance(calls[0].tool_kwargs.get("city"), str)


def test_readme_curl_example(embedded_url: str) -> None:
    """The curl command in README.md, run as written (with the test server's address)."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    match = re.search(r"```bash\n(curl [^`]*?/v1/chat/completions[^`]*?)```", readme)
    assert match, "README has no curl example"
    curl = shutil.which("curl")
    if curl is None:
        pytest.fail("curl not installed")
    command = match.group(1).replace("http://127.0.0.1:8080", embedded_url)
    out = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=120, check=True)
    body = json.loads(out.stdout)
    call = body["choices"][0]["message"]["tool_calls"][0]
    assert call["function"]["name"] == "get_weather"
    assert isinstance(json.loads(call["function"]["arguments"]), dict)


def test_llamaindex_streaming(embedded_url: str) -> None:
    from llama_index.core.tools import FunctionTool
    from llama_index.llms.openai_like import OpenAILike

    def get_weather(city: str) -> str:
        """Get the current weather in a city."""
        return f"sunny in {city}"

    llm = OpenAILike(model="any", api_base=f"{embedded_url}/v1", api_key="unused", is_chat_model=True,
                     is_function_calling_model=True, max_tokens=96, temperature=0)
    tool = FunctionTool.from_defaults(fn=get_weather)
    last = None
    pieces = 0
    for response in llm.stream_chat_with_tools([tool], user_msg=QUESTION, tool_required=True):
        last = response
        pieces += 1
    assert last is not None and pieces > 1  # arrived incrementally
    calls = llm.get_tool_calls_from_response(last, error_on_no_tool_call=True)
    assert calls[0].tool_name == "get_weather"
    assert isinstance(calls[0].tool_kwargs.get("city"), str)
